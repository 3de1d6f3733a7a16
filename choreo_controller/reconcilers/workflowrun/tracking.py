"""Tracking a submitted run (SPEC section 5 steps 7-8): run object -> run status, coalesced.

The engine is the one whose run object the run recorded (``runReference``: ``engines.engine_for``). The run
object, and the children its engine reads (``Engine.children``), come from the build plane's *watch-fed*
caches (``PlaneView.cached``); the informers' handler enqueues the run on every change of any of them, so
status follows the build plane within the time of one reconcile - nothing polls. A cache miss of the run
object is confirmed with one GET before it counts (right after creation the watch may not have delivered
the object yet); confirmed missing, or replaced by an object of another run, while the run is in flight ->
``WorkflowFailed``. Until the plane's caches of the engine's kinds have synced a miss means nothing:
``PlaneNotSynced``, the run is looked at again with backoff. The plane object the run was
submitted through deleted (its namespace going away, or by hand) -> ``WaitForPlane(BuildPlaneNotFound)``:
the run says so and waits for it; deleting the run releases it (``reconciler``).

Writes: the desired status (``status.desired``) is compared with the current one; equal -> nothing. A
change of phase (a condition's status or reason, or ``completedAt``) is written at once; a change of
progress only (tasks) at most once per ``coalesce_seconds`` per run - the rest waits in a
``requeue_after``. ``choreo_status_lag_seconds`` observes, for each phase change, the time from the first
unprocessed build-plane event (``note``) to the write.

Cancel: while the annotation is set and the run object has not finished, ``cancel.stop`` asks its engine to
stop it. Workload generation reads the engine's ``Observation`` (its steps' outputs), from the step a
declared result ``workload-cr`` names if there is one; the write that completes a succeeded run records its
declared results (``results``).

Failure: the reconcile that first sees the run object fail reads the last log lines of the failed steps once
(``steppods.failure_tail``) into the ``WorkflowFailed`` message, so the reason outlives the pods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choreo_controller.api import conditions as c
from choreo_controller.api import labels, planes
from choreo_controller.contracts import NotFound, Result, TerminalError, Unavailable
from choreo_controller.engines import engine_for
from choreo_controller.reconcilers.component.generation import WorkloadWriter
from choreo_controller.reconcilers.component.workload import OUTPUT, STEP
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.reconcilers.workflowrun import cancel, results, state, status, steppods
from choreo_controller.reconcilers.workflowrun.resolve import (
    WaitForPlane,
    cached_workflow,
    plane_object_gone,
    recorded_target,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi, ObjectKey
    from choreo_controller.engines import Engine
    from choreo_controller.reconcilers.ports import PlaneView
    from choreo_controller.reconcilers.workflowrun.reconciler import RunDeps
    from choreo_controller.reconcilers.workflowrun.writer import StatusWriter


class PlaneNotSynced(Exception):
    """A plane's cache of an engine's kind has no first LIST yet: a miss means nothing. Look again later.

    The reconciler backs off (as for any wait) rather than looking every second: a plane whose agent is
    away for an hour must not cost a reconcile per run per second. Nothing is written - the run's last
    known state stands - and the cache's first LIST enqueues every run it holds an object of.
    """


class Tracker:
    """Maps the run object of a submitted run onto the run's status."""

    def __init__(self, deps: RunDeps, writer: StatusWriter) -> None:
        self._d = deps
        self._writer = writer
        self._noted: dict[ObjectKey, float] = {}
        self._workloads = WorkloadWriter(deps.api)

    def note(self, key: ObjectKey) -> None:
        """A build-plane event for ``key`` arrived now (kept until the next write)."""
        self._noted.setdefault(key, self._d.clock.monotonic())

    def forget(self, key: ObjectKey) -> None:
        """Drop per-run memory."""
        self._noted.pop(key, None)

    async def track(
        self, key: ObjectKey, run: JsonObj, *, expire: Callable[[JsonObj], Awaitable[Result]]
    ) -> Result:
        """One look at the run's run object; writes status if it changed."""
        st = state.status(run)
        ref = st.get("runReference") or {}
        found = engine_for(ref.get("apiVersion"), ref.get("kind"))
        if found is None:
            message = (
                f"runReference names {ref.get('apiVersion')} {ref.get('kind')}: no workflow engine runs it"
            )
            raise TerminalError(c.R_FAILED, message)
        engine, resource = found
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
            raise WaitForPlane(planes.generation_of(target.kind).not_found, message) from None
        if not all(view.synced(watched) for watched in engine.watched):
            raise PlaneNotSynced(plane_id)
        uid = str(state.meta(run).get("uid") or "")
        obj = view.cached(engine.run, namespace, name)
        if obj is None or _run_uid(obj) != uid:
            obj = await _confirm(view.api, resource, namespace, name, uid)
        cancelled = state.cancel_requested(run)
        kw: dict[str, Any] = {"gen": state.generation(run), "now": self._d.clock.now()}
        named: dict[str, Any] = {
            "title": engine.title,
            "where": f"{namespace}/{name} in build plane {plane_id!r}",
            "cancelled": cancelled,
            "cancelled_as": cancel.cancelled_as(run),
        }
        if obj is None:
            new = status.vanished(st, **named, **kw)
        else:
            if cancelled:
                await cancel.stop(view.api, engine, resource, obj)
            children = _children(view, engine, obj)
            seen = engine.observe(obj, children)
            new = status.desired(st, seen, **named, **kw)
            if steppods.newly_failed(st, new):  # read once, when the failure is first seen
                tail = await steppods.failure_tail(view.api, engine, obj, children, self._d.failure_log_lines)
                new = steppods.with_tail(new, tail)
            declared = results.declared(cached_workflow(self._d.caches, run)) if seen.finished else ()
            if results.newly_succeeded(st, new):  # recorded once, by the write that completes the run
                new = results.with_results(new, results.collect(declared, seen))
            source = results.workload_source(declared, OUTPUT) or (STEP, OUTPUT)
            new = await self._workloads.status(run, seen, new, source=source, **kw)  # SPEC 6: WorkloadUpdated
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


def _run_uid(obj: JsonObj) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID) or "")


def _children(view: PlaneView, engine: Engine, obj: JsonObj) -> dict[str, JsonObj]:
    """The cached children ``engine`` reads of ``obj``, by name (one not cached yet is left out)."""
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    found = ((name, view.cached(kind, namespace, name)) for kind, name in engine.children(obj))
    return {name: child for name, child in found if child is not None}


async def _confirm(
    api: KubeApi, resource: ApiResource, namespace: str, name: str, uid: str
) -> JsonObj | None:
    """Read the run object directly: the cache may lag behind a create. ``None``: not ours, or gone."""
    try:
        obj = await api.get(resource, name, namespace)
    except NotFound:
        return None
    return obj if _run_uid(obj) == uid else None
