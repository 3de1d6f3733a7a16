"""The only importer of ``kubernetes_asyncio``: configuration, the REST transport, error mapping."""
