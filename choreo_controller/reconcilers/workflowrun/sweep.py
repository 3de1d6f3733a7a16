"""The orphan sweep: build-plane objects whose WorkflowRun no longer exists are deleted (SPEC 5 step 9).

A run's finalizer normally cleans up. Objects escape it when the finalizer was removed by hand, when a run
was deleted while the controller was down and its record never reached ``status``, or when a plane was
unreachable and someone forced the run away. The sweep lists, in every reachable plane, the kinds the
engine creates (``finalize.LABELLED_KINDS``) with ``openchoreo.dev/managed-by=workflowrun-controller``, and
deletes each one whose ``openchoreo.dev/workflowrun-uid`` matches no run in the control-plane cache.

Safe by construction: the engine creates build-plane objects only for runs it read from that same cache,
and a run with a pending finalizer is still in it, so a live run's objects are never candidates. Deletes
carry the object's own uid as a precondition. It runs once the runs cache has synced (so a restart
cleans up at once), then every ``interval`` seconds; leader-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import structlog

from choreo_controller.api import labels
from choreo_controller.contracts import ApiError
from choreo_controller.reconcilers.workflowrun import indexes
from choreo_controller.reconcilers.workflowrun.finalize import LABELLED_KINDS, delete_quietly

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, KubeApi
    from choreo_controller.reconcilers.ports import BuildPlanes, Reader

log = structlog.get_logger("choreo_controller.sweep")
_SYNC_POLL = 0.5


class OrphanSweep:
    """Deletes build-plane objects of runs that are gone; ``run`` repeats it every ``interval`` seconds."""

    def __init__(
        self,
        runs: Reader,
        planes: BuildPlanes,
        *,
        clock: Clock,
        interval: float = 600.0,
        kinds: tuple[ApiResource, ...] = LABELLED_KINDS,
    ) -> None:
        self._runs = runs
        self._planes = planes
        self._clock = clock
        self.interval = interval
        self._kinds = kinds
        self.deleted = 0  # total, for tests and logs

    async def sweep_once(self) -> int:
        """One pass over every reachable plane; returns how many orphans were deleted.

        A plane that fails is logged and skipped: one unreachable plane must not hide the others' orphans.
        """
        deleted = 0
        for target in self._planes.targets():
            try:
                deleted += await self._sweep_plane(target.plane_id, self._planes.plane(target).api)
            except (ApiError, OSError) as exc:
                log.warning(
                    "orphan sweep of a plane failed; next pass later",
                    plane=target.plane_id,
                    error=type(exc).__name__,
                    message=str(exc)[:200],
                )
        self.deleted += deleted
        return deleted

    async def _sweep_plane(self, plane_id: str, api: KubeApi) -> int:
        deleted = 0
        for resource in self._kinds:
            listed = await api.list(resource, None, label_selector=labels.MANAGED_SELECTOR)
            for obj in listed.items:
                meta = obj.get("metadata") or {}
                uid = (meta.get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID)
                if not uid or meta.get("deletionTimestamp") or self._runs.index_keys(indexes.UID, uid):
                    continue
                name, namespace = str(meta.get("name")), str(meta.get("namespace") or "")
                if await delete_quietly(api, resource, name, namespace, str(meta.get("uid") or "") or None):
                    deleted += 1
                    log.info(
                        "orphan deleted", plane=plane_id, kind=resource.kind, object=f"{namespace}/{name}"
                    )
        return deleted

    async def run(self) -> NoReturn:
        """Sweep once the runs cache is synced, then every ``interval`` seconds, until cancelled."""
        while not self._runs.has_synced:
            await self._clock.sleep(_SYNC_POLL)
        while True:
            try:
                await self.sweep_once()
            except (ApiError, OSError) as exc:
                log.warning(
                    "orphan sweep failed; next pass later", error=type(exc).__name__, message=str(exc)[:200]
                )
            await self._clock.sleep(self.interval)
