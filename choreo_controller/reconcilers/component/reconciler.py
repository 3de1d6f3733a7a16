"""``ComponentReconciler``: the Component's ``Ready`` condition for its workflow (SPEC section 6).

``Ready`` answers, before anyone pushes, whether builds of this Component can start:

* ``False/InvalidComponentType`` or ``False/ComponentTypeNotFound`` - ``spec.componentType`` is malformed,
  names no ComponentType in the namespace, or one of another ``workloadType``;
* ``False/WorkflowNotAllowed`` - ``spec.workflow`` is not in the ComponentType's ``allowedWorkflows``
  (the message lists the allowed ones; an empty list allows none);
* ``False/WorkflowNotFound`` - the Workflow (or ClusterWorkflow) does not exist;
* ``True/Valid`` otherwise, including a Component without a workflow (nothing to govern).

The same pure checks (``governance.check_component``) back the WorkflowRun engine's terminal
``ComponentValidationFailed``, so the two never disagree. Everything is read from informer caches; the
status is written with a merge patch carrying the resourceVersion, and only when it changed.

Other kinds' events reach this reconciler through the index mappers below (registered by ``app``):
a ComponentType event re-enqueues the Components of that type, a Workflow or ClusterWorkflow event the
Components that name it. A reconciler never enqueues other keys itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import COMPONENT
from choreo_controller.contracts import ObjectKey, Result
from choreo_controller.reconcilers.component.governance import (
    check_component,
    ref_of,
    show,
    split_component_type,
)
from choreo_controller.reconcilers.ready import write_ready

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import Clock, JsonObj, KubeApi
    from choreo_controller.reconcilers.ports import Reader

BY_TYPE: Final = "component-by-type"
BY_WORKFLOW: Final = "component-by-workflow"


@dataclass(frozen=True, slots=True)
class ComponentCaches:
    """The informer caches the Component reconciler reads."""

    components: Reader
    component_types: Reader
    workflows: Reader
    cluster_workflows: Reader


def readiness(component: JsonObj, caches: ComponentCaches) -> tuple[c.Status, str, str]:
    """``(status, reason, message)`` of the Component's ``Ready`` condition."""
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    pair = split_component_type(component)
    component_type = caches.component_types.get(ObjectKey(namespace, pair[1])) if pair else None
    ref = ref_of((component.get("spec") or {}).get("workflow"))
    exists = ref is not None and _workflow(caches, namespace, ref) is not None
    refused = check_component(component, component_type, workflow_exists=exists)
    if refused is not None:
        return "False", refused.reason, refused.message
    if ref is None:
        return "True", c.R_VALID, "no workflow configured; nothing to build"
    return "True", c.R_VALID, f"{show(ref)} is allowed by the ComponentType and exists"


def _workflow(caches: ComponentCaches, namespace: str, ref: tuple[str, str]) -> JsonObj | None:
    if ref[0] == "ClusterWorkflow":
        return caches.cluster_workflows.get(ObjectKey("", ref[1]))
    return caches.workflows.get(ObjectKey(namespace, ref[1]))


class ComponentReconciler:
    """Keeps ``status.conditions[Ready]`` of Components current."""

    def __init__(self, api: KubeApi, caches: ComponentCaches, clock: Clock) -> None:
        self._api = api
        self._caches = caches
        self._clock = clock

    async def reconcile(self, key: ObjectKey) -> Result:
        """Compute ``Ready``; write it only if it changed."""
        component = self._caches.components.get(key)
        if component is None:
            return Result()
        ready = readiness(component, self._caches)
        await write_ready(self._api, COMPONENT, component, ready, now=self._clock.now())
        return Result()


# ---- indexes and mappers (registered on the Component informer's store by ``app``) ---------------------
def by_type(component: JsonObj) -> list[str]:
    """``[<namespace>/<ComponentType name>]``."""
    pair = split_component_type(component)
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    return [f"{namespace}/{pair[1]}"] if pair else []


def by_workflow(component: JsonObj) -> list[str]:
    """``[Workflow/<ns>/<name>]`` or ``[ClusterWorkflow/<name>]`` of ``spec.workflow``."""
    ref = ref_of((component.get("spec") or {}).get("workflow"))
    if ref is None:
        return []
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    return [_workflow_value(ref[0], namespace, ref[1])]


def _workflow_value(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{name}" if kind == "ClusterWorkflow" else f"{kind}/{namespace}/{name}"


INDEXERS: Final[dict[str, Callable[[JsonObj], list[str]]]] = {BY_TYPE: by_type, BY_WORKFLOW: by_workflow}


def components_of_type(components: Reader) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a ComponentType -> the Components of that type in its namespace."""

    def mapper(component_type: JsonObj) -> list[ObjectKey]:
        meta = component_type.get("metadata") or {}
        return components.index_keys(BY_TYPE, f"{meta.get('namespace') or ''}/{meta.get('name') or ''}")

    return mapper


def components_of_workflow(components: Reader, kind: str) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a Workflow (``kind`` Workflow or ClusterWorkflow) -> the Components naming it."""

    def mapper(workflow: JsonObj) -> list[ObjectKey]:
        meta = workflow.get("metadata") or {}
        value = _workflow_value(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        return components.index_keys(BY_WORKFLOW, value)

    return mapper
