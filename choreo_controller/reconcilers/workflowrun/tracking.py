"""Tracking a submitted run (SPEC section 5 steps 7-8): Argo Workflow -> run status, coalesced.

The Argo Workflow is read from the build plane's *watch-fed* cache (``PlaneView.argo_workflow``); the
informer's handler enqueues the run on every change, so status follows the build plane within the time of
one reconcile - nothing polls. A cache miss is confirmed with one GET before it counts (right after
creation the watch may not have delivered the object yet); confirmed missing, or replaced by an object of
another run, while the run is in flight -> ``WorkflowFailed``. Until the plane's cache has synced a miss
means nothing: ``PlaneNotSynced``, the run is looked at again with backoff. The plane object the run was
submitted through deleted (its namespace going away, or by hand) -> ``WaitForPlane(BuildPlaneNotFound)``:
the run says so and waits for it; deleting the run releases it (``reconciler``).

Writes: the desired status (``status.desired``) is compared with the current one; equal -> nothing. A
change of phase (a condition's status or reason, or ``completedAt``) is written at once; a change of
progress only (tasks) at most once per ``coalesce_seconds`` per run - the rest waits in a
``requeue_after``. ``choreo_status_lag_seconds`` observes, for each phase change, the time from the first
unprocessed build-plane event (``note``) to the write.

Cancel: while the annotation is set and Argo has not finished, ``cancel.shutdown`` asks Argo to terminate.

Failure: the reconcile that first sees Argo fail reads the last log lines of the failed steps once
(``steppods.failure_tail``) into the ``WorkflowFailed`` message, so the reason outlives the pods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import ARGO_WORKFLOW
from choreo_controller.contracts import NotFound, Result, Unavailable
from choreo_controller.reconcilers.component.workload import workload_status
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.reconcilers.workflowrun import cancel, state, steppods
from choreo_controller.reconcilers.workflowrun import status as argo_status
from choreo_controller.reconcilers.workflowrun.resolve import (
    WaitForPlane,
    plane_object_gone,
    recorded_target,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from choreo_controller.contracts import JsonObj, KubeApi, ObjectKey
    from choreo_controller.reconcilers.workflowrun.reconciler import RunDeps
    from choreo_controller.reconcilers.workflowrun.writer import StatusWriter


class PlaneNotSynced(Exception):
    """The plane's Argo Workflow cache has no first LIST yet: a miss would mean nothing. Look again later.

    The reconciler backs off (as for any wait) rather than looking every second: a plane whose agent is
    away for an hour must not cost a reconcile per run per second. Nothing is written - the run's last
    known state stands - and the cache's first LIST enqueues every run it holds an Argo Workflow of.
    """


class Tracker:
    """Maps the Argo Workflow of a submitted run onto the run's status."""

    def __init__(self, deps: RunDeps, writer: StatusWriter) -> None:
        self._d = deps
        self._writer = writer
        self._noted: dict[ObjectKey, float] = {}

    def note(self, key: ObjectKey) -> None:
        """A build-plane event for ``key`` arrived now (kept until the next write)."""
        self._noted.setdefault(key, self._d.clock.monotonic())

    def forget(self, key: ObjectKey) -> None:
        """Drop per-run memory."""
        self._noted.pop(key, None)

    async def track(
        self, key: ObjectKey, run: JsonObj, *, expire: Callable[[JsonObj], Awaitable[Result]]
    ) -> Result:
        """One look at the run's Argo Workflow; writes status if it changed."""
        st = state.status(run)
        ref = st.get("runReference") or {}
        target = recorded_target(run) or PlaneTarget("")
        plane_id = target.plane_id
        namespace, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
        try:
            view = self._d.planes.plane(target)
        except Unavailable:
            if not plane_object_gone(self._d.caches, target):
                raise
            message = (
                f"{target.kind} {target.name!r} (planeID {plane_id!r}), which this run was submitted "
                "through, no longer exists; waiting for it to come back (or delete the run to release it)"
            )
            raise WaitForPlane(c.R_BUILD_PLANE_NOT_FOUND, message) from None
        if not view.synced:
            raise PlaneNotSynced(plane_id)
        uid = str(state.meta(run).get("uid") or "")
        argo = view.argo_workflow(namespace, name)
        if argo is None or _run_uid(argo) != uid:
            argo = await _confirm(view.api, namespace, name, uid)
        cancelled = state.cancel_requested(run)
        where = f"{namespace}/{name} in build plane {plane_id!r}"
        kw: dict[str, Any] = {"gen": state.generation(run), "now": self._d.clock.now()}
        if argo is None:
            new = argo_status.vanished(st, where=where, cancelled=cancelled, **kw)
        else:
            if cancelled:
                await cancel.shutdown(view.api, argo)
            new = argo_status.desired(st, argo_status.observe(argo), where=where, cancelled=cancelled, **kw)
            if steppods.newly_failed(st, new):  # read once, when the failure is first seen
                tail = await steppods.failure_tail(view.api, argo, self._d.failure_log_lines)
                new = steppods.with_tail(new, tail)
            new = await workload_status(self._d.api, run, argo, new, **kw)  # SPEC 6: WorkloadUpdated
        return await self._apply(key, run, st, new, expire)

    async def _apply(
        self,
        key: ObjectKey,
        run: JsonObj,
        old: dict[str, Any],
        new: dict[str, Any],
        expire: Callable[[JsonObj], Awaitable[Result]],
    ) -> Result:
        if state.status_patch(old, new) is None:
            self._noted.pop(key, None)
            return Result()
        phase_change = state.conditions_changed(old, new)
        now = self._d.clock.monotonic()
        if not phase_change:
            since = now - self._writer.last_write.get(key, float("-inf"))
            if since < self._d.coalesce_seconds:
                return Result(requeue_after=self._d.coalesce_seconds - since)
        updated = await self._writer.write(run, new)
        noted = self._noted.pop(key, None)
        if noted is not None and phase_change and self._d.metrics is not None:
            self._d.metrics.status_lag.observe(max(0.0, self._d.clock.monotonic() - noted))
        if state.is_completed(updated):
            self._writer.forget(key)
            return await expire(updated)
        return Result()


def _run_uid(argo: JsonObj) -> str:
    return str(((argo.get("metadata") or {}).get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID) or "")


async def _confirm(api: KubeApi, namespace: str, name: str, uid: str) -> JsonObj | None:
    """Read the Argo Workflow directly: the cache may lag behind a create. ``None``: not ours, or gone."""
    try:
        argo = await api.get(ARGO_WORKFLOW, name, namespace)
    except NotFound:
        return None
    return argo if _run_uid(argo) == uid else None
