"""Log streams over the relay (protocol version 2): credit on both ends, so memory is bounded by a window.

A log is bytes, not events: it cannot be resumed from a resourceVersion like a watch, so a slow consumer is
never answered by dropping data. Instead the receiver *grants* bytes:

* ``LogChannel`` (gateway side): the consumer's end of one log. The agent may send ``window`` bytes at
  first; each time the consumer has taken half a window, the channel grants that much more
  (``log_credit``). It therefore never holds more than ``window`` bytes. An agent that sends more than it
  was granted, or more than ``protocol.MAX_LOG_BYTES`` in all (the agent caps every log request at that
  with ``limitBytes``), breaks the protocol: the channel ends with an error and the agent is told to stop.
* ``Credit`` (agent side): what the agent may still send; ``take`` waits for a grant. While it waits the
  agent does not read the apiserver's stream, so back-pressure reaches the kubelet over TCP.

Both ends keep the invariant ``received <= granted``; with chunks of at most half a window the two never
wait on each other (a stalled agent has ``granted - received < chunk``, so the consumer, once it has taken
what arrived, has taken at least half a window since the last grant and grants again).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from choreo_controller.relay.executor import status_body
from choreo_controller.relay.messages import LogEnd
from choreo_controller.relay.protocol import MAX_LOG_BYTES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

LOG_WINDOW: Final = 256 * 1024  # bytes a log may have in flight (the gateway's buffer per log)


class _Stopped:
    def __repr__(self) -> str:
        return "STOPPED"


STOPPED: Final = _Stopped()  # the connection went away or the channel was cancelled
LogItem = bytes | LogEnd | _Stopped


class LogChannel:
    """The consumer's end of one log; see the module docstring."""

    def __init__(
        self, log_id: str, grant: Callable[[int], Awaitable[None]], window: int = LOG_WINDOW
    ) -> None:
        self.id = log_id
        self.window = window
        self._grant = grant
        self._queue: asyncio.Queue[LogItem] = asyncio.Queue()
        self.granted = window
        self.received = 0
        self._taken = 0  # since the last grant
        self.done = False

    def put(self, item: bytes | LogEnd) -> bool:
        """Queue what the agent sent; ``False`` (and the channel ends) if it broke the credit rule."""
        if self.done:
            return True
        if isinstance(item, LogEnd):
            self._finish(item)
            return True
        self.received += len(item)
        if self.received > self.granted or self.received > MAX_LOG_BYTES:
            message = f"relay: the agent sent {self.received} bytes of a log granted {self.granted}"
            self._finish(LogEnd(self.id, 502, status_body(502, "BadGateway", message)))
            return False
        self._queue.put_nowait(item)
        return True

    def stop(self) -> None:
        """End the channel here (connection lost, consumer gone). Idempotent."""
        self._finish(STOPPED)

    def _finish(self, item: LogEnd | _Stopped) -> None:
        if not self.done:
            self.done = True
            self._queue.put_nowait(item)

    async def next(self) -> LogItem:
        """The next bytes, the ``LogEnd``, or ``STOPPED``; grants credit as the consumer takes bytes."""
        item = await self._queue.get()
        if isinstance(item, bytes):
            self._taken += len(item)
            if self._taken * 2 >= self.window and not self.done:
                taken, self._taken = self._taken, 0
                self.granted += taken
                await self._grant(taken)
        return item


class Credit:
    """The agent's side of one log: bytes it may still send."""

    def __init__(self, initial: int) -> None:
        self._left = initial
        self._more = asyncio.Event()

    def grant(self, count: int) -> None:
        """The gateway granted ``count`` more bytes."""
        self._left += count
        self._more.set()

    async def take(self, count: int) -> None:
        """Wait until ``count`` bytes may be sent, and count them as sent."""
        while self._left < count:
            self._more.clear()
            await self._more.wait()
        self._left -= count
