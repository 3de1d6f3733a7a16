"""Where the auto-build receiver reads Components and Workflows: informer caches or the apiserver.

In the controller the receiver shares the informers the reconcilers already run (``CachedSource``): no
extra LIST per delivery and no extra RBAC. Until those caches have synced a delivery cannot be matched
reliably - a Component not yet cached would silently not build - so the receiver answers 503 and the
provider redelivers. ``ApiSource`` reads the apiserver directly (standalone use, tests): always ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from choreo_controller.api.resources import CLUSTER_WORKFLOW, COMPONENT, WORKFLOW
from choreo_controller.contracts import NotFound, ObjectKey

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi


class Source(Protocol):
    """Components and Workflows, as the receiver needs them."""

    @property
    def ready(self) -> bool:
        """Every Component can be seen (caches synced)."""
        ...

    async def components(self) -> list[JsonObj]:
        """Every Component in the cluster."""
        ...

    async def workflow(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        """A Workflow (``namespace``) or ClusterWorkflow (``namespace`` ignored); ``None`` if absent."""
        ...


class ListableStore(Protocol):
    """What of an informer's ``Store`` the cached source uses."""

    @property
    def has_synced(self) -> bool:
        """The first LIST is in."""
        ...

    def get(self, key: ObjectKey) -> JsonObj | None:
        """One cached object."""
        ...

    def list(self, namespace: str | None = None) -> list[JsonObj]:
        """Every cached object."""
        ...


@dataclass(frozen=True, slots=True)
class CachedSource:
    """Reads the controller's informer caches."""

    component_store: ListableStore
    workflow_store: ListableStore
    cluster_workflow_store: ListableStore

    @property
    def ready(self) -> bool:
        """All three caches have synced."""
        stores = (self.component_store, self.workflow_store, self.cluster_workflow_store)
        return all(s.has_synced for s in stores)

    async def components(self) -> list[JsonObj]:
        """From the Component cache."""
        return self.component_store.list()

    async def workflow(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        """From the Workflow or ClusterWorkflow cache."""
        if kind == "ClusterWorkflow":
            return self.cluster_workflow_store.get(ObjectKey("", name))
        return self.workflow_store.get(ObjectKey(namespace, name))


@dataclass(frozen=True, slots=True)
class ApiSource:
    """Reads the apiserver on every delivery."""

    api: KubeApi

    @property
    def ready(self) -> bool:
        """Always."""
        return True

    async def components(self) -> list[JsonObj]:
        """LIST Components in all namespaces."""
        return (await self.api.list(COMPONENT)).items

    async def workflow(self, kind: str, namespace: str, name: str) -> JsonObj | None:
        """GET the Workflow or ClusterWorkflow."""
        try:
            if kind == "ClusterWorkflow":
                return await self.api.get(CLUSTER_WORKFLOW, name)
            return await self.api.get(WORKFLOW, name, namespace)
        except NotFound:
            return None
