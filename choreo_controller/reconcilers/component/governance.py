"""Governance of component workflows (SPEC section 6): may this Component build with this Workflow.

Two questions, one pure core:

* ``check_component(component, component_type, resolve, *, workflow_exists)`` - the Component's own
  ``spec.workflow``: its ComponentType (or ClusterComponentType) exists and matches, the workflow is in
  ``allowedWorkflows`` (an empty list allows none) and exists. The ``ComponentReconciler`` turns the
  answer into ``Ready``.
* ``check_run(run, component, component_type, resolve)`` - a WorkflowRun labelled ``openchoreo.dev/project``
  + ``openchoreo.dev/component`` (both or neither: one alone is an error): the Component exists and belongs
  to that project, its ComponentType exists, and the run's workflow is allowed *and* is the Component's
  configured one. The engine turns a refusal into terminal ``ComponentValidationFailed``.

Both return a ``Verdict`` (``None`` when allowed) whose message names the allowed workflows, so a developer
sees at once what would have been accepted. Workflow references are compared after ``api.refs`` decided
their kind (``resolve``): an entry without ``kind`` is the namespace's Workflow of that name if one exists,
else the ClusterWorkflow - the same rule the engine uses for the run itself. A ClusterComponentType only
ever allows ClusterWorkflows. Component types are read in either shape (``api.refs.component_type_ref``).

IO is at the edge: ``check_run_governance(run, lookup)`` fetches the objects through a small async
``ComponentLookup`` (``CachedLookup`` over informer caches, ``ApiLookup`` over a ``KubeApi``) and raises
``TerminalError``. ``ComponentGovernance`` is that, shaped as the engine's ``ports.Governance`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from choreo_controller.api import conditions as c
from choreo_controller.api import labels, refs
from choreo_controller.api.refs import ComponentTypeRef, WorkflowRef
from choreo_controller.api.resources import CLUSTER_COMPONENT_TYPE, COMPONENT, COMPONENT_TYPE, WORKFLOW
from choreo_controller.contracts import NotFound, ObjectKey, TerminalError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.reconcilers.ports import Reader

# Reasons of the Component's Ready condition.
R_WORKFLOW_NOT_ALLOWED: Final = "WorkflowNotAllowed"
R_WORKFLOW_NOT_FOUND: Final = "WorkflowNotFound"
R_COMPONENT_TYPE_NOT_FOUND: Final = "ComponentTypeNotFound"
R_INVALID_COMPONENT_TYPE: Final = "InvalidComponentType"
R_INVALID_LABELS: Final = "InvalidLabels"
R_COMPONENT_NOT_FOUND: Final = "ComponentNotFound"
R_PROJECT_MISMATCH: Final = "ProjectMismatch"
R_WORKFLOW_MISMATCH: Final = "WorkflowMismatch"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal: ``reason`` (CamelCase, for the Component's ``Ready``) and an actionable message."""

    reason: str
    message: str


# ---- pure core ----------------------------------------------------------------------------------------
def resolver(namespaced_workflows: Callable[[str], bool]) -> Callable[[WorkflowRef], WorkflowRef]:
    """``resolve`` for one namespace: ``namespaced_workflows(name)`` says whether its Workflow exists."""
    return lambda ref: ref.resolved(namespaced_workflows)


def allowed_workflows(
    component_type: JsonObj, type_ref: ComponentTypeRef, resolve: Callable[[WorkflowRef], WorkflowRef]
) -> list[WorkflowRef]:
    """The ComponentType's ``allowedWorkflows``, in order, kinds decided."""
    entries = (component_type.get("spec") or {}).get("allowedWorkflows") or []
    found = [ref for ref in (refs.workflow_ref(e) for e in entries) if ref is not None]
    if type_ref.cluster_scoped:  # a ClusterComponentType allows ClusterWorkflows only
        return [r.resolved(lambda _: False, cluster_only=True) for r in found]
    return [resolve(r) for r in found]


def allowed_text(allowed: list[WorkflowRef]) -> str:
    """``allowed: Workflow/a, ClusterWorkflow/b`` or ``allowed: none (allowedWorkflows is empty)``."""
    return "allowed: " + (", ".join(map(str, allowed)) if allowed else "none (allowedWorkflows is empty)")


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def check_type(
    component: JsonObj, type_ref: ComponentTypeRef | None, component_type: JsonObj | None
) -> Verdict | None:
    """The Component's ``componentType`` is well formed and names an existing type of that workload type."""
    text = refs.component_type_text(component)
    if type_ref is None:
        return Verdict(
            R_INVALID_COMPONENT_TYPE,
            f"Component {_name(component)!r} has componentType {text}; expected '<workloadType>/<name>' "
            "or {kind: ComponentType|ClusterComponentType, name: '<workloadType>/<name>'}",
        )
    if component_type is None:
        where = (
            ""
            if type_ref.cluster_scoped
            else (f" in namespace {(component.get('metadata') or {}).get('namespace')!r}")
        )
        return Verdict(
            R_COMPONENT_TYPE_NOT_FOUND,
            f"{type_ref.kind} {type_ref.name!r} (componentType {text} of Component {_name(component)!r}) "
            f"not found{where}",
        )
    actual = str((component_type.get("spec") or {}).get("workloadType") or "")
    if actual != type_ref.workload_type:
        return Verdict(
            R_INVALID_COMPONENT_TYPE,
            f"{type_ref.kind} {type_ref.name!r} has workloadType {actual!r}, but Component "
            f"{_name(component)!r} declares {type_ref.workload_type!r} (componentType {text})",
        )
    return None


def check_allowed(ref: WorkflowRef, allowed: list[WorkflowRef], component_type: JsonObj) -> Verdict | None:
    """``ref`` (kind decided) is in ``allowed``."""
    if ref in allowed:
        return None
    return Verdict(
        R_WORKFLOW_NOT_ALLOWED,
        f"{ref} is not allowed by ComponentType {_name(component_type)!r}; {allowed_text(allowed)}",
    )


def check_component(
    component: JsonObj,
    component_type: JsonObj | None,
    resolve: Callable[[WorkflowRef], WorkflowRef],
    *,
    workflow_exists: bool,
) -> Verdict | None:
    """The Component's own configuration; ``None`` when it can build (or has no workflow to check)."""
    type_ref = refs.component_type_ref(component)
    refused = check_type(component, type_ref, component_type)
    if refused is not None or component_type is None or type_ref is None:
        return refused
    written = refs.workflow_ref((component.get("spec") or {}).get("workflow"))
    if written is None:
        return None
    ref = resolve(written)
    refused = check_allowed(ref, allowed_workflows(component_type, type_ref, resolve), component_type)
    if refused is not None:
        return refused
    if not workflow_exists:
        namespace = (component.get("metadata") or {}).get("namespace")
        where = "" if ref.kind == refs.CLUSTER_WORKFLOW else f" in namespace {namespace!r}"
        return Verdict(R_WORKFLOW_NOT_FOUND, f"{ref} not found{where}; builds cannot start")
    return None


def run_labels(run: JsonObj) -> tuple[str, str]:
    """``(project, component)`` labels of a run (empty strings when absent)."""
    found = (run.get("metadata") or {}).get("labels") or {}
    return str(found.get(labels.LABEL_PROJECT) or ""), str(found.get(labels.LABEL_COMPONENT) or "")


def labels_verdict(run: JsonObj) -> Verdict | None:
    """Both component labels or neither."""
    project, component = run_labels(run)
    if bool(project) == bool(component):
        return None
    present, missing = (
        (labels.LABEL_PROJECT, labels.LABEL_COMPONENT)
        if project
        else (labels.LABEL_COMPONENT, labels.LABEL_PROJECT)
    )
    return Verdict(
        R_INVALID_LABELS,
        f"the run has label {present} but not {missing}; a component run needs both (a generic run neither)",
    )


def check_run(
    run: JsonObj,
    component: JsonObj | None,
    component_type: JsonObj | None,
    resolve: Callable[[WorkflowRef], WorkflowRef],
) -> Verdict | None:
    """Governance of a labelled run, given what was found; ``None`` when allowed."""
    refused = labels_verdict(run)
    _, name = run_labels(run)
    if refused is not None or not name:
        return refused
    refused = _membership(run, component)
    if refused is not None or component is None:
        return refused
    type_ref = refs.component_type_ref(component)
    refused = check_type(component, type_ref, component_type)
    if refused is not None or component_type is None or type_ref is None:
        return refused
    allowed = allowed_workflows(component_type, type_ref, resolve)
    ref = resolve(
        refs.workflow_ref((run.get("spec") or {}).get("workflow")) or WorkflowRef(refs.WORKFLOW, "")
    )
    refused = check_allowed(ref, allowed, component_type)
    if refused is not None:
        return refused
    configured = refs.workflow_ref((component.get("spec") or {}).get("workflow"))
    if configured is None or resolve(configured) != ref:
        said = f"is configured with {resolve(configured)}" if configured else "configures no workflow"
        return Verdict(
            R_WORKFLOW_MISMATCH,
            f"the run uses {ref} but Component {name!r} {said}; {allowed_text(allowed)}",
        )
    return None


def _membership(run: JsonObj, component: JsonObj | None) -> Verdict | None:
    """The labelled Component exists in the run's namespace and belongs to the labelled project."""
    project, name = run_labels(run)
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    if component is None:
        return Verdict(R_COMPONENT_NOT_FOUND, f"Component {name!r} not found in namespace {namespace!r}")
    owner = str(((component.get("spec") or {}).get("owner") or {}).get("projectName") or "")
    if owner != project:
        return Verdict(
            R_PROJECT_MISMATCH,
            f"Component {name!r} belongs to project {owner!r}, not {project!r} "
            f"(label {labels.LABEL_PROJECT})",
        )
    return None


def workflow_names(*objects: JsonObj | None) -> set[str]:
    """Names of kind-less workflow references in runs, Components and ComponentTypes (to look up)."""
    found: list[object] = []
    for obj in objects:
        spec = (obj or {}).get("spec") or {}
        found += [spec.get("workflow"), *(spec.get("allowedWorkflows") or [])]
    return {ref.name for ref in (refs.workflow_ref(v) for v in found) if ref is not None and not ref.kind}


# ---- lookups and the engine hook ----------------------------------------------------------------------
class ComponentLookup(Protocol):
    """Reads what governance needs (``None`` / ``False`` if absent)."""

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """The Component ``key``."""
        ...

    async def component_type(self, ref: ComponentTypeRef, namespace: str) -> JsonObj | None:
        """The ComponentType (in ``namespace``) or ClusterComponentType ``ref`` names."""
        ...

    async def has_workflow(self, namespace: str, name: str) -> bool:
        """A namespaced Workflow ``name`` exists in ``namespace``."""
        ...


@dataclass(frozen=True, slots=True)
class CachedLookup:
    """``ComponentLookup`` over informer caches (the controller's choice: no API calls)."""

    components: Reader
    component_types: Reader
    cluster_component_types: Reader
    workflows: Reader

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """From the Component cache."""
        return self.components.get(key)

    async def component_type(self, ref: ComponentTypeRef, namespace: str) -> JsonObj | None:
        """From the ComponentType or ClusterComponentType cache."""
        if ref.cluster_scoped:
            return self.cluster_component_types.get(ObjectKey("", ref.name))
        return self.component_types.get(ObjectKey(namespace, ref.name))

    async def has_workflow(self, namespace: str, name: str) -> bool:
        """From the Workflow cache."""
        return self.workflows.get(ObjectKey(namespace, name)) is not None


@dataclass(frozen=True, slots=True)
class ConfirmedLookup:
    """``ComponentLookup`` that answers from ``cached`` and confirms every absence with ``live``.

    A refusal is terminal, so it must not rest on a cache that lags: a Component created a moment before its
    first push (the receiver saw it, the controller's informer not yet) would otherwise fail that build for
    good. Present objects come from the cache, so the common path makes no API call.
    """

    cached: ComponentLookup
    live: ComponentLookup

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """The cached Component, else a live read."""
        return await self.cached.component(key) or await self.live.component(key)

    async def component_type(self, ref: ComponentTypeRef, namespace: str) -> JsonObj | None:
        """The cached (Cluster)ComponentType, else a live read."""
        found = await self.cached.component_type(ref, namespace)
        return found or await self.live.component_type(ref, namespace)

    async def has_workflow(self, namespace: str, name: str) -> bool:
        """Cached, else a live read."""
        return await self.cached.has_workflow(namespace, name) or await self.live.has_workflow(
            namespace, name
        )


@dataclass(frozen=True, slots=True)
class ApiLookup:
    """``ComponentLookup`` reading the apiserver (tests, tools, callers without caches)."""

    api: KubeApi

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """GET the Component."""
        try:
            return await self.api.get(COMPONENT, key.name, key.namespace)
        except NotFound:
            return None

    async def component_type(self, ref: ComponentTypeRef, namespace: str) -> JsonObj | None:
        """GET the ComponentType or ClusterComponentType."""
        try:
            if ref.cluster_scoped:
                return await self.api.get(CLUSTER_COMPONENT_TYPE, ref.name)
            return await self.api.get(COMPONENT_TYPE, ref.name, namespace)
        except NotFound:
            return None

    async def has_workflow(self, namespace: str, name: str) -> bool:
        """GET the Workflow."""
        try:
            await self.api.get(WORKFLOW, name, namespace)
        except NotFound:
            return False
        return True


async def namespaced_workflows(lookup: ComponentLookup, namespace: str, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are Workflows in ``namespace`` (for ``resolver``)."""
    return {name for name in names if await lookup.has_workflow(namespace, name)}


async def check_run_governance(run: JsonObj, lookup: ComponentLookup) -> None:
    """Raise ``TerminalError(ComponentValidationFailed)`` unless ``run`` may build; generic runs pass."""
    project, name = run_labels(run)
    if not project and not name:
        return
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    component = await lookup.component(ObjectKey(namespace, name)) if name and project else None
    type_ref = refs.component_type_ref(component) if component is not None else None
    component_type = await lookup.component_type(type_ref, namespace) if type_ref else None
    present = await namespaced_workflows(lookup, namespace, workflow_names(run, component, component_type))
    refused = check_run(run, component, component_type, resolver(present.__contains__))
    if refused is not None:
        raise TerminalError(c.R_COMPONENT_VALIDATION_FAILED, refused.message)


@dataclass(frozen=True, slots=True)
class ComponentGovernance:
    """The engine's ``ports.Governance``: ``check(run, workflow)`` -> ``check_run_governance``.

    Call it for every run carrying *either* component label (a run with only one is refused here).
    """

    lookup: ComponentLookup

    async def check(self, run: JsonObj, workflow: JsonObj) -> None:
        """Accept ``run`` or raise ``TerminalError(ComponentValidationFailed)``."""
        del workflow  # the reference in the run's spec is what is governed
        await check_run_governance(run, self.lookup)
