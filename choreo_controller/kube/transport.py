"""``contracts.Transport`` over the aiohttp connector of ``kubernetes_asyncio``'s ``RESTClientObject``.

We reuse the library only for what it does well - reading kubeconfig credentials into an SSL context
(client certificates, CA) and keeping a bearer token fresh (``Configuration.auth_settings`` runs the
in-cluster refresh hook) - and send the HTTP ourselves, with its SSL context and pool limit but on a
connector (``NewestFirstConnector``) and in a session of our own with ``trust_env=False``: the library's
session trusts the environment, which costs
every request two thread-pool hops (``.netrc``, proxy variables), which more than doubled our CPU per
request (``docs/performance.md``, Profile). Proxy settings come from the ``Configuration`` or, when it has
none, from the environment read once at connect (``env_proxy``), so ``HTTPS_PROXY``/``NO_PROXY`` still apply.

The generated API methods guess content types (json-patch for a dict body, see notes/python-stack.md
section 2.3) and deserialise into models we do not want; raw bytes in, raw bytes out keeps ``KubeClient``
identical over this transport and the relay's.

Invariants:

* ``request`` returns an ``ApiResponse`` for every HTTP status; only an unreachable server (connection
  refused or reset, TLS failure, timeout) raises, and then always ``Unavailable``.
* ``stream`` yields one line at a time (a watch's events, a log's lines, empty ones too) and closes the
  HTTP response when the consumer stops early (``aclose`` or garbage collection), so an abandoned watch
  never holds a connection.
* Idle connections are closed after aiohttp's keep-alive timeout, including under steady traffic: the
  connection released last is reused first (``NewestFirstConnector``), so the pool shrinks back to what
  the traffic needs after a busy moment.
* Redirects are not followed: a 3xx would otherwise carry the bearer token to another host.
* The optional ``TokenBucket`` throttles every call. ``unthrottled()`` gives a sibling transport on the
  same connections without it, for leader election, whose renewals must never queue behind reconciles;
  ``with_limiter(bucket)`` one with a budget of its own (the auto-build receiver: webhook deliveries must
  never spend the reconcilers' budget).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from choreo_controller.contracts import ApiResponse, Unavailable
from choreo_controller.kube.errors import raise_for_status

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from choreo_controller.contracts import ApiRequest

USER_AGENT = "choreo-controller/0.1"
MAX_LINE = 16 * 1024 * 1024  # a watch line holds one object; etcd caps objects at 1.5 MiB
READ_BUFSIZE = 2**21  # as kubernetes_asyncio sets it: watch lines of large objects exceed aiohttp's default


def env_proxy(host: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``host`` (``HTTPS_PROXY``, ``NO_PROXY``, ``.netrc``); blocking."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(host))
    except LookupError:
        return None, None
    return str(proxy), auth


class TokenBucket:
    """client-go's token bucket (``flowcontrol.NewTokenBucketRateLimiter``): ``qps``/s, ``burst`` deep.

    A call reserves a token immediately and then sleeps off any deficit, like ``x/time/rate``'s ``Wait``:
    the count may go negative, so concurrent callers are served in arrival order without a lock.
    """

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self.qps = qps
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it."""
        now = self._monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    async def wait(self) -> None:
        """Take one token, sleeping until it is due."""
        delay = self.reserve()
        if delay > 0:
            await self._sleep(delay)


class ApiClientTransport:
    """One apiserver, reached with a ``RESTClientObject``'s connector and ``Configuration``'s credentials."""

    def __init__(  # noqa: PLR0913 - connection, credentials, then keyword-only tuning
        self,
        rest_client: Any,
        config: Any,
        *,
        limiter: TokenBucket | None = None,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        owns_client: bool = True,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        session: aiohttp.ClientSession | None = None,
        compression: bool = True,
    ) -> None:
        """``proxy`` defaults to the Configuration's; a given ``session`` (a sibling's) is not closed here.

        ``compression=False`` asks the apiserver for uncompressed responses (client-go's
        ``DisableCompression``): it gzips every response over 128 KiB - each page of a large LIST - and we
        inflate it, CPU on both sides that a local network does not pay back.
        """
        self._rest_client = rest_client
        self._config = config
        self._owns_session = session is None
        self._session = session if session is not None else _session_without_env(rest_client)
        self._proxy = proxy if proxy is not None else self._config.proxy
        self._proxy_auth = proxy_auth
        self._limiter = limiter
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._owns_client = owns_client
        self._compression = compression

    @property
    def host(self) -> str:
        """The apiserver base URL."""
        return str(self._config.host)

    def unthrottled(self) -> ApiClientTransport:
        """A transport on the same connections that skips the rate limiter; closing it closes nothing."""
        return self.with_limiter(None)

    def with_limiter(self, limiter: TokenBucket | None) -> ApiClientTransport:
        """A transport on the same connections with its own rate limiter; closing it closes nothing."""
        return ApiClientTransport(
            self._rest_client,
            self._config,
            limiter=limiter,
            request_timeout=self._request_timeout,
            connect_timeout=self._connect_timeout,
            owns_client=False,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
            session=self._session,
            compression=self._compression,
        )

    async def request(self, req: ApiRequest) -> ApiResponse:
        """Perform one exchange; any HTTP status is returned, an unreachable server is ``Unavailable``."""
        timeout = aiohttp.ClientTimeout(
            total=req.timeout or self._request_timeout, sock_connect=self._connect_timeout
        )
        try:
            async with await self._send(req, timeout) as resp:
                body = await resp.read()
                return ApiResponse(resp.status, body, dict(resp.headers))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(req, exc) from exc

    async def stream(self, req: ApiRequest) -> AsyncIterator[bytes]:
        """Open a streaming GET and yield its lines (without the newline), empty ones included."""
        timeout = aiohttp.ClientTimeout(total=req.timeout, sock_connect=self._connect_timeout)
        try:
            resp = await self._send(req, timeout)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(req, exc) from exc
        ended = False
        try:
            if not 200 <= resp.status <= 299:
                raise_for_status(ApiResponse(resp.status, await resp.read(), dict(resp.headers)))
            pending = b""
            async for chunk in resp.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_LINE:
                    raise Unavailable(f"{req.method} {req.path}: watch line over {MAX_LINE} bytes")
                for line in lines:
                    yield line  # empty ones too: a log's blank lines are lines (a watch skips them)
            ended = True
            if pending:
                yield pending
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unavailable(req, exc) from exc
        finally:
            _close_stream(resp, ended=ended)

    async def close(self) -> None:
        """Close our session (which owns our connector) and the REST client's, unless a sibling."""
        if self._owns_session:
            await self._session.close()
        if self._owns_client:
            await self._rest_client.close()

    async def _send(self, req: ApiRequest, limits: aiohttp.ClientTimeout) -> aiohttp.ClientResponse:
        if self._limiter is not None:
            await self._limiter.wait()
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if not self._compression:
            headers["Accept-Encoding"] = "identity"  # else aiohttp's default: gzip, deflate
        if req.content_type:
            headers["Content-Type"] = req.content_type
        # auth_settings() runs the configuration's refresh hook (in-cluster token rotation) first.
        auth = (await self._config.auth_settings()).get("BearerToken")
        if auth and auth.get("value"):
            headers["Authorization"] = auth["value"]
        url = self.host + req.path + ("?" + urlencode(req.query) if req.query else "")
        return await self._session.request(
            req.method,
            URL(url, encoded=True),
            data=req.body,
            headers=headers,
            timeout=limits,
            allow_redirects=False,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
            proxy_headers=self._config.proxy_headers,
            server_hostname=self._config.tls_server_name,
        )


class NewestFirstConnector(aiohttp.TCPConnector):
    """Reuse the idle connection released last, as Go's ``http.Transport`` does.

    aiohttp (since 3.11) reuses the oldest idle connection first: under steady traffic every pooled
    connection takes its turn, none stays idle for the keep-alive timeout, and the pool keeps the size of
    its busiest moment for good - each TLS connection with asyncio's read buffer (``docs/performance.md``,
    Soak). Reusing the newest leaves the surplus idle, and the connector's cleanup closes it.
    """

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        idle = self._conns.get(key)
        if idle and idle[-1][0] is protocol:  # released to the pool, not closed
            idle.rotate(1)  # first in line for the next request


def _session_without_env(rest_client: Any) -> aiohttp.ClientSession:
    """A session with the REST client's SSL context and pool limit that never consults the environment."""
    library_connector = rest_client.pool_manager.connector
    connector = NewestFirstConnector(
        limit=library_connector.limit,
        ssl=library_connector._ssl,  # noqa: SLF001 - the SSL context the library built from the kubeconfig
    )
    return aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=READ_BUFSIZE)


def _close_stream(resp: aiohttp.ClientResponse, *, ended: bool) -> None:
    """Close, not release: an unfinished stream must not go back to the pool.

    And abort it: closing a TLS connection waits for the server's goodbye in the background, and a loop that
    ends first (a CLI's, a test's) leaves the socket behind.
    """
    connection = resp.connection
    if not ended and connection is not None and connection.protocol is not None:
        connection.protocol.abort()
    resp.close()


def _unavailable(req: ApiRequest, exc: BaseException) -> Unavailable:
    detail = str(exc)[:200] or type(exc).__name__
    return Unavailable(f"{req.method} {req.path}: {type(exc).__name__}: {detail}")
