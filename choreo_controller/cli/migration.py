"""``migrate``: move a control plane from OpenChoreo 0.17's plane kinds to 1.x's, as a plan. Pure.

``plan(objects, namespaces)`` takes every plane object and Workflow of the cluster and returns the changes,
in order (optionally limited to some namespaces: one team at a time):

1. each BuildPlane (ClusterBuildPlane) gets a WorkflowPlane (ClusterWorkflowPlane) copy of the same name
   and namespace - the same spec (so the same planeID, clientCA and secret store), its labels and
   annotations, the annotation ``openchoreo.dev/migrated-from``, no status. A 1.x plane of that name that
   already exists is kept: with the same spec there is nothing to do; with another spec it is a conflict,
   and no Workflow is moved onto it;
2. each Workflow or ClusterWorkflow with a ``buildPlaneRef`` gets the ``workflowPlaneRef`` to that
   plane's copy instead (the CRD allows exactly this replacement), a patch carrying the resourceVersion it
   was planned on;
3. each Workflow without a reference whose runs resolve to a 0.17 plane today gets a ``workflowPlaneRef``
   to that plane's copy: it would otherwise keep resolving to the BuildPlane, whose kind comes first in
   ``api.planes``' order. One that resolves to a 1.x plane already, or to none, is left alone.

The 0.17 planes are not deleted: runs submitted before the migration recorded them (``status.plane``, or
``status.buildPlane``) and clean up through them and through the agents their clientCA vouches for. They
can go once no run records them.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import yaml

from choreo_controller.api import labels, planes
from choreo_controller.api.resources import CLUSTER_WORKFLOW, WORKFLOW

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj

ANNOTATION_MIGRATED_FROM: Final = f"{labels.PREFIX}/migrated-from"
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
WORKFLOW_KINDS: Final = (WORKFLOW, CLUSTER_WORKFLOW)


@dataclass(frozen=True, slots=True)
class Change:
    """One object to create, or to merge-patch (``patch``, carrying the resourceVersion it was planned on)."""

    action: Literal["create", "patch"]
    resource: ApiResource
    before: JsonObj | None
    after: JsonObj
    patch: JsonObj | None = None

    @property
    def title(self) -> str:
        """``create WorkflowPlane team-a/default``."""
        meta = self.after.get("metadata") or {}
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{self.action} {self.resource.kind} {where}{meta.get('name')}"


@dataclass(slots=True)
class Plan:
    """The changes in the order to apply them, and what was left alone and why."""

    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def successor(kind: planes.PlaneKind) -> planes.PlaneKind:
    """The 1.x kind of the same scope as a 0.17 kind."""
    return next(
        k
        for k in planes.PLANE_KINDS
        if k.generation is planes.WORKFLOW_PLANE_ERA and k.namespaced == kind.namespaced
    )


def _key(obj: JsonObj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _copy(obj: JsonObj, kind: planes.PlaneKind) -> JsonObj:
    meta = obj.get("metadata") or {}
    new_meta: dict[str, Any] = {"name": meta["name"]}
    if kind.namespaced:
        new_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        new_meta["labels"] = dict(meta["labels"])
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    old_kind = str(obj.get("kind") or "")
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    new_meta["annotations"] = {**annotations, ANNOTATION_MIGRATED_FROM: f"{old_kind}/{where}{meta['name']}"}
    return {
        "apiVersion": kind.resource.api_version,
        "kind": kind.kind,
        "metadata": new_meta,
        "spec": copy.deepcopy(obj.get("spec") or {}),
    }


def plan(objects: dict[str, list[JsonObj]], namespaces: frozenset[str] | None = None) -> Plan:
    """The migration of ``objects`` (by kind: the four plane kinds, Workflow, ClusterWorkflow).

    ``namespaces`` limits it to those namespaces (one team at a time): their BuildPlanes and Workflows,
    plus a copy of each cluster-scoped plane one of their Workflows resolves to; ClusterWorkflows and other
    cluster-scoped planes are then left for a migration without a limit.
    """
    out = Plan()
    copies = _Copies(objects, out)
    for kind in planes.PLANE_KINDS:
        if kind.generation is planes.BUILD_PLANE_ERA and (namespaces is None or kind.namespaced):
            for namespace, name in sorted(copies.existing[kind.kind]):
                if namespaces is None or namespace in namespaces:
                    copies.ensure(kind, namespace, name)
    for resource in WORKFLOW_KINDS:
        if namespaces is not None and not resource.namespaced:
            continue
        for obj in sorted(objects.get(resource.kind, []), key=_key):
            if namespaces is None or _key(obj)[0] in namespaces:
                change = _workflow_change(resource, obj, copies, out)
                if change is not None:
                    out.changes.append(change)
    return out


class _Copies:
    """The 1.x copy of each 0.17 plane, decided once: created, already there, or in conflict."""

    def __init__(self, objects: dict[str, list[JsonObj]], out: Plan) -> None:
        self.existing = {k.kind: {_key(o): o for o in objects.get(k.kind, [])} for k in planes.PLANE_KINDS}
        self._out = out
        self._usable: dict[tuple[str, str, str], bool] = {}

    def ensure(self, kind: planes.PlaneKind, namespace: str, name: str) -> bool:
        """Plan the copy of the 0.17 plane ``kind`` ``namespace/name``; whether Workflows may move onto it."""
        target = successor(kind)
        key = (target.kind, namespace, name)
        if key in self._usable:
            return self._usable[key]
        obj = self.existing[kind.kind][(namespace, name)]
        wanted = _copy({**obj, "kind": kind.kind}, target)
        found = self.existing[target.kind].get((namespace, name))
        what = f"{target.kind} {namespace + '/' if namespace else ''}{name}"
        if found is None:
            self._out.changes.append(Change("create", target.resource, None, wanted))
        elif (found.get("spec") or {}) == wanted["spec"]:
            self._out.kept.append(f"{what} exists with the same spec")
        else:
            self._out.conflicts.append(
                f"{what} exists with another spec than its {kind.kind}; neither it nor the Workflows using "
                "that plane are changed"
            )
        self._usable[key] = found is None or (found.get("spec") or {}) == wanted["spec"]
        return self._usable[key]


def _workflow_change(resource: ApiResource, obj: JsonObj, copies: _Copies, out: Plan) -> Change | None:
    namespace, name = _key(obj)
    spec = obj.get("spec") or {}
    what = f"{resource.kind} {namespace + '/' if namespace else ''}{name}"
    if isinstance(spec.get("workflowPlaneRef"), dict):
        return None  # 1.x already

    def lookup(kind: planes.PlaneKind, plane: str) -> JsonObj | None:
        return copies.existing[kind.kind].get((namespace if kind.namespaced else "", plane))

    try:
        _, _, found = planes.resolve({"spec": spec}, cluster_workflow=not resource.namespaced, lookup=lookup)
    except planes.PlaneRefError as error:
        out.conflicts.append(f"{what}: {error}; left as it is")
        return None
    if found is None:
        if isinstance(spec.get("buildPlaneRef"), dict):
            out.conflicts.append(f"{what}: its buildPlaneRef names no existing plane; left as it is")
        return None
    candidate, _ = found
    if candidate.kind.generation is not planes.BUILD_PLANE_ERA:
        return None  # resolves to a 1.x plane already
    plane_namespace = namespace if candidate.kind.namespaced else ""
    if not copies.ensure(candidate.kind, plane_namespace, candidate.name):
        return None  # the conflict is reported with the plane
    ref = {"kind": successor(candidate.kind).kind, "name": candidate.name}
    after = copy.deepcopy(obj)
    after["spec"].pop("buildPlaneRef", None)
    after["spec"]["workflowPlaneRef"] = ref
    patch: JsonObj = {
        "metadata": {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion")},
        "spec": {"workflowPlaneRef": ref},
    }
    if "buildPlaneRef" in spec:
        patch["spec"]["buildPlaneRef"] = None
    return Change("patch", resource, obj, after, patch)


def view(obj: JsonObj | None, kind: str) -> str:
    """What a diff shows of an object: its identity, labels, annotations and spec, as YAML."""
    if obj is None:
        return ""
    meta = obj.get("metadata") or {}
    shown_meta = {k: meta[k] for k in ("name", "namespace", "labels") if meta.get(k)}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        shown_meta["annotations"] = annotations
    shown = {
        "apiVersion": obj.get("apiVersion"),
        "kind": kind,
        "metadata": shown_meta,
        "spec": obj.get("spec") or {},
    }
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False)


def diff(change: Change) -> str:
    """A unified diff of the change (a created object is all additions)."""
    name = change.title.split(" ", 1)[1]
    before = view(change.before, change.resource.kind).splitlines(keepends=True)
    after = view(change.after, change.resource.kind).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, "/dev/null" if change.before is None else name, name))
