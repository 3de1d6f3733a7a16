"""One reconciler per kind: ``async def reconcile(self, key) -> Result``, level-based, on narrow ports."""
