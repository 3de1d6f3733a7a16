"""``KeyedLocks``: one ``asyncio.Lock`` per key, kept only while someone holds or waits for it.

Reconcilers run several workers on one event loop; a decision that reads, compares and writes something
shared by several keys of the work queue (a concurrency group, a Workload written by many runs) takes the
lock of that shared thing, so two workers never interleave the read and the write. The map never grows
with the keys ever seen: an entry goes when its last user leaves. Only the leader writes, so an in-process
lock is enough; the writes still carry preconditions for the moments two processes overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class KeyedLocks:
    """``async with locks.hold(key):`` - at most one holder per key."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the ``async with`` block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
