"""One agent connection as the gateway sees it: requests in flight and open watches, by id.

The gateway's reader loop hands every frame from the agent to ``dispatch``; callers (``RelayTransport``)
use ``request`` and ``watch``. Ids are ``<session>.<n>``, unique for the life of the process.

Invariants:

* Every ``request`` ends: with the agent's ``Response``, with ``Unavailable`` when its timeout passes, or
  with ``Unavailable`` the moment the connection is shut down (in-flight requests fail fast and retryable;
  nothing is retried here, because a write may or may not have happened - the reconcile decides).
* Every ``WatchChannel`` ends: with the agent's ``WatchEnd``, or with ``INTERRUPTED`` when the connection
  is shut down or the consumer falls more than ``WATCH_BUFFER`` events or ``WATCH_BUFFER_BYTES`` bytes
  behind (the agent is told to stop; the transport resumes from the last resourceVersion it delivered, so
  a slow consumer - or an agent flooding huge events - costs a re-watch, never unbounded memory).
* Back-pressure: all watches of one session buffer at most ``SESSION_BUFFER_BYTES`` before the gateway's
  reader stops reading the websocket (``relieve``) - the agent's sends then block in TCP - for at most a
  heartbeat; if the consumers have not drained by then, the fullest watch is interrupted.
* Every ``LogChannel`` (protocol version 2) ends: with the agent's ``LogEnd``, or ``STOPPED`` when the
  connection is shut down or the consumer cancels; it holds at most its credit window (``logstreams``). A
  session on version 1 has no logs: asking is a 501 naming the agent's version.
* A frame for an id nobody waits for (a late response after a timeout) is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from typing import TYPE_CHECKING, Final

import structlog

from choreo_controller.contracts import BadRequest, ServerError, Unavailable
from choreo_controller.relay import protocol
from choreo_controller.relay.logstreams import LogChannel
from choreo_controller.relay.protocol import (
    LogCancel,
    LogCredit,
    LogData,
    LogEnd,
    Response,
    WatchBookmark,
    WatchCancel,
    WatchEnd,
    WatchEvent,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from typing import Any

    from choreo_controller.relay.identity import AgentIdentity

log = structlog.get_logger("choreo.relay.session")
WATCH_BUFFER = 10_000
WATCH_BUFFER_BYTES = 16 * 1024 * 1024
SESSION_BUFFER_BYTES = 64 * 1024 * 1024


class _Interrupted:
    def __repr__(self) -> str:
        return "INTERRUPTED"


INTERRUPTED: Final = _Interrupted()
WatchItem = WatchEvent | WatchBookmark | WatchEnd | _Interrupted


class WatchChannel:
    """The consumer's end of one watch: ``await next()`` until a ``WatchEnd`` or ``INTERRUPTED``."""

    def __init__(self, watch_id: str, on_drain: Callable[[], None] | None = None) -> None:
        self.id = watch_id
        self._queue: asyncio.Queue[WatchItem] = asyncio.Queue()
        self._on_drain = on_drain
        self.done = False
        self.bytes = 0  # event bytes queued and not yet taken

    def put(self, item: WatchItem) -> bool:
        """Queue an item; False (and the channel is interrupted) if the consumer is too far behind."""
        if self.done:
            return True
        size = _size(item)
        if self._queue.qsize() >= WATCH_BUFFER or self.bytes + size > WATCH_BUFFER_BYTES:
            self.finish(INTERRUPTED)
            return False
        self._queue.put_nowait(item)
        self.bytes += size
        if isinstance(item, WatchEnd):
            self.done = True
        return True

    def finish(self, item: WatchEnd | _Interrupted) -> None:
        """End the channel (idempotent)."""
        if not self.done:
            self.done = True
            self._queue.put_nowait(item)

    async def next(self) -> WatchItem:
        """The next item."""
        item = await self._queue.get()
        self.bytes -= _size(item)
        if self._on_drain is not None:
            self._on_drain()
        return item


def _size(item: WatchItem) -> int:
    return len(item.data) if isinstance(item, WatchEvent) else 0


class AgentSession:
    """The gateway's end of one authenticated agent websocket."""

    def __init__(
        self,
        identity: AgentIdentity,
        agent_name: str,
        send: Callable[[str], Awaitable[None]],
        *,
        session_id: str | None = None,
        version: int = protocol.VERSION,
    ) -> None:
        self.id = session_id or secrets.token_hex(4)
        self.identity = identity
        self.agent_name = agent_name
        self.version = version  # negotiated at the upgrade (the subprotocol)
        self._send = send
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Response]] = {}
        self._watches: dict[str, WatchChannel] = {}
        self._logs: dict[str, LogChannel] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._drained = asyncio.Event()
        self.closed = False
        self.close_reason = ""
        self.connected_at = time.time()
        self.last_seen = self.connected_at

    @property
    def plane_id(self) -> str:
        """The plane this agent serves."""
        return self.identity.plane_id

    def next_id(self) -> str:
        """A fresh message id."""
        return f"{self.id}.{next(self._ids)}"

    async def request(self, msg: protocol.Request, within: float) -> Response:
        """Send ``msg`` and wait for its response; ``Unavailable`` on timeout or disconnect."""
        if self.closed:
            raise Unavailable(f"relay: agent connection to plane {self.plane_id} is closed")
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[msg.id] = future
        try:
            await self.send(msg)
            # Not ``wait_for``: on Python 3.11 it returns the response when a cancel lands as the response
            # arrives, and the cancelled reconcile would go on (a leader that lost its Lease, writing).
            async with asyncio.timeout(within):
                return await future
        except TimeoutError:
            raise Unavailable(f"relay: {msg.method} {msg.path}: no response within {within:.0f}s") from None
        finally:
            self._pending.pop(msg.id, None)

    @property
    def buffered(self) -> int:
        """Event bytes queued in this session's watches, not yet taken by their consumers."""
        return sum(channel.bytes for channel in self._watches.values())

    async def relieve(self, within: float) -> None:
        """Back-pressure: until the watches drain to half the budget, else interrupt the fullest."""
        if self.buffered <= SESSION_BUFFER_BYTES:
            return
        self._drained.clear()
        try:
            async with asyncio.timeout(within):
                await self._drained.wait()
        except TimeoutError:
            fullest = max(self._watches.values(), key=lambda c: c.bytes, default=None)
            if fullest is not None:
                log.warning(
                    "relay watch buffers full; interrupting the fullest", session=self.id, watch=fullest.id
                )
                self._interrupt(fullest.id)

    def _drain(self) -> None:
        if not self._drained.is_set() and self.buffered <= SESSION_BUFFER_BYTES // 2:
            self._drained.set()

    async def watch(self, start: protocol.WatchStart) -> WatchChannel:
        """Open a watch; the channel ends with ``WatchEnd`` or ``INTERRUPTED``."""
        channel = WatchChannel(start.id, self._drain)
        if self.closed:
            channel.finish(INTERRUPTED)
            return channel
        self._watches[start.id] = channel
        try:
            await self.send(start)
        except Unavailable:
            channel.finish(INTERRUPTED)
        return channel

    async def cancel_watch(self, watch_id: str) -> None:
        """Stop a watch the consumer no longer reads (best effort)."""
        channel = self._watches.pop(watch_id, None)
        if channel is not None and not self.closed:
            channel.finish(INTERRUPTED)
            with contextlib.suppress(Unavailable):
                await self.send(WatchCancel(watch_id))

    async def log(self, start: protocol.LogStart) -> LogChannel:
        """Open a log stream (protocol version 2); the channel ends with ``LogEnd`` or ``STOPPED``."""
        if self.version < 2:
            raise ServerError(
                f"relay: the agent of plane {self.plane_id} speaks relay protocol version {self.version}, "
                "which has no log streams: upgrade the agent",
                status=501,
                reason="NotImplemented",
            )

        async def grant(count: int) -> None:
            if start.id in self._logs and not self.closed:
                await self.send(LogCredit(start.id, count))

        channel = LogChannel(start.id, grant, start.credit)
        if self.closed:
            channel.stop()
            return channel
        self._logs[start.id] = channel
        try:
            await self.send(start)
        except Unavailable:
            channel.stop()
        return channel

    async def cancel_log(self, log_id: str) -> None:
        """Stop a log the consumer no longer reads (best effort)."""
        channel = self._logs.pop(log_id, None)
        if channel is not None and not self.closed:
            channel.stop()
            with contextlib.suppress(Unavailable):
                await self.send(LogCancel(log_id))

    async def send(self, msg: protocol.Message) -> None:
        """Write one frame; ``Unavailable`` if the connection cannot take it, 413 if it is too large."""
        try:
            frame = protocol.encode(msg)
        except protocol.ProtocolError as exc:  # a body over the relay's limit: retrying cannot help
            raise BadRequest(f"relay: {exc}", status=413, reason="RequestEntityTooLarge") from None
        try:
            await self._send(frame)
        except (ConnectionError, RuntimeError) as exc:
            # A connection that cannot take a frame is gone, even if the reader has not noticed yet.
            self.shutdown(f"send failed: {type(exc).__name__}")
            raise Unavailable(f"relay: send to plane {self.plane_id} failed: {type(exc).__name__}") from None

    def dispatch(self, msg: protocol.Message) -> None:
        """Route one frame from the agent to whoever waits for it."""
        self.last_seen = time.time()
        if isinstance(msg, Response):
            future = self._pending.get(msg.id)
            if future is not None and not future.done():
                future.set_result(msg)
        elif isinstance(msg, WatchEvent | WatchBookmark | WatchEnd):
            channel = self._watches.get(msg.id)
            if channel is None:
                return
            if isinstance(msg, WatchEnd):
                del self._watches[msg.id]
            if not channel.put(msg):
                log.warning("watch consumer too slow; interrupting", session=self.id, watch=msg.id)
                self._interrupt(msg.id)
        elif isinstance(msg, LogData | LogEnd):
            self._log_frame(msg)

    def _log_frame(self, msg: LogData | LogEnd) -> None:
        stream = self._logs.get(msg.id)
        if stream is None:
            return
        if isinstance(msg, LogEnd):
            del self._logs[msg.id]
            stream.put(msg)
        elif not stream.put(msg.data):
            log.warning("agent broke a log's credit; stopping it", session=self.id, log=msg.id)
            del self._logs[msg.id]
            self._spawn(self._cancel_log_quietly(msg.id), f"relay-cancel-{msg.id}")

    def _interrupt(self, watch_id: str) -> None:
        """End a watch here (the consumer resumes elsewhere) and tell the agent to stop it."""
        channel = self._watches.pop(watch_id, None)
        if channel is not None:
            channel.finish(INTERRUPTED)
            self._spawn(self._cancel_quietly(watch_id), f"relay-cancel-{watch_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_quietly(self, watch_id: str) -> None:
        with contextlib.suppress(Unavailable):
            await self.send(WatchCancel(watch_id))

    async def _cancel_log_quietly(self, log_id: str) -> None:
        with contextlib.suppress(Unavailable):
            await self.send(LogCancel(log_id))

    def shutdown(self, reason: str) -> None:
        """The connection is gone: fail every pending request and interrupt every watch. Idempotent."""
        self.close_reason = self.close_reason or reason
        self.closed = True
        error = Unavailable(f"relay: connection to plane {self.plane_id} lost ({reason})")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        for channel in self._watches.values():
            channel.finish(INTERRUPTED)
        for stream in self._logs.values():
            stream.stop()
        self._pending.clear()
        self._watches.clear()
        self._logs.clear()
