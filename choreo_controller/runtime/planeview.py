"""``InformerPlaneView``: a build plane as the engine's ``PlaneView`` port sees it.

A ``KubeApi`` for writes and confirming reads, paired with the watch-fed cache of the plane's
(label-selected) Argo Workflows.
The same in both ways of reaching a plane: direct mode (a kubeconfig's client and informer, ``app``) and
relay mode (a relay client and a relayed informer per trust group, ``relay.buildplanes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choreo_controller.contracts import ObjectKey

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.runtime.informer import Informer


class InformerPlaneView:
    """One build plane: its API and its Argo Workflow cache."""

    def __init__(self, api: KubeApi, informer: Informer) -> None:
        self._api = api
        self._informer = informer

    @property
    def api(self) -> KubeApi:
        """Writes and confirming reads."""
        return self._api

    @property
    def synced(self) -> bool:
        """The Argo Workflow informer has its first LIST."""
        return self._informer.has_synced

    def argo_workflow(self, namespace: str, name: str) -> JsonObj | None:
        """The cached Argo Workflow (ours: label-selected), or ``None``."""
        return self._informer.store.get(ObjectKey(namespace, name))
