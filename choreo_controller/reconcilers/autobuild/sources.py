"""Where the auto-build receiver reads Components and Workflows: informer caches or the apiserver.

In the controller the receiver shares the informers the reconcilers already run (``CachedSource``): no
extra LIST per delivery and no extra RBAC. Until those caches have synced a delivery cannot be matched
reliably - a Component not yet cached would silently not build - so the receiver answers 503 and the
provider redelivers. ``ApiSource`` reads the apiserver directly (standalone use, tests): always ready.

The webhook Secret is *never* read per delivery: ``CachedSecret`` reads the store of an informer that
watches that one Secret (``metadata.name`` field selector), so an unauthenticated flood costs the
apiserver nothing and a rotation applies as soon as the watch delivers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from choreo_controller.api.resources import CLUSTER_WORKFLOW, COMPONENT, WORKFLOW
from choreo_controller.contracts import NotFound, ObjectKey

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import JsonObj, KubeApi

SECRET_NAME: Final = "git-webhook-secrets"  # noqa: S105 - the Secret's name, not a secret


class SecretSource(Protocol):
    """The webhook Secret's ``data`` (base64 values by key), from a cache."""

    @property
    def ready(self) -> bool:
        """The cache has synced (an absent Secret is then known to be absent)."""
        ...

    def data(self) -> Mapping[str, str]:
        """The Secret's ``data`` (empty if there is no such Secret)."""
        ...


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
class CachedSecret:
    """One Secret, from the store of an informer that watches it."""

    store: ListableStore
    namespace: str
    name: str = SECRET_NAME

    @property
    def ready(self) -> bool:
        """The informer has listed."""
        return self.store.has_synced

    def data(self) -> Mapping[str, str]:
        """The cached Secret's ``data``."""
        secret = self.store.get(ObjectKey(self.namespace, self.name)) or {}
        data = secret.get("data")
        return data if isinstance(data, dict) else {}

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name}"


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
