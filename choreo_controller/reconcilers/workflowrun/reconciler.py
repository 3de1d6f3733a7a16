"""``WorkflowRunReconciler``: SPEC section 5, one level-based step per reconcile.

``reconcile(key)`` reads the run from the cache and moves it along, whatever event brought it here:

1. deleted -> ``finalize.cleanup`` in the recorded build plane, then drop the finalizer - and remember
   the run's uid as let go: the answer to that patch is the deleted run's last stored state, the version a
   lagging cache still shows, so read-your-writes cannot tell the cache is behind (plane unreachable:
   the error propagates, the finalizer stays, the key is retried with backoff; the plane *object* gone -
   a namespace deleted with runs in it - the run is released with a ``BuildPlaneGone`` Event and the
   orphan sweep collects its objects). Otherwise ensure the finalizer and, on a run not submitted yet,
   the Workflow's ``ttlAfterCompletion`` in an empty ``spec.ttlAfterCompletion`` (SPEC section 2; so TTL
   applies even to early failures): one merge patch for both, carrying the resourceVersion, so other
   finalizers are never lost.
2. completed -> TTL: ``Result(requeue_after=remaining)``, then delete with a uid precondition (a run
   recreated under the same name is never deleted by its predecessor's TTL). A run that failed before
   submission only because its Workflow was missing or invalid is revived once that Workflow exists in
   a new version (``state.REVIVABLE``).
3. not submitted -> ``submitting.Submission`` (resolve, validate, render, create in the build plane).
4. submitted -> track the run object from the plane's watch-fed caches (``tracking``).

A settled run - completed, finalizer in place, nothing left to copy or revive, TTL not due - needs
nothing of a reconcile but its TTL: ``settled_expiry`` is that decision, a float the runs cache keeps per
run (``Store.set_summary``), and ``reconcile`` takes it from there without decoding the run (a cold start
reconciles every cached run once). Anything else, or a run we wrote to within ``READ_YOUR_WRITES``, takes
the steps above.

Outcomes: a ``TerminalError`` becomes ``WorkflowFailed``/``WorkflowCompleted`` with its reason and
``completedAt`` (so TTL applies), then the TTL result; ``Wait`` (no build plane yet, or it cannot be
reached, refuses, lacks a kind; a render out of wall-clock time) writes the waiting condition and comes
back with its own backoff, 1 s doubling to 5 min, as a ``requeue_after`` - an expected state, not an error
- while BuildPlane events re-enqueue runs waiting for a plane at once; a ``WaitForEvent`` (queued in a
concurrency group) is written the same way but sets no timer: its group's next change enqueues it;
``PlaneNotSynced`` takes the same backoff without a write; ``RequeueSoon`` is a short ``requeue_after``;
any other exception propagates to the controller's rate-limited retry.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog

from choreo_controller.api import labels
from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import (
    ApiError,
    Conflict,
    NotFound,
    ObjectKey,
    Result,
    TerminalError,
    Unavailable,
)
from choreo_controller.reconcilers.ports import AllowAll
from choreo_controller.reconcilers.workflowrun import finalize, state
from choreo_controller.reconcilers.workflowrun.resolve import (
    Wait,
    WaitForEvent,
    find_workflow,
    identity,
    plane_object_gone,
    recorded_target,
)
from choreo_controller.reconcilers.workflowrun.submit import RequeueSoon
from choreo_controller.reconcilers.workflowrun.submitting import Attempt, Submission
from choreo_controller.reconcilers.workflowrun.tracking import PlaneNotSynced, Tracker
from choreo_controller.reconcilers.workflowrun.ttl import (
    NEVER,
    expiry,
    inherited_ttl,
    parse_time,
    parse_ttl,
    seconds_left,
)
from choreo_controller.reconcilers.workflowrun.writer import StatusWriter

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import Clock, EventRecorder, JsonObj, KubeApi
    from choreo_controller.metrics import Metrics
    from choreo_controller.reconcilers.ports import BuildPlanes, Caches, Governance, PlaneTarget

log = structlog.get_logger("choreo_controller.workflowrun")
WAIT_INITIAL: Final = 1.0  # seconds: first retry of a run waiting for its build plane
WAIT_MAX: Final = 300.0  # BuildPlane events wake waiting runs at once; this is only the fallback


@dataclass(frozen=True)
class RunDeps:
    """What the WorkflowRun reconciler talks to."""

    api: KubeApi  # the control plane
    caches: Caches
    planes: BuildPlanes
    clock: Clock
    events: EventRecorder
    metrics: Metrics | None = None
    governance: Governance = field(default_factory=AllowAll)
    coalesce_seconds: float = 1.0  # at most one progress-only status write per run per this interval
    failure_log_lines: int = 10  # last log lines of each failed step kept in the failure message (0: none)


class WorkflowRunReconciler:
    """Drives WorkflowRuns; see the module docstring."""

    def __init__(self, deps: RunDeps) -> None:
        self._d = deps
        self._writer = StatusWriter(deps.api, deps.clock, deps.events, deps.metrics)
        self._submission = Submission(deps, self._writer)
        self._tracker = Tracker(deps, self._writer)
        self._waits: dict[ObjectKey, int] = {}  # consecutive waits for a build plane, per run
        self._released: dict[ObjectKey, str] = {}  # uid of a run we let go, until the cache drops it

    def note_build_plane_event(self, key: ObjectKey) -> None:
        """Called by the build-plane informers' handler (no IO): starts the status-lag clock for ``key``."""
        self._tracker.note(key)

    def not_our_write(self, old: JsonObj, new: JsonObj) -> bool:
        """Update predicate of the runs informer's own-key handler: ``new`` is not our write's echo.

        No IO. The reconcile that wrote a version already went on from it (``StatusWriter.echo``).
        """
        del old
        return not self._writer.echo(new)

    def requeue_with(self, add: Callable[[ObjectKey], None]) -> None:
        """Where a run goes whose update came while our write to it was in flight, once that is not ours."""
        self._writer.requeue = add

    async def reconcile(self, key: ObjectKey) -> Result:
        """One step of ``key``'s lifecycle."""
        settled = self._settled(key)
        if settled is not None:
            return settled
        run = await self._writer.fresh(key, self._d.caches.runs.get(key))
        if run is None:
            self._forget(key, gone=True)
            return Result()
        if state.is_deleting(run):
            return await self._finalize(key, run)
        run = await self._ensure_meta(run)
        if state.is_completed(run):
            if not (state.is_revivable(run) and self._workflow_changed(run)):
                self._forget(key)
                return await self._expire(run)
            log.info("reviving run: its Workflow appeared or changed", reason=state.completed_reason(run))
            revived = state.revived(
                state.status(run), "Workflow is available again; retrying", **self._kw(run)
            )
            run = await self._writer.write(run, revived)
        return await self._advance(key, run)

    async def _advance(self, key: ObjectKey, run: JsonObj) -> Result:
        """Submit (if not yet) and track a run that is not completed; settle the outcome."""
        attempt = Attempt(run)
        try:
            if not state.is_submitted(run):
                run = await self._submission.submit(attempt)
            result = await self._tracker.track(key, run, expire=self._expire)
        except TerminalError as err:
            return await self._fail(attempt, err)
        except Wait as wait:
            waiting = state.waiting(attempt.status(), wait.reason, wait.message, **self._kw(attempt.run))
            await self._writer.write(attempt.run, waiting)
            if isinstance(wait, WaitForEvent):
                self._waits.pop(key, None)
                return Result()
            return Result(requeue_after=self._wait_backoff(key))
        except PlaneNotSynced as unsynced:
            log.info("build plane's run objects not listed yet; backing off", plane=str(unsynced))
            return Result(requeue_after=self._wait_backoff(key))
        except RequeueSoon as soon:
            log.info("requeue soon", why=str(soon))
            return Result(requeue_after=soon.seconds)
        self._waits.pop(key, None)
        return result

    # ---- outcomes ----------------------------------------------------------------------------------------
    async def _fail(self, attempt: Attempt, err: TerminalError) -> Result:
        log.info("run failed", reason=err.reason)
        st = state.failed(attempt.status(), err.reason, err.message, **self._kw(attempt.run))
        run = await self._writer.write(attempt.run, st)
        self._forget(ObjectKey.of(run))
        return await self._expire(run)

    def _settled(self, key: ObjectKey) -> Result | None:
        """A settled run's whole reconcile, from the expiry the cache keeps (``settled_expiry``); else None.

        What the steps below would do with that run: nothing to write, forget its memories, wait for the
        TTL. Not for a run whose TTL is due (it is deleted below) nor one we wrote to lately (``fresh``
        may read it live or from our copy).
        """
        expires = self._d.caches.runs.summary(key)
        if not isinstance(expires, float) or self._writer.remembers(key):
            return None
        left = seconds_left(expires, self._d.clock.now())
        if left <= 0:
            return None
        self._forget(key)
        return Result() if expires == NEVER else Result(requeue_after=left)

    async def _expire(self, run: JsonObj) -> Result:
        """TTL of a completed run: wait for it, or delete the run (uid precondition)."""
        text = str((run.get("spec") or {}).get("ttlAfterCompletion") or "")
        try:
            ttl = parse_ttl(text)
        except ValueError:
            log.warning("invalid ttlAfterCompletion; the run is kept", ttl=text[:64])
            return Result()
        expires = expiry(ttl, parse_time(state.completed_at(run)))
        if expires == NEVER:
            return Result()
        left = seconds_left(expires, self._d.clock.now())
        if left > 0:
            return Result(requeue_after=left)
        meta = state.meta(run)
        try:
            await self._d.api.delete(
                WORKFLOW_RUN, meta["name"], namespace=meta["namespace"], uid=meta.get("uid")
            )
            log.info("run deleted after its TTL", ttl=text)
        except (NotFound, Conflict):
            pass  # already gone, or replaced by a new run of the same name: not ours to delete
        return Result()

    # ---- finalizer ---------------------------------------------------------------------------------------
    async def _ensure_meta(self, run: JsonObj) -> JsonObj:
        """The finalizer and the copied TTL, in one patch (nothing to change: no request)."""
        body: dict[str, Any] = {}
        if not state.has_finalizer(run):
            body["metadata"] = {"finalizers": [*(state.meta(run).get("finalizers") or []), labels.FINALIZER]}
        ttl = None if state.is_submitted(run) else inherited_ttl(run, find_workflow(self._d.caches, run)[1])
        if ttl:
            body["spec"] = {"ttlAfterCompletion": ttl}
        if not body:
            return run
        return await self._writer.patch(run, body)

    async def _finalize(self, key: ObjectKey, run: JsonObj) -> Result:
        if not state.has_finalizer(run) or self._released.get(key) == state.meta(run).get("uid"):
            self._forget(key)
            return Result()
        target = recorded_target(run)
        if target is not None:
            try:
                view = self._d.planes.plane(target)
                await finalize.cleanup(view.api, run)
            except ApiError as exc:
                if not (isinstance(exc, Unavailable) and plane_object_gone(self._d.caches, target)):
                    message = (
                        f"cleanup in build plane {target.plane_id!r} failed ({type(exc).__name__}); the "
                        "finalizer stays and cleanup is retried with backoff"
                    )
                    await self._d.events.record(run, "Warning", "CleanupPending", message)
                    raise
                await self._release(run, target)
        meta = state.meta(run)
        rest = [f for f in meta.get("finalizers") or [] if f != labels.FINALIZER]
        with contextlib.suppress(NotFound):  # NotFound: a stale cache, it was released and is gone
            # Not ``StatusWriter.patch``: emptied finalizers delete the run, and the answer is its last stored
            # state - the very version a lagging cache still shows: read-your-writes cannot tell it is stale.
            body = {"metadata": {"finalizers": rest, "resourceVersion": meta.get("resourceVersion")}}
            await self._d.api.merge_patch(WORKFLOW_RUN, meta["name"], body, namespace=meta["namespace"])
        self._forget(key, gone=True)
        self._released[key] = str(meta.get("uid") or "")
        return Result()

    async def _release(self, run: JsonObj, target: PlaneTarget) -> None:
        """The run's plane object is gone (its namespace is being deleted, say): release it without cleanup.

        Waiting would wait for ever - no agent can be vouched for by a plane object that does not exist -
        and would hold a namespace ``Terminating``. The objects left behind carry the run's labels; the
        orphan sweep of that planeID deletes them (through any plane object still naming it).
        """
        where = f"{target.kind} {target.name!r}" + (f" in {target.namespace!r}" if target.namespace else "")
        message = (
            f"{where} (planeID {target.plane_id!r}) no longer exists: the run is released without cleanup; "
            f"the orphan sweep of plane {target.plane_id!r} deletes its build-plane objects"
        )
        log.warning("run released: its build plane object is gone", plane=target.plane_id)
        await self._d.events.record(run, "Warning", "BuildPlaneGone", message)

    # ---- helpers -----------------------------------------------------------------------------------------
    def _workflow_changed(self, run: JsonObj) -> bool:
        """A revivable run's Workflow now exists, in a version other than the one it failed against."""
        ref, current = find_workflow(self._d.caches, run)
        if current is None:
            return False
        return state.status(run).get("resolvedWorkflow") != identity(current, ref.kind)

    def _wait_backoff(self, key: ObjectKey) -> float:
        """Seconds until a run waiting for its build plane looks again: 1, 2, 4 ... 300 (reset on success)."""
        attempt = self._waits.get(key, 0)
        self._waits[key] = attempt + 1
        return float(min(WAIT_INITIAL * 2 ** min(attempt, 16), WAIT_MAX))

    def _kw(self, run: JsonObj) -> dict[str, Any]:
        return {"gen": state.generation(run), "now": self._d.clock.now()}

    def _forget(self, key: ObjectKey, *, gone: bool = False) -> None:
        self._waits.pop(key, None)
        if gone:
            self._released.pop(key, None)
        self._writer.forget(key, gone=gone)
        self._tracker.forget(key)


def settled_expiry(run: JsonObj) -> float | None:
    """The runs cache's summary of a run: its ``expiry`` if its reconcile is only waiting for that, else None.

    ``reconcile``'s decisions for such a run, taken on the run alone: not being deleted, our finalizer in
    place (``_ensure_meta`` adds nothing), completed and not revivable (nothing to revive), and its TTL its
    own or one that can no longer be copied (a run not submitted and without a TTL may still get its
    Workflow's: that reads another cache). A TTL or completion time that does not parse takes the steps
    (their warning, or error), so it is None too.
    """
    if state.is_deleting(run) or not state.has_finalizer(run) or not state.is_completed(run):
        return None
    text = (run.get("spec") or {}).get("ttlAfterCompletion")
    if state.is_revivable(run) or not (text or state.is_submitted(run)):
        return None
    try:
        return expiry(parse_ttl(str(text or "")), parse_time(state.completed_at(run)))
    except (ValueError, TypeError, OverflowError):
        return None
