"""The narrow ports the reconcilers read and write through (STYLE rule 3).

* ``Reader`` - a cached view of one kind (an informer's ``Store`` satisfies it structurally): ``get`` by
  key and ``index_keys``. Reconcilers never list the apiserver for something an informer already holds.
* ``BuildPlanes`` / ``PlaneView`` - the plane a run resolved, as a ``PlaneTarget`` (its planeID *and* the
  plane object - any of the four kinds - that named it: the relay routes an object's traffic only to
  agents that object's clientCA vouches for, so a tenant's object squatting on a planeID never sees
  another tenant's runs). A view carries the ``KubeApi`` to write with and watch-fed caches of our objects
  of the engines' kinds - run objects and the children an engine reads (status follows the build plane by
  watch; the reconciler never polls); a kind's cache starts the first time it is asked for, so a plane
  without some engine is never watched for its kinds. ``direct`` mode serves
  every target from one kubeconfig; relay mode one view per planeID and clientCA. ``plane`` raises
  ``Unavailable`` when the plane cannot be reached at all.
* ``Governance`` - the hook for component runs (SPEC section 6); ``AllowAll`` until that issue lands.

Nothing here imports ``runtime``: the reconcilers and the runtime are sibling layers, wired in ``app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi, ObjectKey


class Reader(Protocol):
    """Read-only cache of one resource."""

    def get(self, key: ObjectKey) -> JsonObj | None:
        """A copy of the cached object (the caller may modify it), or ``None``."""
        ...

    def index_keys(self, name: str, value: str) -> list[ObjectKey]:
        """Keys whose index ``name`` holds ``value``."""
        ...

    @property
    def has_synced(self) -> bool:
        """The first LIST is in."""
        ...


class RunReader(Reader, Protocol):
    """The runs cache: a ``Reader`` that also keeps a summary of each run (``runtime.store``)."""

    def summary(self, key: ObjectKey) -> object:
        """What the summary function returned for the cached run (``None``: not cached, or no summary)."""
        ...


@dataclass(frozen=True, slots=True, order=True)
class PlaneTarget:
    """A plane as a run resolved it: ``planeID`` and the plane object (``status.plane``)."""

    plane_id: str
    kind: str = ""  # one of the four plane kinds; "" in direct mode (one cluster for every planeID)
    namespace: str = ""  # a namespaced plane's namespace (the run's); "" for a cluster-scoped one
    name: str = ""


class PlaneView(Protocol):
    """One reachable build plane: an API to write with and caches of our objects of the engines' kinds."""

    @property
    def api(self) -> KubeApi:
        """Writes and confirming reads in this plane."""
        ...

    def synced(self, resource: ApiResource) -> bool:
        """The cache of ``resource`` has its first LIST (a miss before that means nothing); starts it."""
        ...

    def cached(self, resource: ApiResource, namespace: str, name: str) -> JsonObj | None:
        """The cached object (only ours: label-selected), or ``None``; starts the cache of ``resource``."""
        ...


class BuildPlanes(Protocol):
    """Build planes by ``PlaneTarget``."""

    def plane(self, target: PlaneTarget) -> PlaneView:
        """The view of ``target``; raises ``contracts.Unavailable`` if it cannot be reached."""
        ...

    def targets(self) -> list[PlaneTarget]:
        """One target per distinct plane reachable now (the orphan sweep visits each once)."""
        ...


class Governance(Protocol):
    """SPEC section 6 governance of component runs: raise ``TerminalError(ComponentValidationFailed)``."""

    async def check(self, run: JsonObj, workflow: JsonObj) -> None:
        """Accept the run or raise a ``TerminalError`` naming the allowed workflows."""
        ...


class AllowAll:
    """Placeholder governance: every component run is allowed (the component issue replaces it)."""

    async def check(self, run: JsonObj, workflow: JsonObj) -> None:
        """Allow."""
        del run, workflow


@dataclass(frozen=True, slots=True)
class Caches:
    """The informer caches the WorkflowRun reconciler reads; ``planes`` by kind (all four, ``api.planes``)."""

    runs: RunReader
    workflows: Reader
    cluster_workflows: Reader
    planes: Mapping[str, Reader]
    secret_references: Reader
    components: Reader | None = None  # concurrency policies of component runs (default policy without)
