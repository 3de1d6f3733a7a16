"""Connection hygiene for every listener we run: a cap, per-source limits, and deadlines aiohttp lacks.

aiohttp closes idle keep-alive connections but has no deadline for the TLS handshake plus the request head,
no connection cap and no per-source limits, so idle or slow sockets (slow-loris) hold file handles for an
hour. ``Listener`` owns the listening socket of one aiohttp ``AppRunner`` and wraps every connection:

* **admission** (before TLS, at accept): at most ``max_connections`` at once, at most ``per_source`` from one
  address, and the last ``reserved`` places only for addresses that authenticated before (``promote``: the
  gateway's agents), so a flood from elsewhere cannot lock a known agent out. A refused socket is reset.
* **head deadline**: TLS (done here with ``loop.start_tls``, so the handshake is inside the deadline) and a
  complete request head within ``header_timeout`` of accept - and of the end of the previous response on a
  kept-alive connection - else the socket is reset. While a handler runs the deadline is off; handlers bound
  their own reads (``read_body``) and streams (websocket heartbeats).
* **per-source rate**: with ``rate`` set, a token bucket per address; beyond it, HTTP 429 before the
  handler runs (no work for a flood).

Promoted connections (an authenticated agent) leave the per-source count and the deadline for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

MAX_SOURCES = 4096  # addresses remembered for rates and for "authenticated before"
MAX_EARLY = 65536  # bytes kept from a client that spoke right after its TLS handshake, before we took over


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """Deadlines (seconds) and caps of one listener."""

    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    body_timeout: float = 30.0
    max_connections: int = 256
    per_source: int = 64
    reserved: int = 16
    rate: float = 0.0  # requests per second per source once ``burst`` is spent; 0: unlimited
    burst: int = 1


class Listener:
    """One listening socket with admitted, deadlined connections; aiohttp serves what gets through."""

    def __init__(
        self,
        limits: ListenerLimits,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._ssl = ssl_context
        self._clock = clock
        self._server: asyncio.AbstractServer | None = None
        self._per_source: dict[str, int] = {}
        self._known: OrderedDict[str, None] = OrderedDict()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._by_transport: dict[Any, _Connection] = {}
        self.open = 0  # connections now
        self.refused = 0  # connections reset at accept so far
        self.expired = 0  # connections reset by the head deadline so far

    async def start(self, runner: web.BaseRunner, host: str, port: int) -> int:
        """Listen for ``runner``'s server; returns the bound port."""
        server = runner.server
        if server is None:
            raise RuntimeError("call runner.setup() first")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self, server), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(
        self, app: web.Application, host: str, port: int, bound: Callable[[int], None]
    ) -> NoReturn:
        """Serve ``app`` (built with ``middleware``) until cancelled; ``bound(port)`` once listening."""
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=self.limits.idle_timeout
        )
        await runner.setup()
        try:
            bound(await self.start(runner, host, port))
            await asyncio.Event().wait()  # until cancelled
            raise AssertionError("unreachable")
        finally:
            await self.stop()
            await runner.cleanup()

    async def stop(self) -> None:
        """Stop accepting; open connections are the runner's to close."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def promote(self, transport: Any) -> None:
        """The connection authenticated: remember its address, lift its deadline and per-source count."""
        conn = self._by_transport.get(transport)
        if conn is not None and not conn.promoted:
            conn.promoted = True
            conn.disarm()
            self._release_source(conn.source)
            self._known[conn.source] = None
            self._known.move_to_end(conn.source)
            while len(self._known) > MAX_SOURCES:
                self._known.popitem(last=False)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Rate per source, and the head deadline off while the handler runs (aiohttp middleware)."""
        conn = self._by_transport.get(request.transport)
        if conn is not None and not self._take_token(conn.source):
            return web.json_response(
                {"success": False, "message": "too many requests from this address; retry later"},
                status=429,
                headers={"Retry-After": "1"},
            )
        if conn is None:
            return await handler(request)
        conn.disarm()
        try:
            return await handler(request)
        finally:
            if not conn.promoted:
                conn.arm(self.limits.idle_timeout + self.limits.header_timeout)

    async def read_body(self, request: web.Request) -> bytes:
        """The request body within ``body_timeout`` (``TimeoutError`` beyond)."""
        async with asyncio.timeout(self.limits.body_timeout):
            return await request.read()

    # ---- admission ---------------------------------------------------------------------------------------
    def _admit(self, source: str) -> bool:
        limits = self.limits
        ok = (
            self._per_source.get(source, 0) < limits.per_source
            and self.open < limits.max_connections
            and (self.open < limits.max_connections - limits.reserved or source in self._known)
        )
        if ok:
            self.open += 1
            self._per_source[source] = self._per_source.get(source, 0) + 1
        else:
            self.refused += 1
        return ok

    def _release_source(self, source: str) -> None:
        left = self._per_source.get(source, 0) - 1
        if left > 0:
            self._per_source[source] = left
        else:
            self._per_source.pop(source, None)

    def _closed(self, conn: _Connection) -> None:
        self.open -= 1
        if not conn.promoted:
            self._release_source(conn.source)
        if conn.transport is not None:
            self._by_transport.pop(conn.transport, None)

    def _take_token(self, source: str) -> bool:
        if self.limits.rate <= 0:
            return True
        now = self._clock()
        tokens, last = self._buckets.get(source, (float(self.limits.burst), now))
        tokens = min(float(self.limits.burst), tokens + (now - last) * self.limits.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(source)
        while len(self._buckets) > MAX_SOURCES:
            self._buckets.popitem(last=False)
        return allowed


class _Connection(asyncio.Protocol):
    """Admission and deadline around aiohttp's protocol for one connection (TLS started here)."""

    def __init__(self, listener: Listener, factory: Callable[[], asyncio.Protocol]) -> None:
        self._listener = listener
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._raw: asyncio.BaseTransport | None = None
        self._handshake: asyncio.Task[None] | None = None
        self._done = False
        self._early: list[bytes] = []  # decrypted bytes that arrived before start_tls returned
        self.transport: Any = None
        self.source = ""
        self.promoted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.source = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self._raw = transport
        if not self._listener._admit(self.source):  # noqa: SLF001 - the listener's own helper
            self._done = True
            _abort(transport)
            return
        self.arm(self._listener.limits.header_timeout)
        ctx = self._listener._ssl  # noqa: SLF001
        if ctx is None:
            self._start(transport)
        else:
            self._handshake = asyncio.get_running_loop().create_task(self._tls(transport, ctx))

    async def _tls(self, raw: asyncio.BaseTransport, ctx: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._listener.limits.header_timeout
        try:
            tls = await loop.start_tls(raw, self, ctx, server_side=True, ssl_handshake_timeout=timeout)  # type: ignore[arg-type]
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError):
            _abort(raw)
            self._finish()
            return
        if tls is None:
            self._finish()
            return
        self._start(tls)

    def _start(self, transport: Any) -> None:
        self.transport = transport
        self._listener._by_transport[transport] = self  # noqa: SLF001
        self._inner = self._factory()
        self._inner.connection_made(transport)
        early, self._early = self._early, []
        for data in early:
            self._inner.data_received(data)

    def arm(self, seconds: float) -> None:
        self.disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._listener.expired += 1
        _abort(self.transport if self.transport is not None else self._raw)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
        elif not self._done and sum(map(len, self._early)) < MAX_EARLY:
            self._early.append(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        inner, self._inner = self._inner, None
        self._finish()
        if inner is not None:
            inner.connection_lost(exc)

    def _finish(self) -> None:
        self.disarm()
        if not self._done:
            self._done = True
            self._listener._closed(self)  # noqa: SLF001


def _abort(transport: asyncio.BaseTransport | None) -> None:
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()  # type: ignore[attr-defined]
