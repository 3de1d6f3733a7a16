"""``RelayBuildPlanes``: the engine's ``BuildPlanes`` port, every build plane reached through the relay.

Relay mode of ``choreo-controller controller`` (SPEC sections 1 and 7): the controller holds no credentials
for any build plane. A run's plane (``PlaneTarget``: the planeID and the plane object - any of the four
kinds of ``api.planes`` - that named it) maps to a relay ``KubeApi`` - ``Gateway.kube_api`` in process
(``--embedded-gateway``) or a ``RemoteRelayTransport`` to a standalone gateway - that reaches only agents
vouched for by that object's clientCA (THREAT_MODEL.md T8: a tenant's object squatting on a planeID never
gets another tenant's runs).

Each plane object gets its own view (its own relay ``KubeApi``, so a run's requests - and the errors its
status shows - name its own plane object), but the caches of the engines' kinds (``PlaneCaches``) are
shared per *trust group*: plane objects of one generation with the same planeID and the same clientCA (the
same inline PEM, or the same Secret key) vouch for exactly the same agents, so one relayed informer per
kind (label-selected across namespaces; the agent cuts it down to its build namespaces) serves them all. A
BuildPlane and a WorkflowPlane never share a group, whatever their planeID and CA: their agents claim
different URI families (``identity``) and serve different namespaces. The usual installation, a BuildPlane
per tenant namespace all naming one plane, costs one informer per engine kind in use, not one per tenant.
A group's watch is bound to one
member object, its representative; when that object leaves the group (deleted, or its planeID or
clientCA changed) the group is rebuilt, on the next look, with the asking target as the representative.

Lazy: a group's view is created the first time a reconcile or the orphan sweep asks for it, and an
informer of a kind the first time a reconcile reads that kind (only the leader reconciles, so standbys
open no relayed watches). ``run`` - a manager runnable - closes the caches and the APIs on shutdown.

Reachability, as the engine sees it:

* a request waits ``write_grace`` (1 s) for an agent - a gateway restart, or a new plane object the
  gateway has not learned yet - then fails ``Unavailable`` ("no agent connected for plane ... trusted by
  ..."); the engine reports ``BuildPlaneUnavailable`` (``WorkflowPlaneUnavailable``) and retries with
  backoff, and the gateway's ``status.agentConnection`` write when an agent connects is a plane event that
  re-enqueues the waiting runs at once;
* the informer's list and watch wait ``watch_grace`` (30 s) instead, so a plane that comes back is listed
  and watched at once, not after the informer's backoff (a remote gateway answers 503 at once: there the
  informer's own backoff applies);
* a target whose plane object no longer exists, or names another planeID now, is ``Unavailable`` at once:
  no agent can be vouched for by it (a deleted run waits for its plane object to return, finalizer kept);
* ``targets`` (the orphan sweep) is one target per group with a connected agent (``connected``; a remote
  gateway's agents are not visible here, so every group is listed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

import structlog

from choreo_controller.api import labels, planes
from choreo_controller.contracts import ObjectKey, Unavailable
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.runtime.planeview import InformerPlaneView, PlaneCaches

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from choreo_controller.contracts import Clock, JsonObj
    from choreo_controller.kube.client import KubeClient
    from choreo_controller.runtime.handlers import EventHandler

log = structlog.get_logger("choreo.relay.buildplanes")
GroupKey = tuple[str, str]  # (planeID, trust_key: the agents' URI family and the clientCA)


class PlaneCache(Protocol):
    """What is read of the control plane's cache of one plane kind (a ``Store``)."""

    def get(self, key: ObjectKey) -> JsonObj | None:
        """One object, or ``None``."""
        ...

    def list(self, namespace: str | None = None) -> list[JsonObj]:
        """Every object."""
        ...


@dataclass
class _Group:
    key: GroupKey
    representative: PlaneRef
    caches: PlaneCaches
    api: KubeClient[Any]  # the representative's


def trust_key(kind: str, obj: JsonObj) -> str:
    """Who vouches for the object's agents: their URI family and the clientCA (no key material)."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    family = planes.generation_of(kind).identity
    ca = (spec.get("clusterAgent") or {}).get("clientCA") or {}
    if isinstance(ca.get("value"), str):
        return f"{family}|value:" + hashlib.sha256(ca["value"].encode()).hexdigest()
    ref = ca.get("secretRef") or ca.get("secretKeyRef")
    if isinstance(ref, dict):
        namespace = ref.get("namespace") or meta.get("namespace") or ""
        return f"{family}|secret:{namespace}/{ref.get('name')}/{ref.get('key')}"
    return f"{family}|none"


class RelayBuildPlanes:
    """``BuildPlanes`` through the relay; see the module docstring."""

    def __init__(
        self,
        connect: Callable[[str, PlaneRef, float], KubeClient[Any]],  # (planeID, object, grace seconds)
        caches: Mapping[str, PlaneCache],  # by plane kind
        *,
        clock: Clock,
        connected: Callable[[str, PlaneRef], bool] | None = None,
        write_grace: float = 1.0,
        watch_grace: float = 30.0,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``on_close`` runs last at shutdown (e.g. closing a session the APIs share)."""
        self._connect = connect
        self._caches = dict(caches)
        self._clock = clock
        self._handlers: list[EventHandler] = []
        self._connected = connected
        self._write_grace = write_grace
        self._watch_grace = watch_grace
        self._groups: dict[GroupKey, _Group] = {}
        self._views: dict[PlaneRef, tuple[_Group, InformerPlaneView]] = {}
        self._caches_closing: set[asyncio.Task[None]] = set()
        self._apis: list[KubeClient[Any]] = []
        self._closed = False
        self._on_close = on_close

    def add_handler(self, handler: EventHandler) -> None:
        """Tell ``handler`` about every relayed event of the engines' kinds, of every group."""
        self._handlers.append(handler)
        for group in self._groups.values():
            group.caches.add_handler(handler)

    def plane(self, target: PlaneTarget) -> InformerPlaneView:
        """The view serving ``target``; ``Unavailable`` if its plane object is gone or changed planeID."""
        if self._closed:
            raise Unavailable("relay build planes: shutting down")
        ref = _ref(target)
        obj = self._object(ref)
        if obj is None:
            raise Unavailable(
                f"{ref} (planeID {target.plane_id!r}) no longer exists: no agent can be trusted for it"
            )
        if planes.plane_id(obj) != target.plane_id:
            raise Unavailable(f"{ref} now names planeID {planes.plane_id(obj)!r}, not {target.plane_id!r}")
        key = (target.plane_id, trust_key(ref.kind, obj))
        group = self._groups.get(key)
        if group is None or not self._valid(group):
            group = self._build(key, ref)
        known = self._views.get(ref)
        if known is not None and known[0] is group:
            return known[1]
        if ref == group.representative:
            api = group.api
        else:
            api = self._connect(key[0], ref, self._write_grace)
            self._apis.append(api)
        view = InformerPlaneView(api, group.caches)
        self._views[ref] = (group, view)
        return view

    def targets(self) -> list[PlaneTarget]:
        """One target per trust group (with a connected agent, when that can be seen)."""
        found: dict[GroupKey, PlaneTarget] = {}
        for kind, cache in self._caches.items():
            for obj in cache.list():
                key = (planes.plane_id(obj), trust_key(kind, obj))
                group = self._groups.get(key)
                ref = group.representative if group is not None and self._valid(group) else _ref_of(kind, obj)
                if key in found or (self._connected is not None and not self._connected(key[0], ref)):
                    continue
                found[key] = PlaneTarget(key[0], ref.kind, ref.namespace, ref.name)
        return sorted(found.values())

    async def run(self) -> NoReturn:
        """Own the groups' caches until cancelled; then close them and the APIs."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self._closed = True
            await asyncio.gather(
                *(group.caches.close() for group in self._groups.values()), *self._caches_closing
            )
            for api in self._apis:
                with contextlib.suppress(Exception):
                    await api.close()
            if self._on_close is not None:
                await self._on_close()
        raise AssertionError("unreachable")  # pragma: no cover - the future above never completes

    def _object(self, ref: PlaneRef) -> JsonObj | None:
        cache = self._caches.get(ref.kind)
        return None if cache is None else cache.get(ObjectKey(ref.namespace, ref.name))

    def _valid(self, group: _Group) -> bool:
        obj = self._object(group.representative)
        key = None if obj is None else (planes.plane_id(obj), trust_key(group.representative.kind, obj))
        return group.caches.alive and key == group.key

    def _build(self, key: GroupKey, ref: PlaneRef) -> _Group:
        old = self._groups.pop(key, None)
        if old is not None:
            closing = asyncio.get_running_loop().create_task(old.caches.close())
            self._caches_closing.add(closing)
            closing.add_done_callback(self._caches_closing.discard)
            log.info("relay plane view rebuilt", plane=key[0], was=str(old.representative), now=str(ref))
        api = self._connect(key[0], ref, self._write_grace)
        watch_api = self._connect(key[0], ref, self._watch_grace)
        self._apis += [api, watch_api]
        caches = PlaneCaches(
            watch_api, clock=self._clock, label_selector=labels.MANAGED_SELECTOR, name=key[0]
        )
        for handler in self._handlers:
            caches.add_handler(handler)
        group = _Group(key, ref, caches, api)
        self._groups[key] = group
        log.info("relay plane view created", plane=key[0], trusted_by=str(ref))
        return group


def _ref(target: PlaneTarget) -> PlaneRef:
    kind = planes.plane_kind(target.kind)
    if kind is not None and target.name and (target.namespace or not kind.namespaced):
        return PlaneRef(kind.kind, target.namespace if kind.namespaced else "", target.name)
    raise Unavailable(f"build plane {target.plane_id!r}: the run records no plane object")


def _ref_of(kind: str, obj: JsonObj) -> PlaneRef:
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "") if planes.BY_KIND[kind].namespaced else ""
    return PlaneRef(kind, namespace, str(meta.get("name") or ""))
