"""``InformerPlaneView``: a build plane as the engine's ``PlaneView`` port sees it.

A ``KubeApi`` for writes and confirming reads, paired with ``PlaneCaches``: the watch-fed caches of the
plane's (label-selected) objects of the kinds the engines read - one informer per kind, started the first
time a reconcile asks for that kind (a submission asks before it creates anything, so the first LIST
overlaps it). Lazily, because a plane serves only the engines installed in it: a kind it does not serve is
never watched unless a run of that engine was submitted there (and then its creation fails naming the
missing kind), so a plane without some engine logs no watch errors and costs no watch for it.

The same in both ways of reaching a plane: direct mode (a kubeconfig's client, ``app``) and relay mode (a
relay client per trust group, ``relay.buildplanes``). The caches' informer tasks belong to ``PlaneCaches``
until ``close``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NoReturn

from choreo_controller.contracts import ObjectKey, Unavailable
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, JsonObj, KubeApi
    from choreo_controller.runtime.handlers import EventHandler


class PlaneCaches:
    """One plane's informers by kind, label-selected, each started the first time it is asked for."""

    def __init__(self, api: KubeApi, *, clock: Clock, label_selector: str, name: str) -> None:
        """``api`` lists and watches; ``name`` (the plane) names the informer tasks."""
        self._api = api
        self._clock = clock
        self._selector = label_selector
        self._name = name
        self._informers: dict[ApiResource, Informer] = {}
        self._tasks: list[asyncio.Task[NoReturn]] = []
        self._handlers: list[EventHandler] = []
        self._closed = False

    def add_handler(self, handler: EventHandler) -> None:
        """Tell ``handler`` about every event of every kind, the kinds started later too."""
        self._handlers.append(handler)
        for informer in self._informers.values():
            informer.add_handler(handler)

    def informer(self, resource: ApiResource) -> Informer:
        """The informer of ``resource``, started now if it is the first time; ``Unavailable`` once closed."""
        found = self._informers.get(resource)
        if found is not None:
            return found
        if self._closed:
            raise Unavailable(f"build plane {self._name!r}: its caches are shut down")
        found = Informer(self._api, resource, clock=self._clock, label_selector=self._selector)
        for handler in self._handlers:
            found.add_handler(handler)
        name = f"informer-{resource.plural}-{self._name}"
        self._tasks.append(asyncio.get_running_loop().create_task(found.run(), name=name))
        self._informers[resource] = found
        return found

    @property
    def alive(self) -> bool:
        """Not closed, and no informer task has ended (they only end by a bug or a cancel)."""
        return not self._closed and not any(task.done() for task in self._tasks)

    async def close(self) -> None:
        """Stop every informer task."""
        self._closed = True
        await cancel_and_wait(*self._tasks)

    async def run(self) -> NoReturn:
        """Own the informer tasks until cancelled (a manager runnable), then stop them."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            await self.close()
        raise AssertionError("unreachable")  # pragma: no cover - the future above never completes


class InformerPlaneView:
    """One build plane: its API and its caches."""

    def __init__(self, api: KubeApi, caches: PlaneCaches) -> None:
        self._api = api
        self._caches = caches

    @property
    def api(self) -> KubeApi:
        """Writes and confirming reads."""
        return self._api

    def synced(self, resource: ApiResource) -> bool:
        """The informer of ``resource`` has its first LIST."""
        return self._caches.informer(resource).has_synced

    def cached(self, resource: ApiResource, namespace: str, name: str) -> JsonObj | None:
        """The cached object (ours: label-selected), or ``None``."""
        return self._caches.informer(resource).store.get(ObjectKey(namespace, name))
