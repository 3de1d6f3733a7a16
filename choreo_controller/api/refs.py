"""References that OpenChoreo 0.17 and 1.x write differently, read one way everywhere. Pure.

* A workflow reference ``{kind?, name}`` - ``WorkflowRun.spec.workflow``, ``Component.spec.workflow``,
  ``ComponentType.allowedWorkflows[]``. With ``kind`` set it means that kind. Without it, the namespace's
  Workflow of that name if one exists, else the ClusterWorkflow: OpenChoreo 0.17 defaulted the kind to
  Workflow and 1.x to ClusterWorkflow, and this rule keeps both meanings wherever only one of the two
  exists (the CRDs set no default, so it cannot decide for either). A reference held by a cluster-scoped
  object (a ClusterComponentType) can only mean a ClusterWorkflow.
* A component type reference - OpenChoreo's ``{kind?, name: <workloadType>/<name>}`` (``kind`` defaulting
  to ComponentType, or ClusterComponentType) or this project's earlier string ``<workloadType>/<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

WORKFLOW: Final = "Workflow"
CLUSTER_WORKFLOW: Final = "ClusterWorkflow"
COMPONENT_TYPE: Final = "ComponentType"
CLUSTER_COMPONENT_TYPE: Final = "ClusterComponentType"


@dataclass(frozen=True, slots=True, order=True)
class WorkflowRef:
    """A workflow reference as written: ``kind`` is ``""`` when omitted."""

    kind: str
    name: str

    def resolved(
        self, namespaced_exists: Callable[[str], bool], *, cluster_only: bool = False
    ) -> WorkflowRef:
        """The reference with its kind decided (module docstring); ``namespaced_exists(name)`` asks."""
        if self.kind:
            return self
        if not cluster_only and namespaced_exists(self.name):
            return WorkflowRef(WORKFLOW, self.name)
        return WorkflowRef(CLUSTER_WORKFLOW, self.name)

    def __str__(self) -> str:
        return f"{self.kind or '<Workflow or ClusterWorkflow>'}/{self.name}"


def workflow_ref(value: Any) -> WorkflowRef | None:
    """A ``{kind?, name}`` object as a ``WorkflowRef``; ``None`` without a name."""
    if not isinstance(value, dict) or not value.get("name"):
        return None
    return WorkflowRef(str(value.get("kind") or ""), str(value["name"]))


@dataclass(frozen=True, slots=True)
class ComponentTypeRef:
    """``spec.componentType`` of a Component, in either shape."""

    kind: str  # ComponentType | ClusterComponentType
    workload_type: str
    name: str

    @property
    def cluster_scoped(self) -> bool:
        """A ClusterComponentType (no namespace)."""
        return self.kind == CLUSTER_COMPONENT_TYPE

    def __str__(self) -> str:
        return f"{self.kind} {self.workload_type}/{self.name}"


def component_type_ref(component: Any) -> ComponentTypeRef | None:
    """The Component's component type reference; ``None`` when missing or malformed."""
    spec = component.get("spec") if isinstance(component, dict) else None
    value = spec.get("componentType") if isinstance(spec, dict) else None
    kind, text = COMPONENT_TYPE, value
    if isinstance(value, dict):
        kind, text = str(value.get("kind") or COMPONENT_TYPE), value.get("name")
    if not isinstance(text, str) or kind not in {COMPONENT_TYPE, CLUSTER_COMPONENT_TYPE}:
        return None
    workload_type, sep, name = text.partition("/")
    if not (sep and workload_type and name) or "/" in name:
        return None
    return ComponentTypeRef(kind, workload_type, name)


def component_type_text(component: Any) -> str:
    """``spec.componentType`` as the user wrote it, for messages."""
    spec = component.get("spec") if isinstance(component, dict) else None
    value = spec.get("componentType") if isinstance(spec, dict) else None
    if isinstance(value, dict):
        return f"{value.get('kind') or COMPONENT_TYPE} {value.get('name')!r}"
    return repr(value)
