"""The orphan sweep: build-plane objects whose WorkflowRun no longer exists are deleted (SPEC 5 step 9).

A run's finalizer normally cleans up. Objects escape it when the finalizer was removed by hand, when a run
was deleted while the controller was down and its record never reached ``status``, when a create landed
after its run's cleanup (a leader that lost its lease mid-request), or when the run's plane object was
deleted (a namespace deleted with runs in it: the runs are released without cleanup, ``reconciler``). The
sweep lists, in every reachable plane, every ``RUN`` and ``EXTRA`` kind of ``api.buildkinds`` carrying an
``openchoreo.dev/workflowrun-uid`` label (``owners``: why labels), and deletes the orphans.

INVARIANT - an object is deleted only if all of these hold, in this order:

1. its run uid is not in the control-plane runs cache (cheap: most objects stop here);
2. it is older than ``min_age`` (``creationTimestamp``): a young object is never a candidate, whatever any
   cache says - it may belong to a submission or a cleanup still in flight;
3. a live read of the run its labels name (``owners.run_gone``: GET by name, compared by uid) confirms the
   run is gone. A cache can be behind - a new leader whose synced cache has not yet delivered a live run,
   a watch that missed events - a live read cannot;

and the delete carries the object's own uid as a precondition, so an object replaced in between is left
alone. Because a run uid is never reused, (3) makes a wrong delete impossible; (1) and (2) keep the sweep
cheap and calm. It runs once the runs cache has synced (so a restart - or a new leader - cleans up at
once), then every ``interval`` seconds; leader-only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

import structlog

from choreo_controller.api import buildkinds
from choreo_controller.contracts import ApiError
from choreo_controller.reconcilers.workflowrun import indexes
from choreo_controller.reconcilers.workflowrun.finalize import delete_quietly, labelled_objects
from choreo_controller.reconcilers.workflowrun.owners import RUN_UID_SELECTOR, run_gone, run_labels_of
from choreo_controller.reconcilers.workflowrun.ttl import parse_time

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, JsonObj, KubeApi
    from choreo_controller.reconcilers.ports import BuildPlanes, Reader

log = structlog.get_logger("choreo_controller.sweep")
_SYNC_POLL = 0.5


class OrphanSweep:
    """Deletes build-plane objects of runs that are gone; ``run`` repeats it every ``interval`` seconds."""

    def __init__(
        self,
        runs: Reader,
        control_plane: KubeApi,
        planes: BuildPlanes,
        *,
        clock: Clock,
        interval: float = 600.0,
        min_age: float = 60.0,
    ) -> None:
        self._runs = runs
        self._cp = control_plane
        self._planes = planes
        self._clock = clock
        self.interval = interval
        self.min_age = min_age
        self.deleted = 0  # total, for tests and logs
        self.spared = 0  # candidates a live read showed to be alive (a cache behind the apiserver)

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
        log.info("orphan sweep done", deleted=deleted, spared_total=self.spared)
        return deleted

    async def _sweep_plane(self, plane_id: str, api: KubeApi) -> int:
        candidates: dict[str, list[tuple[ApiResource, JsonObj]]] = {}
        for resource in buildkinds.labelled():
            for obj in await labelled_objects(api, resource, RUN_UID_SELECTOR):
                named = run_labels_of(obj)
                if named is None or self._runs.index_keys(indexes.UID, named[2]) or self._young(obj):
                    continue
                candidates.setdefault(named[2], []).append((resource, obj))
        deleted = 0
        for objects in candidates.values():
            if not await run_gone(self._cp, objects[0][1]):
                self.spared += len(objects)
                log.info("orphan candidate spared: its run exists (the cache is behind)", plane=plane_id)
                continue
            for resource, obj in objects:
                meta = obj.get("metadata") or {}
                name, namespace = str(meta.get("name")), str(meta.get("namespace") or "")
                if await delete_quietly(api, resource, name, namespace, str(meta.get("uid") or "") or None):
                    deleted += 1
                    log.info(
                        "orphan deleted", plane=plane_id, kind=resource.kind, object=f"{namespace}/{name}"
                    )
        return deleted

    def _young(self, obj: JsonObj) -> bool:
        """Created less than ``min_age`` ago (or with no creation time at all: never a candidate)."""
        created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
        return created is None or self._clock.now() - created < timedelta(seconds=self.min_age)

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
