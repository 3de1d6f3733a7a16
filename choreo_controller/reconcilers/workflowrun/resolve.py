"""Resolution from the control-plane caches: the run's Workflow, its plane, its external refs.

All reads come from informer caches (``ports.Caches``); nothing here writes. Failures carry the reason the
run's conditions will show and a message a developer can act on:

* Workflow: ``spec.workflow.kind`` names the kind; without it the namespace's Workflow of that name if one
  exists, else the ClusterWorkflow (``api.refs``; ``status.resolvedWorkflow`` records which). Missing ->
  terminal ``WorkflowResolutionFailed``; its schema or templates broken -> terminal ``InvalidSchema`` /
  ``InvalidTemplate`` (the same checks as the Workflow's ``Ready`` condition). These three are
  *revivable*: the run is retried when the Workflow appears or changes.
* Plane: ``api.planes.resolve`` - the Workflow's ``workflowPlaneRef`` or ``buildPlaneRef``, else the
  ``default`` planes in the documented order, any of the four kinds. None found ->
  ``WaitForPlane(BuildPlaneNotFound | WorkflowPlaneNotFound)``, the generation the Workflow asked for: not
  terminal, retried with backoff and on every plane event. ``status.plane`` records the plane; runs
  submitted before that field existed recorded ``status.buildPlane``, still read for their cleanup.
* External refs (only ``SecretReference``, in the run's namespace) missing -> terminal
  ``ExternalRefNotFound``. Their contents go to the renderer only; never into a message or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api import planes, refs
from choreo_controller.contracts import ObjectKey, TerminalError
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.render import check_workflow
from choreo_controller.schema import compile_workflow_schema

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj
    from choreo_controller.reconcilers.ports import Caches
    from choreo_controller.render import ExternalRefRequest

MAX_PROBLEMS: Final = 10


class Wait(Exception):
    """The run cannot go on yet: it waits (``WorkflowCompleted=False/<reason>``), retried with backoff."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class WaitForPlane(Wait):
    """The plane cannot be used yet (missing, unreachable, refusing); events of plane objects wake the run."""


class WaitForEvent(Wait):
    """The run waits for another object to change (its concurrency group's holder): no backoff timer."""


@dataclass(frozen=True, slots=True)
class PlaneRef:
    """The plane a run goes to, as recorded in ``status.plane``; ``obj`` carries its ``kind``."""

    kind: planes.PlaneKind
    name: str
    plane_id: str
    obj: JsonObj

    def record(self) -> dict[str, str]:
        """``status.plane``."""
        return {"kind": self.kind.kind, "name": self.name, "planeID": self.plane_id}

    def target(self, run_namespace: str) -> PlaneTarget:
        """The port's name for this plane (a namespaced plane lives in the run's namespace)."""
        return PlaneTarget(
            self.plane_id, self.kind.kind, run_namespace if self.kind.namespaced else "", self.name
        )


def recorded_plane(run: JsonObj) -> dict[str, Any]:
    """``status.plane``, or ``status.buildPlane`` of a run submitted before ``plane`` existed."""
    st = run.get("status") or {}
    return dict(st.get("plane") or st.get("buildPlane") or {})


def recorded_target(run: JsonObj) -> PlaneTarget | None:
    """The plane the run recorded (a namespaced plane lives in the run's namespace), if any."""
    plane = recorded_plane(run)
    if not plane.get("planeID"):
        return None
    kind = planes.plane_kind(str(plane.get("kind") or ""))
    namespace = str((run.get("metadata") or {}).get("namespace") or "") if kind and kind.namespaced else ""
    return PlaneTarget(
        str(plane["planeID"]), str(plane.get("kind") or ""), namespace, str(plane.get("name") or "")
    )


def plane_object_gone(caches: Caches, target: PlaneTarget) -> bool:
    """The plane object a run recorded no longer exists (or names another planeID now).

    Then no agent can ever be vouched for by it again (relay mode refuses the target), so waiting for it
    would wait for ever: the run is released or waits for a new one instead (``reconciler``, ``tracking``).
    """
    kind = planes.plane_kind(target.kind)
    if kind is None:
        return False  # direct mode: one cluster serves every planeID
    obj = caches.planes[kind.kind].get(ObjectKey(target.namespace if kind.namespaced else "", target.name))
    return obj is None or planes.plane_id(obj) != target.plane_id


def workflow_ref(run: JsonObj) -> refs.WorkflowRef:
    """The run's ``spec.workflow`` reference as written (``kind`` ``""`` when omitted)."""
    return refs.workflow_ref((run.get("spec") or {}).get("workflow")) or refs.WorkflowRef("", "")


def workflow_index_value(kind: str, namespace: str, name: str) -> str:
    """The "runs by workflow" index value: ``Workflow/<ns>/<name>`` or ``ClusterWorkflow/<name>``."""
    return f"{kind}/{name}" if kind == refs.CLUSTER_WORKFLOW else f"{kind}/{namespace}/{name}"


def find_workflow(caches: Caches, run: JsonObj) -> tuple[refs.WorkflowRef, JsonObj | None]:
    """The run's reference with its kind decided, and the cached Workflow or ClusterWorkflow (or ``None``)."""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    ref = workflow_ref(run).resolved(
        lambda name: caches.workflows.get(ObjectKey(namespace, name)) is not None
    )
    if ref.kind == refs.CLUSTER_WORKFLOW:
        return ref, caches.cluster_workflows.get(ObjectKey("", ref.name))
    return ref, caches.workflows.get(ObjectKey(namespace, ref.name))


def cached_workflow(caches: Caches, run: JsonObj) -> JsonObj | None:
    """The run's Workflow or ClusterWorkflow as the cache holds it; ``None`` if missing."""
    return find_workflow(caches, run)[1]


def resolve_workflow(caches: Caches, run: JsonObj) -> tuple[str, JsonObj]:
    """``(kind, object)`` of the run's Workflow (cached); terminal ``WorkflowResolutionFailed`` if missing."""
    written = workflow_ref(run)
    ref, found = find_workflow(caches, run)
    if found is None:
        namespace = str((run.get("metadata") or {}).get("namespace") or "")
        if written.kind:
            where = "" if ref.kind == refs.CLUSTER_WORKFLOW else f" in namespace {namespace!r}"
            what = f"{ref.kind} {ref.name!r} not found{where}"
        else:
            what = (
                f"neither Workflow {ref.name!r} in namespace {namespace!r} nor ClusterWorkflow {ref.name!r} "
                "exists"
            )
        raise TerminalError(c.R_WORKFLOW_RESOLUTION_FAILED, f"{what}; create it and this run starts")
    return ref.kind, found


def check_valid(workflow: JsonObj) -> None:
    """Raise ``InvalidSchema``/``InvalidTemplate`` (terminal) if the Workflow cannot produce any run."""
    compile_workflow_schema(workflow)  # raises InvalidSchema
    problems = check_workflow(workflow)
    if problems:
        shown = "; ".join(p.message for p in problems[:MAX_PROBLEMS])
        more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise TerminalError(c.R_INVALID_TEMPLATE, f"the Workflow's templates are invalid: {shown}{more}")


def identity(workflow: JsonObj, kind: str) -> dict[str, Any]:
    """``status.resolvedWorkflow``: which version of which Workflow the run used (or failed against)."""
    meta = workflow.get("metadata") or {}
    return {
        "kind": kind,
        "name": str(meta.get("name") or ""),
        "uid": str(meta.get("uid") or ""),
        "generation": int(meta.get("generation") or 0),
    }


def resolve_plane(caches: Caches, run: JsonObj, workflow: JsonObj, workflow_kind: str) -> PlaneRef:
    """The plane for ``run``; ``WaitForPlane(<generation>NotFound)`` if none exists (yet)."""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")

    def lookup(kind: planes.PlaneKind, name: str) -> JsonObj | None:
        return caches.planes[kind.kind].get(ObjectKey(namespace if kind.namespaced else "", name))

    try:
        generation, tried, found = planes.resolve(
            workflow, cluster_workflow=workflow_kind == refs.CLUSTER_WORKFLOW, lookup=lookup
        )
    except planes.PlaneRefError as error:
        raise WaitForPlane(error.generation.resolution_failed, str(error)) from None
    if found is None:
        wanted = " or ".join(candidate.describe(namespace) for candidate in tried)
        raise WaitForPlane(generation.not_found, f"no plane: {wanted} does not exist; waiting for it")
    candidate, obj = found
    with_kind = {**obj, "kind": candidate.kind.kind}  # the renderer derives the build namespace from it
    return PlaneRef(candidate.kind, candidate.name, planes.plane_id(obj), with_kind)


def fetch_external_refs(
    caches: Caches, run: JsonObj, requests: list[ExternalRefRequest]
) -> dict[str, dict[str, Any]]:
    """The SecretReferences the Workflow names, by ref id; terminal ``ExternalRefNotFound`` if missing."""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    refs: dict[str, dict[str, Any]] = {}
    for request in requests:
        if request.name is None:
            continue  # rendered empty: the ref is skipped
        if request.kind != "SecretReference":
            raise TerminalError(
                c.R_EXTERNAL_REF_NOT_FOUND,
                f"externalRefs {request.id!r}: kind {request.kind!r} is not supported (only SecretReference)",
            )
        obj = caches.secret_references.get(ObjectKey(namespace, request.name))
        if obj is None:
            raise TerminalError(
                c.R_EXTERNAL_REF_NOT_FOUND,
                f"externalRefs {request.id!r}: SecretReference {request.name!r} not found in namespace "
                f"{namespace!r}",
            )
        refs[request.id] = obj
    return refs
