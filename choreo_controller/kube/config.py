"""Credentials and the connection: kubeconfig or in-cluster service account -> ``KubeClient``.

Invariants:

* The process-wide default ``Configuration`` of ``kubernetes_asyncio`` is never touched: every loader
  call gets its own ``client_configuration``, so the control plane and several build planes can be
  connected side by side in one process (and in one test session).
* The kubeconfig file is never rewritten (``persist_config=False``).
* Tokens stay fresh without a background task: in-cluster, the library's refresh hook re-reads the
  projected token; for an exec plugin with an expiry, our hook re-runs the plugin once it has expired.
  ``Configuration.auth_settings`` runs the hook before each request.
* Which credentials are used follows controller-runtime's ``GetConfig``: an explicit path, then
  ``$KUBECONFIG``, then the in-cluster service account, then ``~/.kube/config``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from choreo_controller.kube.client import KubeClient
from choreo_controller.kube.library import (
    Configuration,
    RESTClientObject,
    load_incluster_config,
    load_kube_config,
)
from choreo_controller.kube.transport import ApiClientTransport, TokenBucket, env_proxy

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping
    from types import TracebackType

DEFAULT_KUBECONFIG = "~/.kube/config"
Source = tuple[Literal["kubeconfig"], str] | tuple[Literal["in-cluster"], None]


def resolve_source(kubeconfig: str | Path | None, environ: Mapping[str, str] = os.environ) -> Source:
    """Where credentials come from, in controller-runtime's order."""
    if kubeconfig is not None and str(kubeconfig):
        return ("kubeconfig", str(kubeconfig))
    if environ.get("KUBECONFIG"):
        return ("kubeconfig", environ["KUBECONFIG"])
    if environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT"):
        return ("in-cluster", None)
    return ("kubeconfig", str(Path(DEFAULT_KUBECONFIG).expanduser()))


async def load_configuration(kubeconfig: str | Path | None, context: str | None = None) -> Any:
    """A fresh ``kubernetes_asyncio`` ``Configuration`` for the resolved credentials."""
    cfg = Configuration()
    kind, path = resolve_source(kubeconfig)
    if kind == "in-cluster":
        load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=cfg, try_refresh_token=True
        )
        return cfg
    loader = await load_kube_config(
        config_file=path, context=context, client_configuration=cfg, persist_config=False
    )
    if hasattr(loader, "exec_plugin_expiry"):
        cfg.refresh_api_key_hook = _exec_refresher(loader)
    return cfg


def _exec_refresher(loader: Any) -> Any:
    async def refresh(cfg: Any) -> None:
        # load_from_exec_plugin returns at once while the cached credential is unexpired.
        await loader.load_from_exec_plugin()
        cfg.api_key["BearerToken"] = loader.token

    return refresh


async def open_client(
    kubeconfig: str | Path | None,
    context: str | None = None,
    *,
    qps: float | None = None,
    burst: int | None = None,
    request_timeout: float = 30.0,
    pool_size: int | None = None,
    compression: bool = True,
) -> KubeClient[ApiClientTransport]:
    """A connected client; the caller closes it. ``qps`` enables the client-side rate limiter.

    ``pool_size``: connections at most (the library's default is 100); a caller holding many watches open
    needs room for them *and* its requests, or a plain GET waits for a watch to end. ``compression=False``:
    uncompressed responses (``ApiClientTransport``), for a client next to its apiserver.
    """
    cfg = await load_configuration(kubeconfig, context)
    if pool_size is not None:
        cfg.connection_pool_maxsize = pool_size
    limiter = None
    if qps is not None:
        limiter = TokenBucket(qps, burst if burst is not None else max(1, int(qps * 2)))
    proxy, proxy_auth = cfg.proxy, None
    if not proxy:  # read the environment once, here, not on every request (see kube.transport)
        proxy, proxy_auth = await asyncio.to_thread(env_proxy, cfg.host)
    transport = ApiClientTransport(
        RESTClientObject(cfg),
        cfg,
        limiter=limiter,
        request_timeout=request_timeout,
        proxy=proxy,
        proxy_auth=proxy_auth,
        compression=compression,
    )
    return KubeClient(transport)


class Connecting:
    """What ``connect`` returns: ``await`` it for a client you close, or ``async with`` it."""

    def __init__(self, kubeconfig: str | Path | None, context: str | None, options: dict[str, Any]) -> None:
        self._args = (kubeconfig, context)
        self._options = options
        self._client: KubeClient[ApiClientTransport] | None = None

    def __await__(self) -> Generator[Any, None, KubeClient[ApiClientTransport]]:
        return open_client(*self._args, **self._options).__await__()

    async def __aenter__(self) -> KubeClient[ApiClientTransport]:
        self._client = await open_client(*self._args, **self._options)
        return self._client

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def connect(
    kubeconfig: str | Path | None,
    context: str | None = None,
    *,
    qps: float | None = None,
    burst: int | None = None,
    request_timeout: float = 30.0,
    pool_size: int | None = None,
    compression: bool = True,
) -> Connecting:
    """A connection to one apiserver, to be used with ``async with`` (closed for you) or ``await``.

    ``async with connect(path) as api: ...`` or ``api = await connect(path)`` then ``await api.close()``.

    ``kubeconfig=None`` resolves as controller-runtime does (``$KUBECONFIG``, in-cluster, ``~/.kube/config``).
    Leader election should use ``KubeClient(api.transport.unthrottled())`` so lease renewals bypass ``qps``.
    """
    options = {
        "qps": qps,
        "burst": burst,
        "request_timeout": request_timeout,
        "pool_size": pool_size,
        "compression": compression,
    }
    return Connecting(kubeconfig, context, options)
