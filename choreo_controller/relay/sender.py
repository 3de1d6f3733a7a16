"""Sending one relay websocket's frames for many tasks, none of which can break another's send.

aiohttp's writer waits for a paused transport on one future per connection, and since
aio-libs/aiohttp#12307 (in our pinned 3.14) awaits it without a ``shield``: an HTTP/1.1 connection has one
writer. A relay connection has many: every request, watch and log of an agent, every caller of a gateway
session. A sender cancelled while the transport was paused (a ``WatchCancel``, a reconcile's timeout)
cancelled that shared future, and every other sender waiting on it got ``CancelledError`` as if cancelled
itself: on the agent, the watch it was streaming ended without a ``WatchEnd``, and its consumer waited for
ever. So each frame is sent by a task of its own, shielded: a cancelled caller stops waiting, the frame's
send goes on, and the shared future is only ever resolved by the transport.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class FrameSender:
    """``send(frame)`` for one websocket, safe for concurrent callers that may be cancelled."""

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        self._send = send
        self._sending: set[asyncio.Task[None]] = set()  # strong references until each send ends

    async def send(self, frame: str) -> None:
        """Send ``frame``; errors are the websocket's (``ConnectionError``, ``RuntimeError``)."""
        task: asyncio.Task[None] = asyncio.ensure_future(self._send(frame))
        self._sending.add(task)
        task.add_done_callback(self._done)
        await asyncio.shield(task)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that was cancelled no longer waits for the error
