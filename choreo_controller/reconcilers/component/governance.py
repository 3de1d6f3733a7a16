"""Governance of component workflows (SPEC section 6): may this Component build with this Workflow.

Two questions, one pure core:

* ``check_component(component, component_type, *, workflow_exists)`` - the Component's own
  ``spec.workflow``: its ComponentType exists and matches, the workflow is in ``allowedWorkflows`` (an
  empty list allows none) and exists. The ``ComponentReconciler`` turns the answer into ``Ready``.
* ``check_run(run, component, component_type)`` - a WorkflowRun labelled ``openchoreo.dev/project`` +
  ``openchoreo.dev/component`` (both or neither: one alone is an error): the Component exists and belongs
  to that project, its ComponentType exists, and the run's workflow is allowed *and* is the Component's
  configured one. The engine turns a refusal into terminal ``ComponentValidationFailed``.

Both return a ``Verdict`` (``None`` when allowed) whose message names the allowed workflows, so a developer
sees at once what would have been accepted. Workflow references compare as ``(kind, name)`` with ``kind``
defaulting to ``Workflow``, as in the CRDs.

IO is at the edge: ``check_run_governance(run, lookup)`` fetches the two objects through a small async
``ComponentLookup`` (``CachedLookup`` over informer caches, ``ApiLookup`` over a ``KubeApi``) and raises
``TerminalError``. ``ComponentGovernance`` is that, shaped as the engine's ``ports.Governance`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import COMPONENT, COMPONENT_TYPE
from choreo_controller.contracts import NotFound, ObjectKey, TerminalError

if TYPE_CHECKING:
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

WorkflowRef = tuple[str, str]  # (kind, name)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refusal: ``reason`` (CamelCase, for the Component's ``Ready``) and an actionable message."""

    reason: str
    message: str


# ---- pure core ----------------------------------------------------------------------------------------
def ref_of(obj: JsonObj | None) -> WorkflowRef | None:
    """``(kind, name)`` of a ``{kind?, name}`` reference; ``None`` without a name."""
    if not isinstance(obj, dict) or not obj.get("name"):
        return None
    return str(obj.get("kind") or "Workflow"), str(obj["name"])


def show(ref: WorkflowRef) -> str:
    """``Workflow/docker``."""
    return f"{ref[0]}/{ref[1]}"


def allowed_workflows(component_type: JsonObj) -> list[WorkflowRef]:
    """The ComponentType's ``allowedWorkflows``, in order."""
    entries = (component_type.get("spec") or {}).get("allowedWorkflows") or []
    return [ref for ref in (ref_of(e) for e in entries) if ref is not None]


def allowed_text(component_type: JsonObj) -> str:
    """``allowed: Workflow/a, ClusterWorkflow/b`` or ``allowed: none (allowedWorkflows is empty)``."""
    allowed = allowed_workflows(component_type)
    return "allowed: " + (", ".join(map(show, allowed)) if allowed else "none (allowedWorkflows is empty)")


def split_component_type(component: JsonObj) -> tuple[str, str] | None:
    """``spec.componentType`` ``<workloadType>/<name>`` as a pair; ``None`` if malformed."""
    text = str((component.get("spec") or {}).get("componentType") or "")
    workload_type, sep, name = text.partition("/")
    return (workload_type, name) if sep and workload_type and name and "/" not in name else None


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def check_type(component: JsonObj, component_type: JsonObj | None) -> Verdict | None:
    """The Component's ``componentType`` is well formed and names an existing ComponentType of that kind."""
    pair = split_component_type(component)
    text = (component.get("spec") or {}).get("componentType")
    if pair is None:
        return Verdict(
            R_INVALID_COMPONENT_TYPE,
            f"Component {_name(component)!r} has componentType {text!r}; expected '<workloadType>/<name>'",
        )
    if component_type is None:
        namespace = (component.get("metadata") or {}).get("namespace")
        return Verdict(
            R_COMPONENT_TYPE_NOT_FOUND,
            f"ComponentType {pair[1]!r} (componentType {text!r} of Component {_name(component)!r}) "
            f"not found in namespace {namespace!r}",
        )
    actual = str((component_type.get("spec") or {}).get("workloadType") or "")
    if actual != pair[0]:
        return Verdict(
            R_INVALID_COMPONENT_TYPE,
            f"ComponentType {pair[1]!r} has workloadType {actual!r}, but Component {_name(component)!r} "
            f"declares {pair[0]!r} (componentType {text!r})",
        )
    return None


def check_allowed(ref: WorkflowRef, component_type: JsonObj) -> Verdict | None:
    """``ref`` is in the ComponentType's ``allowedWorkflows``."""
    if ref in allowed_workflows(component_type):
        return None
    return Verdict(
        R_WORKFLOW_NOT_ALLOWED,
        f"{show(ref)} is not allowed by ComponentType {_name(component_type)!r}; "
        f"{allowed_text(component_type)}",
    )


def check_component(
    component: JsonObj, component_type: JsonObj | None, *, workflow_exists: bool
) -> Verdict | None:
    """The Component's own configuration; ``None`` when it can build (or has no workflow to check)."""
    refused = check_type(component, component_type)
    if refused is not None or component_type is None:
        return refused
    ref = ref_of((component.get("spec") or {}).get("workflow"))
    if ref is None:
        return None
    refused = check_allowed(ref, component_type)
    if refused is not None:
        return refused
    if not workflow_exists:
        where = (
            "" if ref[0] == "ClusterWorkflow" else f" in namespace {component['metadata'].get('namespace')!r}"
        )
        return Verdict(R_WORKFLOW_NOT_FOUND, f"{show(ref)} not found{where}; builds cannot start")
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


def check_run(run: JsonObj, component: JsonObj | None, component_type: JsonObj | None) -> Verdict | None:
    """Governance of a labelled run, given what was found; ``None`` when allowed."""
    refused = labels_verdict(run)
    _, name = run_labels(run)
    if refused is not None or not name:
        return refused
    refused = _membership(run, component)
    if refused is not None or component is None:
        return refused
    refused = check_type(component, component_type)
    if refused is not None or component_type is None:
        return refused
    ref = ref_of((run.get("spec") or {}).get("workflow")) or ("Workflow", "")
    refused = check_allowed(ref, component_type)
    if refused is not None:
        return refused
    configured = ref_of((component.get("spec") or {}).get("workflow"))
    if configured != ref:
        said = f"is configured with {show(configured)}" if configured else "configures no workflow"
        return Verdict(
            R_WORKFLOW_MISMATCH,
            f"the run uses {show(ref)} but Component {name!r} {said}; {allowed_text(component_type)}",
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


# ---- lookups and the engine hook ----------------------------------------------------------------------
class ComponentLookup(Protocol):
    """Reads a Component and a ComponentType by key (``None`` if absent)."""

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """The Component ``key``."""
        ...

    async def component_type(self, key: ObjectKey) -> JsonObj | None:
        """The ComponentType ``key``."""
        ...


@dataclass(frozen=True, slots=True)
class CachedLookup:
    """``ComponentLookup`` over informer caches (the controller's choice: no API calls)."""

    components: Reader
    component_types: Reader

    async def component(self, key: ObjectKey) -> JsonObj | None:
        """From the Component cache."""
        return self.components.get(key)

    async def component_type(self, key: ObjectKey) -> JsonObj | None:
        """From the ComponentType cache."""
        return self.component_types.get(key)


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

    async def component_type(self, key: ObjectKey) -> JsonObj | None:
        """GET the ComponentType."""
        try:
            return await self.api.get(COMPONENT_TYPE, key.name, key.namespace)
        except NotFound:
            return None


async def check_run_governance(run: JsonObj, lookup: ComponentLookup) -> None:
    """Raise ``TerminalError(ComponentValidationFailed)`` unless ``run`` may build; generic runs pass."""
    project, name = run_labels(run)
    if not project and not name:
        return
    namespace = str((run.get("metadata") or {}).get("namespace") or "")
    component = await lookup.component(ObjectKey(namespace, name)) if name and project else None
    pair = split_component_type(component) if component is not None else None
    component_type = await lookup.component_type(ObjectKey(namespace, pair[1])) if pair else None
    refused = check_run(run, component, component_type)
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
