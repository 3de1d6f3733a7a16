"""Resolution from the control-plane caches: the run's Workflow, its build plane, its external refs.

All reads come from informer caches (``ports.Caches``); nothing here writes. Failures carry the reason the
run's conditions will show and a message a developer can act on:

* Workflow (or ClusterWorkflow) missing -> terminal ``WorkflowResolutionFailed``; its schema or templates
  broken -> terminal ``InvalidSchema`` / ``InvalidTemplate`` (the same checks as the Workflow's ``Ready``
  condition). These three are *revivable*: the run is retried when the Workflow appears or changes.
* Build plane: ``spec.buildPlaneRef`` of the Workflow, else BuildPlane ``default`` in the run's namespace,
  else ClusterBuildPlane ``default``. None found -> ``WaitForPlane(BuildPlaneNotFound)``: not terminal,
  retried with backoff and on every BuildPlane event.
* External refs (only ``SecretReference``, in the run's namespace) missing -> terminal
  ``ExternalRefNotFound``. Their contents go to the renderer only; never into a message or a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.contracts import ObjectKey, TerminalError
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.render import check_workflow
from choreo_controller.schema import compile_workflow_schema

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj
    from choreo_controller.reconcilers.ports import Caches
    from choreo_controller.render import ExternalRefRequest

DEFAULT_PLANE: Final = "default"
MAX_PROBLEMS: Final = 10


class Wait(Exception):
    """The run cannot go on yet: it waits (``WorkflowCompleted=False/<reason>``), retried with backoff."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class WaitForPlane(Wait):
    """The build plane cannot be used yet (missing, unreachable, refusing); BuildPlane events wake the run."""


class WaitForEvent(Wait):
    """The run waits for another object to change (its concurrency group's holder): no backoff timer."""


@dataclass(frozen=True, slots=True)
class PlaneRef:
    """The build plane a run goes to, as recorded in ``status.buildPlane``."""

    kind: str
    name: str
    plane_id: str
    obj: JsonObj

    def record(self) -> dict[str, str]:
        """``status.buildPlane``."""
        return {"kind": self.kind, "name": self.name, "planeID": self.plane_id}

    def target(self) -> PlaneTarget:
        """The port's name for this plane."""
        namespace = str((self.obj.get("metadata") or {}).get("namespace") or "")
        namespace = namespace if self.kind == "BuildPlane" else ""
        return PlaneTarget(self.plane_id, self.kind, namespace, self.name)


def recorded_target(run: JsonObj) -> PlaneTarget | None:
    """The plane ``status.buildPlane`` recorded (a BuildPlane lives in the run's namespace), if any."""
    plane = ((run.get("status") or {}).get("buildPlane")) or {}
    if not plane.get("planeID"):
        return None
    kind = str(plane.get("kind") or "")
    namespace = str((run.get("metadata") or {}).get("namespace") or "") if kind == "BuildPlane" else ""
    return PlaneTarget(str(plane["planeID"]), kind, namespace, str(plane.get("name") or ""))


def plane_object_gone(caches: Caches, target: PlaneTarget) -> bool:
    """The plane object a run recorded no longer exists (or names another planeID now).

    Then no agent can ever be vouched for by it again (relay mode refuses the target), so waiting for it
    would wait for ever: the run is released or waits for a new one instead (``reconciler``, ``tracking``).
    """
    if target.kind == "BuildPlane":
        obj = caches.build_planes.get(ObjectKey(target.namespace, target.name))
    elif target.kind == "ClusterBuildPlane":
        obj = caches.cluster_build_planes.get(ObjectKey("", target.name))
    else:
        return False  # direct mode: one cluster serves every planeID
    return obj is None or str((obj.get("spec") or {}).get("planeID") or target.name) != target.plane_id


def workflow_ref(run: JsonObj) -> tuple[str, str]:
    """``(kind, name)`` of the run's Workflow; kind defaults to ``Workflow``."""
    ref = (run.get("spec") or {}).get("workflow") or {}
    return str(ref.get("kind") or "Workflow"), str(ref.get("name") or "")


def workflow_index_value(kind: str, namespace: str, name: str) -> str:
    """The "runs by workflow" index value: ``Workflow/<ns>/<name>`` or ``ClusterWorkflow/<name>``."""
    return f"{kind}/{name}" if kind == "ClusterWorkflow" else f"{kind}/{namespace}/{name}"


def cached_workflow(caches: Caches, run: JsonObj) -> JsonObj | None:
    """The run's Workflow or ClusterWorkflow as the cache holds it; ``None`` if missing."""
    kind, name = workflow_ref(run)
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    return (
        caches.cluster_workflows.get(ObjectKey("", name))
        if kind == "ClusterWorkflow"
        else caches.workflows.get(ObjectKey(namespace, name))
    )


def resolve_workflow(caches: Caches, run: JsonObj) -> JsonObj:
    """The run's Workflow or ClusterWorkflow (cached); terminal ``WorkflowResolutionFailed`` if missing."""
    found = cached_workflow(caches, run)
    if found is None:
        kind, name = workflow_ref(run)
        namespace = str((run.get("metadata") or {}).get("namespace") or "")
        where = "" if kind == "ClusterWorkflow" else f" in namespace {namespace!r}"
        raise TerminalError(
            c.R_WORKFLOW_RESOLUTION_FAILED,
            f"{kind} {name!r} not found{where}; create it and this run starts",
        )
    return found


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


def resolve_plane(caches: Caches, run: JsonObj, workflow: JsonObj) -> PlaneRef:
    """The build plane for ``run``; ``WaitForPlane(BuildPlaneNotFound)`` if none exists (yet)."""
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    ref = (workflow.get("spec") or {}).get("buildPlaneRef") or {}
    if ref:
        kind, name = str(ref.get("kind") or "BuildPlane"), str(ref.get("name") or "")
        candidates = [(kind, name)]
    else:
        candidates = [("BuildPlane", DEFAULT_PLANE), ("ClusterBuildPlane", DEFAULT_PLANE)]
    for kind, name in candidates:
        if kind == "BuildPlane":
            obj = caches.build_planes.get(ObjectKey(namespace, name))
        elif kind == "ClusterBuildPlane":
            obj = caches.cluster_build_planes.get(ObjectKey("", name))
        else:
            raise WaitForPlane(c.R_BUILD_PLANE_RESOLUTION_FAILED, f"buildPlaneRef.kind {kind!r} is unknown")
        if obj is not None:
            plane_id = str((obj.get("spec") or {}).get("planeID") or name)
            return PlaneRef(kind, name, plane_id, obj)
    wanted = " or ".join(
        f"{k} {n!r}" + (f" in namespace {namespace!r}" if k == "BuildPlane" else "") for k, n in candidates
    )
    raise WaitForPlane(c.R_BUILD_PLANE_NOT_FOUND, f"no build plane: {wanted} does not exist; waiting for it")


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
