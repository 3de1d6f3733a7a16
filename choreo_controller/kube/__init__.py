"""The only importer of ``kubernetes_asyncio``: configuration, the REST transport, error mapping.

* ``config``    - kubeconfig / in-cluster credentials -> ``connect()`` -> ``KubeClient``;
* ``transport`` - ``contracts.Transport`` over the library's aiohttp connector, optional token bucket;
* ``library``   - the parts of ``kubernetes_asyncio`` we use, without its generated client;
* ``client``    - ``KubeClient``: the ``contracts.KubeApi`` verbs over any transport (the relay reuses it);
* ``errors``    - ``raise_for_status`` / ``error_for``: HTTP status -> ``contracts`` error, once.

``connect`` is loaded on first use (``kube.library``: only the credential and connection parts of
``kubernetes_asyncio``), so code that only needs ``KubeClient`` over another transport (the relay) pays
for none of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from choreo_controller.kube.client import KubeClient
from choreo_controller.kube.errors import error_for, raise_for_status
from choreo_controller.kube.transport import ApiClientTransport, TokenBucket

if TYPE_CHECKING:
    from choreo_controller.kube.config import connect

__all__ = ["ApiClientTransport", "KubeClient", "TokenBucket", "connect", "error_for", "raise_for_status"]


def __getattr__(name: str) -> Any:
    if name == "connect":
        from choreo_controller.kube.config import connect as loaded  # noqa: PLC0415 - deferred on purpose

        return loaded
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
