"""The agent: dials the gateway (outbound only), serves its requests and watches, and never gives up.

``Agent.run`` loops forever: connect, serve until the connection ends, wait a jittered exponential backoff
(``runtime.backoff``: 200 ms doubling to 5 s, each delay drawn from [50 %, 100 %] of the step so a fleet
of agents does not reconnect in lockstep), connect again. The backoff resets once the gateway has said
``hello`` - i.e. after TLS *and* the identity check passed - so a gateway restart costs ~200 ms, while a
refused certificate settles at one attempt every few seconds.

A connection (``_Connection``): TLS with the pinned gateway CA (``tls.agent_context``; given a factory,
the context is rebuilt for every attempt, so rotated certificate files are picked up), subprotocol
``choreo.relay.v2`` (or ``v1`` with an older gateway), ``hello`` both ways within ``dead_after``. Then one
reader loop; each request, watch and log stream runs in its own task (at most ``max_requests`` apiserver
calls at once, at most ``max_pending`` queued - beyond that a 429 - at most ``max_watches`` watches and
``max_logs`` log streams, each sending only what the gateway granted: ``logstreams.Credit``), so a slow
call never blocks the connection. A ``ping`` goes out every ``heartbeat`` seconds (5); ``dead_after``
seconds (12) without any frame from the gateway is a dead peer. When a connection ends, its tasks are
cancelled: the gateway has already failed those requests (and log streams), and it re-issues open watches
from their last resourceVersion (``RelayTransport``), so the agent keeps no state across connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from choreo_controller.relay import protocol
from choreo_controller.relay.executor import JSON, status_body
from choreo_controller.relay.logstreams import Credit
from choreo_controller.relay.sender import FrameSender
from choreo_controller.runtime.backoff import Backoff
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Coroutine

    from choreo_controller.metrics import Metrics
    from choreo_controller.relay.executor import Executor

log = structlog.get_logger("choreo.relay.agent")
YIELD_EVERY = 8  # frames read back to back before the reader lets other tasks run


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Where to dial and how to behave."""

    url: str
    name: str = "agent"
    server_hostname: str | None = None
    heartbeat: float = 5.0
    dead_after: float = 12.0
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    max_requests: int = 64
    max_pending: int = 1024
    max_watches: int = 256
    max_logs: int = 64


class Agent:
    """Keeps one connection to the gateway alive and serves it."""

    def __init__(
        self,
        config: AgentConfig,
        ssl_context: ssl.SSLContext | Callable[[], ssl.SSLContext],
        executor: Executor,
        *,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._ssl = ssl_context
        self._executor = executor
        self._metrics = metrics
        jitter = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._backoff = Backoff(initial=config.backoff_initial, cap=config.backoff_max, rng=jitter)
        self.connected = asyncio.Event()
        self.plane_id = ""
        self.connections = 0  # sessions established so far

    async def run(self) -> None:
        """Connect, serve, back off, repeat - until cancelled."""
        while True:
            reason = await self._connect_once()
            delay = self._backoff.next()
            log.info("relay connection ended", reason=reason, retry_in=round(delay, 3))
            await asyncio.sleep(delay)

    async def _connect_once(self) -> str:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.dead_after)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with asyncio.timeout(self.config.dead_after):
                    ssl_context = self._ssl() if callable(self._ssl) else self._ssl
                    ws = await http.ws_connect(
                        self.config.url,
                        ssl=ssl_context,
                        server_hostname=self.config.server_hostname,
                        protocols=protocol.SUBPROTOCOLS,
                        max_msg_size=protocol.MAX_FRAME + 1024,
                        timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                        autoping=True,
                    )
                    plane = await self._hello(ws)
                async with ws:
                    return await self._established(ws, plane)
        except aiohttp.WSServerHandshakeError as exc:
            return f"gateway refused the connection: HTTP {exc.status}"
        except (aiohttp.ClientError, OSError, TimeoutError, protocol.ProtocolError) as exc:
            return f"{type(exc).__name__}: {str(exc)[:200]}"

    async def _hello(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        if ws.protocol not in protocol.VERSION_OF:
            await ws.close()
            raise protocol.ProtocolError("gateway accepted none of " + ", ".join(protocol.SUBPROTOCOLS))
        await ws.send_str(protocol.encode(protocol.Hello(self.config.name)))
        msg = await ws.receive()
        hello = protocol.decode(msg.data) if msg.type == aiohttp.WSMsgType.TEXT else None
        if not isinstance(hello, protocol.Hello):
            await ws.close()
            raise protocol.ProtocolError(f"expected hello from the gateway, got {msg.type.name}")
        return hello.name

    async def _established(self, ws: aiohttp.ClientWebSocketResponse, plane: str) -> str:
        self._backoff.reset()
        self.plane_id = plane
        self.connections += 1
        if self._metrics is not None:
            self._metrics.relay_connections.labels(plane).set(1)
            if self.connections > 1:
                self._metrics.relay_reconnects.labels(plane).inc()
        log.info("relay connected", plane=plane, gateway=self.config.url)
        self.connected.set()
        try:
            return await _Connection(ws, self._executor, self.config).serve()
        finally:
            self.connected.clear()
            if self._metrics is not None:
                self._metrics.relay_connections.labels(plane).set(0)


class _Connection:
    """One established websocket: reader loop, heartbeat, a task per request or watch."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, executor: Executor, config: AgentConfig) -> None:
        self._ws = ws
        self._frames = FrameSender(ws.send_str)  # many tasks send: requests, watches, logs, heartbeat
        self._executor = executor
        self._config = config
        self._slots = asyncio.Semaphore(config.max_requests)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watches: set[str] = set()
        self._logs: dict[str, Credit] = {}

    async def serve(self) -> str:
        heartbeat = asyncio.create_task(self._heartbeat(), name="relay-agent-heartbeat")
        try:
            return await self._read()
        finally:
            heartbeat.cancel()
            tasks = [heartbeat, *self._tasks.values()]
            await cancel_and_wait(*tasks)

    async def _read(self) -> str:
        count = 0
        while True:
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # buffered frames are read without suspending; let the tasks run
            try:
                msg = await self._ws.receive(timeout=self._config.dead_after)
            except TimeoutError:
                return f"no frame for {self._config.dead_after:.0f}s (dead peer)"
            if msg.type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED}:
                return f"closed by gateway ({self._ws.close_code})"
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"unexpected {msg.type.name} frame"
            try:
                self._dispatch(protocol.decode(msg.data))
            except protocol.ProtocolError as exc:
                log.warning("bad frame from gateway", error=str(exc)[:200])
                self._refuse(exc)

    def _dispatch(self, msg: protocol.Message) -> None:
        if isinstance(msg, protocol.Request | protocol.WatchStart):
            if msg.id in self._tasks:
                log.warning("duplicate message id ignored", id=msg.id)
                return
            if isinstance(msg, protocol.Request):
                if len(self._tasks) - len(self._watches) >= self._config.max_pending:
                    self._spawn(msg.id, self._send(_refusal(msg.id, 429, "TooManyRequests", "agent is busy")))
                    return
                self._spawn(msg.id, self._serve_request(msg))
            elif len(self._watches) >= self._config.max_watches:
                self._spawn(msg.id, self._send(protocol.WatchEnd(msg.id, 429, b"")))
            else:
                self._watches.add(msg.id)
                self._spawn(msg.id, self._executor.watch(msg, self._send))
        elif isinstance(msg, protocol.WatchCancel):
            task = self._tasks.get(msg.id)
            if task is not None and msg.id in self._watches:
                task.cancel()
        elif isinstance(msg, protocol.LogStart | protocol.LogCredit | protocol.LogCancel):
            self._log_message(msg)
        elif not isinstance(msg, protocol.Ping | protocol.Hello):
            log.warning("unexpected message from gateway", type=type(msg).__name__)

    def _log_message(self, msg: protocol.LogStart | protocol.LogCredit | protocol.LogCancel) -> None:
        credit = self._logs.get(msg.id)
        if isinstance(msg, protocol.LogCredit):
            if credit is not None:
                credit.grant(msg.bytes)
        elif isinstance(msg, protocol.LogCancel):
            task = self._tasks.get(msg.id)
            if task is not None and credit is not None:
                task.cancel()
        elif msg.id in self._tasks:
            log.warning("duplicate message id ignored", id=msg.id)
        elif len(self._logs) >= self._config.max_logs:
            self._spawn(msg.id, self._send(protocol.LogEnd(msg.id, 429, b"")))
        else:
            self._logs[msg.id] = Credit(msg.credit)
            self._spawn(msg.id, self._executor.log(msg, self._send, self._logs[msg.id]))

    def _refuse(self, exc: protocol.ProtocolError) -> None:
        if exc.message_id is None or exc.message_id in self._tasks:
            return
        body = status_body(400, "BadRequest", f"relay protocol: {exc}"[:500])
        if exc.kind == "request":
            self._spawn(exc.message_id, self._send(protocol.Response(exc.message_id, 400, JSON, body)))
        elif exc.kind == "watch_start":
            self._spawn(exc.message_id, self._send(protocol.WatchEnd(exc.message_id, 400, body)))
        elif exc.kind == "log_start":
            self._spawn(exc.message_id, self._send(protocol.LogEnd(exc.message_id, 400, body)))

    def _spawn(self, message_id: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"relay-agent-{message_id}")
        self._tasks[message_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(message_id, None)
            self._watches.discard(message_id)
            self._logs.pop(message_id, None)

        task.add_done_callback(done)

    async def _serve_request(self, msg: protocol.Request) -> None:
        async with self._slots:
            resp = await self._executor.request(msg)
        await self._send(resp)

    async def _send(self, msg: protocol.Message) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._frames.send(protocol.encode(msg))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat)
            await self._send(protocol.Ping())


def _refusal(message_id: str, code: int, reason: str, message: str) -> protocol.Response:
    return protocol.Response(message_id, code, JSON, status_body(code, reason, f"relay agent: {message}"))
