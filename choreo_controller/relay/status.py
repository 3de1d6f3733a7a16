"""``status.agentConnection`` of every plane object (all four kinds), as the gateway sees it (SPEC 2, 7).

``ConnectionStatusWriter`` is the single writer. Connects and disconnects mark the affected plane objects
dirty and are written at once (well, on the next loop turn); while agents are connected every object is
rewritten every ``heartbeat_every`` seconds to move ``lastHeartbeatTime`` (at most one write per object per
period, not one per ping). The patch is computed from the registry at write time, so a burst of changes
costs one write with the final state. A failed write stays dirty and is retried after ``retry`` seconds; an
object that no longer exists is forgotten.

The patch is a JSON merge patch on the ``status`` subresource and only touches ``agentConnection``.
``message`` says how many agents serve the plane or why none can (a clientCA that cannot be read).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog

from choreo_controller.api import planes
from choreo_controller.contracts import ApiError, NotFound

if TYPE_CHECKING:
    from collections.abc import Iterable

    from choreo_controller.contracts import KubeApi
    from choreo_controller.relay.identity import PlaneRef
    from choreo_controller.relay.planes import PlaneDirectory
    from choreo_controller.relay.registry import Registry

log = structlog.get_logger("choreo.relay.status")


class ConnectionStatusWriter:
    """Writes ``status.agentConnection`` for plane objects when it changes (and periodically)."""

    def __init__(
        self,
        api: KubeApi,
        registry: Registry,
        directory: PlaneDirectory,
        *,
        heartbeat_every: float = 30.0,
        retry: float = 2.0,
    ) -> None:
        self._api = api
        self._registry = registry
        self._directory = directory
        self._heartbeat_every = heartbeat_every
        self._retry = retry
        self._dirty: set[PlaneRef] = set()
        self._wake = asyncio.Event()
        registry.subscribe(self.mark)
        directory.subscribe(lambda: self.mark(r.ref for r in directory.records()))

    def mark(self, refs: Iterable[PlaneRef]) -> None:
        """Write these objects' status soon."""
        self._dirty.update(refs)
        self._wake.set()

    async def run(self) -> None:
        """Write dirty objects; every ``heartbeat_every`` seconds, every object with agents."""
        await self._directory.synced.wait()
        self.mark(r.ref for r in self._directory.records())
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + self._heartbeat_every
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_beat - loop.time()))
            self._wake.clear()
            if loop.time() >= next_beat:
                self.mark(r.ref for r in self._directory.records() if self._registry.connection(r.ref).agents)
                next_beat = loop.time() + self._heartbeat_every
            failed = await self.flush()
            if failed:
                await asyncio.sleep(self._retry)

    async def flush(self) -> bool:
        """Write every dirty object now; True if some write failed (they stay dirty)."""
        dirty, self._dirty = self._dirty, set()
        failed = False
        for ref in sorted(dirty):
            if self._directory.record(ref) is None:
                continue
            try:
                await self._api.merge_patch(
                    _resource(ref),
                    ref.name,
                    {"status": {"agentConnection": self.desired(ref)}},
                    namespace=ref.namespace or None,
                    subresource="status",
                )
            except NotFound:
                continue
            except ApiError as exc:
                log.warning("agentConnection status write failed", plane=str(ref), error=type(exc).__name__)
                self._dirty.add(ref)
                failed = True
        return failed

    def desired(self, ref: PlaneRef) -> dict[str, Any]:
        """The ``agentConnection`` object for ``ref`` right now."""
        conn = self._registry.connection(ref)
        record = self._directory.record(ref)
        if conn.agents:
            message = f"{conn.agents} agent(s) connected"
        elif record is not None and record.problem:
            message = f"agents cannot connect: {record.problem}"
        else:
            message = "no agent connected"
        out: dict[str, Any] = {
            "connected": conn.agents > 0,
            "connectedAgents": conn.agents,
            "message": message,
        }
        for key, value in (
            ("lastConnectedTime", conn.last_connected),
            ("lastDisconnectedTime", conn.last_disconnected),
            ("lastHeartbeatTime", conn.last_heartbeat),
        ):
            if value is not None:
                out[key] = _rfc3339(value)
        return out


def _resource(ref: PlaneRef) -> Any:
    return planes.BY_KIND[ref.kind].resource


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
