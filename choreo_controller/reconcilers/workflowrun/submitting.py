"""The submission of a run that has no run object yet (SPEC section 5 steps 3-6 and 8).

In order, each step either passes or raises with the reason the run will show:

1. cancel requested -> terminal ``Cancelled`` (nothing is submitted);
2. Workflow resolved (terminal ``WorkflowResolutionFailed``); its ``ttlAfterCompletion`` was already copied
   with the finalizer (``reconciler``);
3. Workflow valid (terminal ``InvalidSchema``/``InvalidTemplate``);
4. component runs: governance (the hook for SPEC section 6);
5. plane resolved (``WaitForPlane``: not terminal), any of the four kinds (``api.planes``);
6. parameters, external refs, render (``plan_run``: terminal reasons);
   then the concurrency gate (``gate``): queued (``WaitForEvent``), superseded (terminal ``Cancelled``),
   or admitted - a run that would fail never waits in a queue;
7. build namespace prerequisites (``openchoreo-ci-<ns>`` or ``workflows-<ns>``, by the plane's
   generation), extra resources, the run object (``submit.Submitter``); every error answer of the plane
   is a specific condition (``refused``), named by the plane's generation (``BuildPlane...`` or
   ``WorkflowPlane...``): unreachable, throttling or a 5xx (directly or through the relay's agent)
   ``...Unavailable``, 401/403 ``...Forbidden``, a kind it does not serve (404) ``...KindMissing`` - all
   waiting, with backoff - and a rejected object terminal ``RenderFailed``; the waiting transitions are
   Warning Events (``writer``);
8. one status write: ``startedAt``, ``WorkflowPending``, ``plane``, ``resolvedWorkflow``, ``resources``
   and ``runReference``.

No status write precedes the create (one request per run fewer): the names are deterministic and the
create idempotent (``submit``), so a crash between the create and step 8 repeats the submission, adopts
the objects and records them. A run deleted in that window has no plane recorded for its finalizer: if
the controller is running, step 8's write fails with ``Conflict`` and the submission deletes what it
created (``_record``); if it was down, the objects carry the run's uid label and the orphan sweep deletes
them (``sweep``). A run admitted by a concurrency group has its plane recorded before the create all the
same (``gate`` writes ``admittedAt``); a run that has to wait for its plane records it with the waiting
condition.

``Attempt`` carries the latest version of the run (each write returns a newer one) and the status fields
learned so far, so that a failure at any step is written on top of them with the right resourceVersion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NoReturn

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    TerminalError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from choreo_controller.reconcilers.workflowrun import finalize, state
from choreo_controller.reconcilers.workflowrun.cancel import cancelled_before_submission
from choreo_controller.reconcilers.workflowrun.gate import ConcurrencyGate
from choreo_controller.reconcilers.workflowrun.plan import plan_run
from choreo_controller.reconcilers.workflowrun.resolve import (
    PlaneRef,
    WaitForPlane,
    check_valid,
    identity,
    resolve_plane,
    resolve_workflow,
)
from choreo_controller.reconcilers.workflowrun.submit import DELETING_RETRY, RequeueSoon, Submitter

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj
    from choreo_controller.reconcilers.workflowrun.plan import Plan
    from choreo_controller.reconcilers.workflowrun.reconciler import RunDeps
    from choreo_controller.reconcilers.workflowrun.writer import StatusWriter

MAX_API_MESSAGE: Final = 300


@dataclass
class Attempt:
    """The run as last written, and status fields to keep if the attempt fails."""

    run: JsonObj
    found: dict[str, Any] = field(default_factory=dict)

    def status(self) -> dict[str, Any]:
        """The run's status with what this attempt learned merged in."""
        return {**state.status(self.run), **self.found}


class Submission:
    """Takes a run from "not submitted" to "run object created and recorded"."""

    def __init__(self, deps: RunDeps, writer: StatusWriter) -> None:
        self._d = deps
        self._writer = writer
        self._submitter = Submitter(deps.api)
        self._gate = ConcurrencyGate(deps.api, deps.caches.runs, deps.caches.components, writer, deps.clock)

    async def submit(self, attempt: Attempt) -> JsonObj:
        """Run steps 1-8 for ``attempt.run``; returns the run as last written."""
        d, run = self._d, attempt.run
        if state.cancel_requested(run):
            raise TerminalError(c.R_CANCELLED, cancelled_before_submission(run))
        kind, workflow = resolve_workflow(d.caches, run)
        attempt.found["resolvedWorkflow"] = identity(workflow, kind)
        check_valid(workflow)
        if state.has_component_label(run):
            # GOVERNANCE HOOK (SPEC section 6): ComponentType.allowedWorkflows and Component.spec.workflow
            # are checked here by the component issue's implementation; ``AllowAll`` until then.
            await d.governance.check(run, workflow)
        plane = resolve_plane(d.caches, run, workflow, kind)
        attempt.found["plane"] = plane.record()
        plan = plan_run(d.caches, run, workflow, plane, clock=d.clock, metrics=d.metrics)
        await self._gate.admit(attempt, workflow)
        run = attempt.run
        kw: dict[str, Any] = {"gen": state.generation(run), "now": d.clock.now()}
        if plan.warning:
            await d.events.record(
                run, "Warning", c.R_UNKNOWN_PARAMETERS, f"Unknown parameters: {plan.warning}"
            )
        await self._create(attempt, plane, plan)
        ref = plan.run_object.ref()
        what = f"{plan.engine.title} {ref['namespace']}/{ref['name']}"
        message = f"Submitted {what} to build plane {plane.plane_id!r}"
        if plan.warning:
            message += f" (unknown parameters {plan.warning})"
        st = {**attempt.status(), "runReference": ref}
        attempt.run = await self._record(attempt, plane, state.pending(st, message, **kw))
        return attempt.run

    async def _record(self, attempt: Attempt, plane: PlaneRef, desired: dict[str, Any]) -> JsonObj:
        """Step 8's write.

        A run deleted since it was read (``Conflict``) has recorded no plane for its finalizer to clean:
        the submission, which knows the plane, deletes what it created before giving up.
        """
        try:
            return await self._writer.write(attempt.run, desired)
        except Conflict:
            meta = state.meta(attempt.run)
            try:
                live = await self._d.api.get(WORKFLOW_RUN, str(meta["name"]), str(meta["namespace"]))
            except NotFound:
                live = None
            if live is None or state.meta(live).get("uid") != meta.get("uid") or state.is_deleting(live):
                api = self._d.planes.plane(plane.target(str(meta["namespace"]))).api
                await finalize.cleanup(api, attempt.run)
            raise

    async def _create(self, attempt: Attempt, plane: PlaneRef, plan: Plan) -> None:
        meta = state.meta(attempt.run)
        uid, plane_id, run_namespace = str(meta.get("uid") or ""), plane.plane_id, str(meta.get("namespace"))
        namespace = plane.kind.generation.build_namespace(run_namespace)
        what = f"the prerequisites of build namespace {namespace}"
        try:
            view = self._d.planes.plane(plane.target(run_namespace))
            for watched in plan.engine.watched:  # starts the caches tracking reads: their first LIST (through
                view.synced(watched)  # the relay) overlaps the submission, not the run's first phase change
            api = view.api
            await self._submitter.ensure_namespace(api, plane_id, namespace, plan.engine)
        except ApiError as exc:
            _raise_refused(exc, plane, what)
        created: list[dict[str, str]] = []
        for planned in (*plan.resources, plan.run_object):
            ref = planned.ref()
            try:
                await self._submitter.create(api, plane_id, planned, uid)
            except ApiError as exc:
                _raise_refused(exc, plane, f"{ref['kind']} {ref['namespace']}/{ref['name']}")
            if planned is not plan.run_object:
                created.append(planned.ref())
                attempt.found["resources"] = list(created)


def refused(exc: ApiError, plane: PlaneRef, what: str) -> Exception | None:
    """What the plane's answer to a write means for the run: every 4xx and 5xx says so, specifically.

    Retrying helps -> ``WaitForPlane`` with the reason of the plane's generation (unreachable, throttled or
    failing; refused by RBAC or the agent's allowlist; a kind it does not serve, i.e. a missing CRD),
    backoff and plane events bring it back; a vanished build namespace -> ``RequeueSoon`` (prepared again
    at once); the object itself rejected (400, 422) -> terminal ``RenderFailed``; anything else (``None``)
    propagates as it is, to the controller's rate-limited retry.
    """
    why = f"HTTP {exc.status}: {exc.message[:MAX_API_MESSAGE]}"
    plane_id, reasons = plane.plane_id, plane.kind.generation
    target = f" {what}" if what else ""
    if isinstance(exc, Unavailable | TooManyRequests | ServerError):
        unreachable = exc.message[:MAX_API_MESSAGE] or type(exc).__name__
        message = f"build plane {plane_id!r} cannot be reached ({unreachable}); retrying with backoff"
        return WaitForPlane(reasons.unavailable, message)
    if isinstance(exc, Unauthorized | Forbidden):
        message = f"build plane {plane_id!r} refused to create{target} ({why}); retrying with backoff"
        return WaitForPlane(reasons.forbidden, message)
    if isinstance(exc, NotFound) and exc.message.startswith('namespaces "'):
        return RequeueSoon(DELETING_RETRY, f"build namespace gone while creating{target}; preparing it again")
    if isinstance(exc, NotFound):
        message = (
            f"build plane {plane_id!r} does not serve the kind of{target} ({why}): is its CRD installed? "
            "Retrying with backoff"
        )
        return WaitForPlane(reasons.kind_missing, message)
    if isinstance(exc, Invalid | BadRequest):
        return TerminalError(c.R_RENDER_FAILED, f"build plane {plane_id!r} rejected{target}: {why}")
    return None


def _raise_refused(exc: ApiError, plane: PlaneRef, what: str) -> NoReturn:
    mapped = refused(exc, plane, what)
    if mapped is None:
        raise exc
    raise mapped from exc
