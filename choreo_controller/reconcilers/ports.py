"""The narrow ports the reconcilers read and write through (STYLE rule 3).

* ``Reader`` - a cached view of one kind (an informer's ``Store`` satisfies it structurally): ``get`` by
  key and ``index_keys``. Reconcilers never list the apiserver for something an informer already holds.
* ``BuildPlanes`` / ``PlaneView`` - the build plane, by ``planeID``. A view carries the ``KubeApi`` to
  write with and the watch-fed cache of our Argo Workflows (status follows the build plane by watch; the
  reconciler never polls). ``direct`` mode serves every planeID from one kubeconfig; the relay supplies a
  view per connected agent. ``plane`` raises ``Unavailable`` when the plane cannot be reached at all.
* ``Governance`` - the hook for component runs (SPEC section 6); ``AllowAll`` until that issue lands.

Nothing here imports ``runtime``: the reconcilers and the runtime are sibling layers, wired in ``app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi, ObjectKey


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


class PlaneView(Protocol):
    """One reachable build plane: an API to write with and a cache of our Argo Workflows."""

    @property
    def api(self) -> KubeApi:
        """Writes and confirming reads in this plane."""
        ...

    @property
    def synced(self) -> bool:
        """The Argo Workflow cache has its first LIST (a miss before that means nothing)."""
        ...

    def argo_workflow(self, namespace: str, name: str) -> JsonObj | None:
        """The cached Argo Workflow (only ours: label-selected), or ``None``."""
        ...


class BuildPlanes(Protocol):
    """Build planes by ``planeID``."""

    def plane(self, plane_id: str) -> PlaneView:
        """The view of ``plane_id``; raises ``contracts.Unavailable`` if it cannot be reached."""
        ...

    def plane_ids(self) -> list[str]:
        """Every plane reachable now (the orphan sweep visits each)."""
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
    """The informer caches the WorkflowRun reconciler reads."""

    runs: Reader
    workflows: Reader
    cluster_workflows: Reader
    build_planes: Reader
    cluster_build_planes: Reader
    secret_references: Reader
