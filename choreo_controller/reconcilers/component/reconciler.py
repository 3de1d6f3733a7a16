"""``ComponentReconciler``: the Component's ``Ready`` condition for its workflow (SPEC section 6).

``Ready`` answers, before anyone pushes, whether builds of this Component can start:

* ``False/InvalidComponentType`` or ``False/ComponentTypeNotFound`` - ``spec.componentType`` (either
  shape, ``api.refs``) is malformed, names no ComponentType in the namespace (or no ClusterComponentType),
  or one of another ``workloadType``;
* ``False/WorkflowNotAllowed`` - ``spec.workflow`` is not in the ComponentType's ``allowedWorkflows``
  (the message lists the allowed ones; an empty list allows none);
* ``False/WorkflowNotFound`` - the Workflow (or ClusterWorkflow) does not exist;
* ``True/Valid`` otherwise, including a Component without a workflow (nothing to govern).

The same pure checks (``governance.check_component``) back the WorkflowRun engine's terminal
``ComponentValidationFailed``, so the two never disagree. Everything is read from informer caches; the
status is written with a merge patch carrying the resourceVersion, and only when it changed.

Other kinds' events reach this reconciler through the index mappers below (registered by ``app``):
a ComponentType or ClusterComponentType event re-enqueues the Components of that type, a Workflow or
ClusterWorkflow event the Components that name it (a reference without a kind is indexed under both, since
either kind's appearance can change what it means). A reconciler never enqueues other keys itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from choreo_controller.api import conditions as c
from choreo_controller.api import refs
from choreo_controller.api.resources import COMPONENT
from choreo_controller.contracts import ObjectKey, Result
from choreo_controller.reconcilers.component.governance import check_component, resolver
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
    cluster_component_types: Reader
    workflows: Reader
    cluster_workflows: Reader


def readiness(component: JsonObj, caches: ComponentCaches) -> tuple[c.Status, str, str]:
    """``(status, reason, message)`` of the Component's ``Ready`` condition."""
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    type_ref = refs.component_type_ref(component)
    component_type = None
    if type_ref is not None:
        types = caches.cluster_component_types if type_ref.cluster_scoped else caches.component_types
        component_type = types.get(ObjectKey("" if type_ref.cluster_scoped else namespace, type_ref.name))
    resolve = resolver(lambda name: caches.workflows.get(ObjectKey(namespace, name)) is not None)
    written = refs.workflow_ref((component.get("spec") or {}).get("workflow"))
    ref = resolve(written) if written is not None else None
    exists = ref is not None and _workflow(caches, namespace, ref) is not None
    refused = check_component(component, component_type, resolve, workflow_exists=exists)
    if refused is not None:
        return "False", refused.reason, refused.message
    if ref is None:
        return "True", c.R_VALID, "no workflow configured; nothing to build"
    return "True", c.R_VALID, f"{ref} is allowed by the ComponentType and exists"


def _workflow(caches: ComponentCaches, namespace: str, ref: refs.WorkflowRef) -> JsonObj | None:
    if ref.kind == refs.CLUSTER_WORKFLOW:
        return caches.cluster_workflows.get(ObjectKey("", ref.name))
    return caches.workflows.get(ObjectKey(namespace, ref.name))


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
    """``[<namespace>/<ComponentType name>]`` or ``[ClusterComponentType/<name>]``."""
    ref = refs.component_type_ref(component)
    if ref is None:
        return []
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    return [_type_value(ref.cluster_scoped, namespace, ref.name)]


def by_workflow(component: JsonObj) -> list[str]:
    """``[Workflow/<ns>/<name>]`` or ``[ClusterWorkflow/<name>]`` of ``spec.workflow`` (no kind: both)."""
    ref = refs.workflow_ref((component.get("spec") or {}).get("workflow"))
    if ref is None:
        return []
    namespace = str((component.get("metadata") or {}).get("namespace") or "")
    kinds = [ref.kind] if ref.kind else [refs.WORKFLOW, refs.CLUSTER_WORKFLOW]
    return [_workflow_value(kind, namespace, ref.name) for kind in kinds]


def _workflow_value(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{name}" if kind == refs.CLUSTER_WORKFLOW else f"{kind}/{namespace}/{name}"


def _type_value(cluster: bool, namespace: str, name: str) -> str:
    return f"{refs.CLUSTER_COMPONENT_TYPE}/{name}" if cluster else f"{namespace}/{name}"


INDEXERS: Final[dict[str, Callable[[JsonObj], list[str]]]] = {BY_TYPE: by_type, BY_WORKFLOW: by_workflow}


def components_of_type(components: Reader, *, cluster: bool = False) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a ComponentType -> its namespace's Components of that type; a ClusterComponentType -> all."""

    def mapper(component_type: JsonObj) -> list[ObjectKey]:
        meta = component_type.get("metadata") or {}
        value = _type_value(cluster, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        return components.index_keys(BY_TYPE, value)

    return mapper


def components_of_workflow(components: Reader, kind: str) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a Workflow (``kind`` Workflow or ClusterWorkflow) -> the Components naming it."""

    def mapper(workflow: JsonObj) -> list[ObjectKey]:
        meta = workflow.get("metadata") or {}
        value = _workflow_value(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        return components.index_keys(BY_WORKFLOW, value)

    return mapper
