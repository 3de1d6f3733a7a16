"""Which agents are connected, per plane: lookup with round-robin, waiting, and connection history.

A session serves a plane *object* (``PlaneRef``) only if its certificate verified against that object's
clientCA (``AgentIdentity.refs``). ``pick(plane_id, ref)`` therefore only returns sessions vouched for by
``ref``; with ``ref=None`` any session of the planeID will do (for callers that only know the planeID).
Several sessions per plane are used in turn (round-robin).

The registry also remembers, per plane object, when an agent last connected and disconnected - the
``agentConnection`` status is computed from it (``connection``) - and tells subscribers which objects
changed. It keeps the ``choreo_relay_connections{plane}`` gauge and counts reconnects: every connection of
a planeID after its first one in this process is a reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from choreo_controller.metrics import Metrics
    from choreo_controller.relay.identity import AgentIdentity, PlaneRef
    from choreo_controller.relay.session import AgentSession


@dataclass(frozen=True, slots=True)
class Connection:
    """The live connection state of one plane object (wall-clock seconds, ``None`` if never)."""

    agents: int
    last_connected: float | None
    last_disconnected: float | None
    last_heartbeat: float | None


class Registry:
    """Connected agent sessions. Invariant: a session is listed iff it is registered and not closed."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._by_plane: dict[str, list[AgentSession]] = {}
        self._turn = itertools.count()
        self._waiters: set[asyncio.Future[None]] = set()
        self._metrics = metrics
        self._seen_planes: set[str] = set()
        self._connected_at: dict[PlaneRef, float] = {}
        self._disconnected_at: dict[PlaneRef, float] = {}
        self._subscribers: list[Callable[[Iterable[PlaneRef]], None]] = []

    def subscribe(self, callback: Callable[[Iterable[PlaneRef]], None]) -> None:
        """Call ``callback(refs)`` whenever sessions serving ``refs`` come or go."""
        self._subscribers.append(callback)

    def add(self, session: AgentSession) -> None:
        """Register an authenticated session."""
        plane = session.plane_id
        self._by_plane.setdefault(plane, []).append(session)
        now = time.time()
        for ref in session.identity.refs:
            self._connected_at[ref] = now
        if self._metrics is not None:
            self._metrics.relay_connections.labels(plane).set(len(self._by_plane[plane]))
            if plane in self._seen_planes:
                self._metrics.relay_reconnects.labels(plane).inc()
        self._seen_planes.add(plane)
        self._notify(session.identity.refs)

    def remove(self, session: AgentSession) -> None:
        """Forget a session (idempotent)."""
        sessions = self._by_plane.get(session.plane_id, [])
        if session not in sessions:
            return
        sessions.remove(session)
        now = time.time()
        for ref in session.identity.refs:
            self._disconnected_at[ref] = now
        if self._metrics is not None:
            self._metrics.relay_connections.labels(session.plane_id).set(len(sessions))
        if not sessions:
            del self._by_plane[session.plane_id]
        self._notify(session.identity.refs)

    def rebind(self, session: AgentSession, identity: AgentIdentity) -> None:
        """Replace a session's identity after the plane objects changed (its ``refs`` may shrink)."""
        old = session.identity.refs
        session.identity = identity
        now = time.time()
        for ref in old - identity.refs:
            self._disconnected_at[ref] = now
        self._notify(old | identity.refs)

    def sessions(self, plane_id: str | None = None) -> list[AgentSession]:
        """Open sessions of one plane, or of all planes."""
        if plane_id is not None:
            return [s for s in self._by_plane.get(plane_id, []) if not s.closed]
        return [s for group in self._by_plane.values() for s in group if not s.closed]

    def pick(self, plane_id: str, ref: PlaneRef | None = None) -> AgentSession | None:
        """The next session (round-robin) serving ``plane_id`` (and vouched for by ``ref``), if any."""
        eligible = [s for s in self.sessions(plane_id) if ref is None or ref in s.identity.refs]
        if not eligible:
            return None
        return eligible[next(self._turn) % len(eligible)]

    async def wait_pick(self, plane_id: str, ref: PlaneRef | None, within: float) -> AgentSession | None:
        """Like ``pick``, waiting up to ``within`` seconds for an agent to connect."""
        session = self.pick(plane_id, ref)
        if session is not None or within <= 0:
            return session
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while session is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancel that arrives just as the
                # waiter is woken, and this loop would then wait again - a task that will not stop.
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                return None
            finally:
                self._waiters.discard(waiter)
            session = self.pick(plane_id, ref)
        return session

    def connection(self, ref: PlaneRef) -> Connection:
        """Live connection state of one plane object."""
        serving = [s for s in self.sessions() if ref in s.identity.refs]
        return Connection(
            agents=len(serving),
            last_connected=self._connected_at.get(ref),
            last_disconnected=self._disconnected_at.get(ref),
            last_heartbeat=max((s.last_seen for s in serving), default=None),
        )

    def _notify(self, refs: Iterable[PlaneRef]) -> None:
        refs = frozenset(refs)
        for subscriber in list(self._subscribers):
            subscriber(refs)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
