"""One model behind the four plane kinds of the two OpenChoreo API generations.

BuildPlane and ClusterBuildPlane are OpenChoreo 0.17's; WorkflowPlane and ClusterWorkflowPlane are 1.x's
(BuildPlane was renamed in v1.0.0). A plane kind belongs to a ``Generation``, and the generation decides
everything that differs between the two eras: the build namespace a run's objects go to
(``openchoreo-ci-<ns>`` / ``workflows-<ns>``), the URI an agent certificate names
(``openchoreo://buildplane/<id>`` / ``openchoreo://workflowplane/<id>``), the Workflow field that
references the plane and the condition reasons a run shows. Everything else - planeID, clientCA, secret
store, ``status.agentConnection`` - is the same shape in all four kinds.

This table is the one place those facts live: plane resolution, rendering (``metadata.namespace``), the
relay (identity, allowlist, plane watcher, status writes), cleanup, the orphan sweep, the RBAC manifests'
tests and ``migrate`` all read it.

Plane resolution for a run (``resolve``), documented in ``docs/planes.md``:

1. the Workflow's ``workflowPlaneRef`` or ``buildPlaneRef`` (at most one is set; the CRD refuses both):
   that object - a namespaced kind in the run's namespace;
2. neither, for a namespaced Workflow: ``default`` of BuildPlane, then WorkflowPlane, in the run's
   namespace; then ClusterBuildPlane ``default``, then ClusterWorkflowPlane ``default``;
3. neither, for a ClusterWorkflow: ClusterBuildPlane ``default``, then ClusterWorkflowPlane ``default``.

Within one scope the 0.17 kind comes first, so creating 1.x planes never moves a team whose YAML does not
ask for it (``migrate`` is the explicit move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import (
    BUILD_PLANE,
    CLUSTER_BUILD_PLANE,
    CLUSTER_WORKFLOW_PLANE,
    WORKFLOW_PLANE,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import ApiResource, JsonObj

DEFAULT_PLANE: Final = "default"


@dataclass(frozen=True, slots=True)
class Generation:
    """What one OpenChoreo API era decides for its planes."""

    name: str  # "0.17" | "1.x", for messages
    ref_field: str  # the Workflow field naming a plane of this era
    namespace_prefix: str  # build namespaces: <prefix><run namespace>
    identity: str  # agent certificates name openchoreo://<identity>/<planeID>
    not_found: str  # condition reasons of a run waiting for a plane of this era
    resolution_failed: str
    unavailable: str
    forbidden: str
    kind_missing: str

    def build_namespace(self, namespace: str) -> str:
        """The build-plane namespace of a control-plane namespace."""
        return f"{self.namespace_prefix}{namespace}"


BUILD_PLANE_ERA: Final = Generation(
    "0.17",
    "buildPlaneRef",
    "openchoreo-ci-",
    "buildplane",
    c.R_BUILD_PLANE_NOT_FOUND,
    c.R_BUILD_PLANE_RESOLUTION_FAILED,
    c.R_BUILD_PLANE_UNAVAILABLE,
    c.R_BUILD_PLANE_FORBIDDEN,
    c.R_BUILD_PLANE_KIND_MISSING,
)
WORKFLOW_PLANE_ERA: Final = Generation(
    "1.x",
    "workflowPlaneRef",
    "workflows-",
    "workflowplane",
    c.R_WORKFLOW_PLANE_NOT_FOUND,
    c.R_WORKFLOW_PLANE_RESOLUTION_FAILED,
    c.R_WORKFLOW_PLANE_UNAVAILABLE,
    c.R_WORKFLOW_PLANE_FORBIDDEN,
    c.R_WORKFLOW_PLANE_KIND_MISSING,
)
GENERATIONS: Final = (BUILD_PLANE_ERA, WORKFLOW_PLANE_ERA)


@dataclass(frozen=True, slots=True)
class PlaneKind:
    """One of the four plane kinds."""

    resource: ApiResource
    generation: Generation

    @property
    def kind(self) -> str:
        """``BuildPlane``, ``ClusterWorkflowPlane``, ..."""
        return self.resource.kind

    @property
    def namespaced(self) -> bool:
        """A namespaced kind serves runs of its own namespace only."""
        return self.resource.namespaced


PLANE_KINDS: Final = (
    PlaneKind(BUILD_PLANE, BUILD_PLANE_ERA),
    PlaneKind(CLUSTER_BUILD_PLANE, BUILD_PLANE_ERA),
    PlaneKind(WORKFLOW_PLANE, WORKFLOW_PLANE_ERA),
    PlaneKind(CLUSTER_WORKFLOW_PLANE, WORKFLOW_PLANE_ERA),
)
BY_KIND: Final[dict[str, PlaneKind]] = {k.kind: k for k in PLANE_KINDS}
#: Resolution order without a ref (module docstring): namespaced Workflows, then ClusterWorkflows.
DEFAULTS_NAMESPACED: Final = ("BuildPlane", "WorkflowPlane", "ClusterBuildPlane", "ClusterWorkflowPlane")
DEFAULTS_CLUSTER: Final = ("ClusterBuildPlane", "ClusterWorkflowPlane")


def plane_kind(kind: str) -> PlaneKind | None:
    """The plane kind named ``kind``, or ``None``."""
    return BY_KIND.get(kind)


def generation_of(kind: str) -> Generation:
    """The generation of a plane kind; an unknown or empty kind is the 0.17 one (runs of direct mode)."""
    known = BY_KIND.get(kind)
    return known.generation if known is not None else BUILD_PLANE_ERA


def build_namespace(kind: str, namespace: str) -> str:
    """``openchoreo-ci-<namespace>`` (BuildPlane kinds) or ``workflows-<namespace>`` (WorkflowPlane kinds)."""
    return generation_of(kind).build_namespace(namespace)


def plane_id(obj: JsonObj) -> str:
    """``spec.planeID``, defaulting to the object's name."""
    return str((obj.get("spec") or {}).get("planeID") or (obj.get("metadata") or {}).get("name") or "")


def secret_store(obj: JsonObj | None) -> str:
    """``spec.secretStoreRef.name``; ``""`` when unset (what OpenChoreo renders)."""
    ref = ((obj or {}).get("spec") or {}).get("secretStoreRef")
    return str(ref.get("name") or "") if isinstance(ref, dict) else ""


# ---- resolution ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Candidate:
    """A plane object a Workflow may use: kind and name (a namespaced kind lives in the run's namespace)."""

    kind: PlaneKind
    name: str

    def describe(self, namespace: str) -> str:
        """``BuildPlane 'default' in namespace 'team-a'`` / ``ClusterWorkflowPlane 'default'``."""
        where = f" in namespace {namespace!r}" if self.kind.namespaced else ""
        return f"{self.kind.kind} {self.name!r}{where}"


class PlaneRefError(ValueError):
    """A Workflow's plane reference cannot name any plane (both refs, an unknown or namespaced kind...)."""

    def __init__(self, generation: Generation, message: str) -> None:
        super().__init__(message)
        self.generation = generation


def workflow_ref(workflow: JsonObj) -> tuple[Generation, dict[str, Any]] | None:
    """The Workflow's ``workflowPlaneRef`` or ``buildPlaneRef`` with its generation; ``None`` if neither."""
    spec = workflow.get("spec") or {}
    found = [(g, spec[g.ref_field]) for g in GENERATIONS if isinstance(spec.get(g.ref_field), dict)]
    if len(found) > 1:
        raise PlaneRefError(WORKFLOW_PLANE_ERA, "buildPlaneRef and workflowPlaneRef are both set")
    return found[0] if found else None


def candidates(workflow: JsonObj, *, cluster_workflow: bool) -> tuple[Generation, list[Candidate]]:
    """The planes to try, in order, and the generation whose reasons a miss reports.

    Raises ``PlaneRefError`` for a reference that can name no plane: an unknown kind, a kind of the other
    generation, or a namespaced kind from a ClusterWorkflow.
    """
    ref = workflow_ref(workflow)
    if ref is None:
        order = DEFAULTS_CLUSTER if cluster_workflow else DEFAULTS_NAMESPACED
        return BUILD_PLANE_ERA, [Candidate(BY_KIND[k], DEFAULT_PLANE) for k in order]
    generation, body = ref
    default_kind = "ClusterBuildPlane" if cluster_workflow else "BuildPlane"
    kind_name = str(body.get("kind") or (default_kind if generation is BUILD_PLANE_ERA else ""))
    kind = BY_KIND.get(kind_name)
    if kind is None or kind.generation is not generation:
        message = f"{generation.ref_field}.kind {kind_name!r} is not a plane kind it allows"
        raise PlaneRefError(generation, message)
    if cluster_workflow and kind.namespaced:
        raise PlaneRefError(generation, f"a ClusterWorkflow cannot use a namespaced {kind.kind}")
    return generation, [Candidate(kind, str(body.get("name") or ""))]


def resolve(
    workflow: JsonObj,
    *,
    cluster_workflow: bool,
    lookup: Callable[[PlaneKind, str], JsonObj | None],
) -> tuple[Generation, list[Candidate], tuple[Candidate, JsonObj] | None]:
    """The first candidate ``lookup(kind, name)`` finds, with the generation and the candidates tried."""
    generation, tried = candidates(workflow, cluster_workflow=cluster_workflow)
    for candidate in tried:
        obj = lookup(candidate.kind, candidate.name)
        if obj is not None:
            return candidate.kind.generation, tried, (candidate, obj)
    return generation, tried, None
