"""The gateway's view of the plane objects of all four kinds (``api.planes``): planeID and clientCA each.

* ``PlaneDirectory`` - the current ``PlaneRecord`` per plane object, replaced wholesale; subscribers are
  called (synchronously, they must not block) only when something actually changed. Tests fill it directly.
* ``PlaneWatcher`` - keeps a directory current from the control plane without polling: one informer per
  plane kind and one per clientCA Secret the plane objects name (``secretRef``, or OpenChoreo 1.x's
  ``secretKeyRef``), each Secret's watched alone (field selector ``metadata.name``, in its namespace). Any
  event that can change a record - a plane object added or deleted, its ``metadata.generation`` moved (a
  spec change), a watched Secret added, changed or deleted - rebuilds every record from the caches and
  replaces the directory; status-only updates (the gateway's own ``agentConnection`` writes among them)
  trigger nothing. A Secret no longer named by any plane object stops being watched. After the first
  list, nothing is read again except through watches: a CA rotated in its Secret, or the Secret deleted,
  takes effect when the watch delivers it.

A namespaced plane (BuildPlane, WorkflowPlane) may only take its clientCA from a Secret in its own
namespace or in one of the platform's ``ca_namespaces`` (default ``openchoreo-control-plane``, where the
sample keeps it): a tenant must not make the gateway read Secrets elsewhere on its behalf - such a Secret is
not even watched. A cluster-scoped one may name any namespace. A kind the control plane does not serve (its
CRD not installed yet) has no objects until it is (its informer retries with backoff), so an installation
that has not applied the 1.x CRDs keeps serving its 0.17 planes. A clientCA that cannot be read (the
Secret or key missing, or its watch not answering within ``secret_wait`` seconds, e.g. no RBAC) leaves the
object with no anchors and a ``problem`` the status writer reports; the object's agents are then refused.
So is a clientCA that collides with a more trusted plane's CA (``identity.trusted_records``: same subject
and key identifier). Secret contents are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import TYPE_CHECKING, Any, Final, NoReturn

import structlog

from choreo_controller.api import planes, resources
from choreo_controller.contracts import ObjectKey
from choreo_controller.relay.identity import PLANE_KINDS, PlaneRecord, PlaneRef, load_anchors, trusted_records
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler, generation_changed
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from choreo_controller.contracts import Clock, JsonObj, KubeApi
    from choreo_controller.relay.identity import PlaneKind

log = structlog.get_logger("choreo.relay.planes")
CA_NAMESPACES = frozenset({"openchoreo-control-plane"})
_KINDS: Final = tuple((kind.kind, kind.resource) for kind in planes.PLANE_KINDS)
SecretName = tuple[str, str]  # (namespace, name)


class PlaneDirectory:
    """Plane objects by reference. Invariant: subscribers run once per effective change."""

    def __init__(self, records: Iterable[PlaneRecord] = ()) -> None:
        self._records: dict[PlaneRef, PlaneRecord] = {r.ref: r for r in records}
        self._subscribers: list[Callable[[], None]] = []
        self.synced = asyncio.Event()
        if self._records:
            self.synced.set()

    def replace(self, records: Iterable[PlaneRecord]) -> bool:
        """Make ``records`` the whole directory; returns whether anything changed."""
        new = {r.ref: r for r in records}
        changed = new != self._records
        self._records = new
        self.synced.set()
        if changed:
            for subscriber in list(self._subscribers):
                subscriber()
        return changed

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change."""
        self._subscribers.append(callback)

    def records(self) -> list[PlaneRecord]:
        """Every record."""
        return list(self._records.values())

    def record(self, ref: PlaneRef) -> PlaneRecord | None:
        """One record."""
        return self._records.get(ref)


class PlaneWatcher:
    """Keeps a ``PlaneDirectory`` in step with the control plane's plane objects and clientCA Secrets."""

    def __init__(
        self,
        api: KubeApi,
        directory: PlaneDirectory,
        *,
        clock: Clock | None = None,
        secret_wait: float = 5.0,
        ca_namespaces: frozenset[str] = CA_NAMESPACES,
    ) -> None:
        self._api = api
        self._clock = clock if clock is not None else RealClock()
        self._ca_namespaces = ca_namespaces
        self.directory = directory
        self._secret_wait = secret_wait
        self._changed = asyncio.Event()
        poke = EventHandler(self._poke, self._poke_on_spec, self._poke)
        self.planes = {kind: Informer(api, res, clock=self._clock) for kind, res in _KINDS}
        for informer in self.planes.values():
            informer.add_handler(poke)
        self.secrets: dict[SecretName, Informer] = {}  # the clientCA Secrets watched now
        self._secret_tasks: dict[SecretName, asyncio.Task[None]] = {}
        self.rebuilds = 0  # directory rebuilds so far: observability and tests

    async def run(self) -> NoReturn:
        """Watch, rebuild, publish on every change; forever (cancel to stop)."""
        tasks = [asyncio.create_task(i.run(), name=f"plane-informer-{k}") for k, i in self.planes.items()]
        try:
            # The apiserver answers one kind first; a kind it does not serve (no CRD) must not hold the rest.
            waits = [asyncio.ensure_future(i.wait_synced()) for i in self.planes.values()]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            await self._settle(waits)
            while True:
                self._changed.clear()
                self._follow_secrets()
                await self._settle(informer.wait_synced() for informer in self.secrets.values())
                self.directory.replace(trusted_records(self.records(), self._ca_namespaces))
                self.rebuilds += 1
                await self._changed.wait()
        finally:
            await cancel_and_wait(*tasks, *self._secret_tasks.values())

    def records(self) -> list[PlaneRecord]:
        """Every cached plane object as a record (clientCAs resolved from the Secret caches)."""
        return [
            self._record(kind, obj) for kind, informer in self.planes.items() for obj in informer.store.list()
        ]

    def _poke(self, _obj: JsonObj) -> None:
        self._changed.set()

    def _poke_on_spec(self, old: JsonObj, new: JsonObj) -> None:
        if generation_changed(old, new) or not (new.get("metadata") or {}).get("generation"):
            self._changed.set()

    async def _settle(self, waits: Iterable[Any]) -> None:
        """Wait for caches to sync, at most ``secret_wait`` seconds.

        A cache that never answers is a problem of its plane objects (reported in their status), not a
        reason to hold back the others.
        """
        pending = [asyncio.ensure_future(w) for w in waits]
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=self._secret_wait)
        for task in late:
            task.cancel()

    def _follow_secrets(self) -> None:
        """Watch exactly the clientCA Secrets the plane objects name (and may name)."""
        wanted: set[SecretName] = set()
        for kind, informer in self.planes.items():
            for obj in informer.store.list():
                with contextlib.suppress(_NoCA):
                    located = self._secret_of(_ref_of(kind, obj), _client_ca(obj))
                    if located is not None:
                        wanted.add(located[:2])
        for name in set(self.secrets) - wanted:
            del self.secrets[name]
            self._secret_tasks.pop(name).cancel()
        for name in wanted - set(self.secrets):
            informer = Informer(
                self._api,
                resources.SECRET,
                clock=self._clock,
                namespace=name[0],
                field_selector=f"metadata.name={name[1]}",
            )
            informer.add_handler(EventHandler(self._poke, lambda _old, _new: self._changed.set(), self._poke))
            self.secrets[name] = informer
            self._secret_tasks[name] = asyncio.create_task(
                self._watch_secret(informer), name="client-ca-secret"
            )

    async def _watch_secret(self, informer: Informer) -> None:
        """Run the informer; once synced, rebuild (a Secret that does not exist yields no event)."""
        runner = asyncio.create_task(informer.run())
        try:
            await informer.wait_synced()
            self._changed.set()
            await runner
        finally:
            await cancel_and_wait(runner)

    def _record(self, kind: PlaneKind, obj: JsonObj) -> PlaneRecord:
        ref = _ref_of(kind, obj)
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        plane_id = str(spec.get("planeID") or ref.name)
        created = str(meta.get("creationTimestamp") or "")
        try:
            pem = self._pem(ref, _client_ca(obj))
            return PlaneRecord(ref, plane_id, load_anchors(pem), created=created)
        except _NoCA as exc:
            return PlaneRecord(ref, plane_id, (), str(exc), created)
        except ValueError:
            return PlaneRecord(ref, plane_id, (), "clientCA holds no PEM CA certificate", created)

    def _secret_of(self, ref: PlaneRef, ca: dict[str, Any]) -> tuple[str, str, str] | None:
        """``(namespace, name, key)`` of the clientCA Secret; ``None``: inline; ``_NoCA``: not allowed."""
        if isinstance(ca.get("value"), str):
            return None
        secret_ref = ca.get("secretRef") or ca.get("secretKeyRef")  # ours / OpenChoreo 1.x's name
        if not isinstance(secret_ref, dict):
            raise _NoCA("spec.clusterAgent.clientCA is not set")
        name, key = str(secret_ref.get("name")), str(secret_ref.get("key"))
        namespace = str(secret_ref.get("namespace") or ref.namespace)
        if ref.namespace and namespace != ref.namespace and namespace not in self._ca_namespaces:
            shared = ", ".join(sorted(self._ca_namespaces))
            raise _NoCA(f"a {ref.kind}'s clientCA Secret must be in its own namespace or in {shared}")
        if not namespace:
            raise _NoCA(f"the clientCA Secret's namespace is required for a {ref.kind}")
        return namespace, name, key

    def _pem(self, ref: PlaneRef, ca: dict[str, Any]) -> str:
        located = self._secret_of(ref, ca)
        if located is None:
            return str(ca["value"])
        namespace, name, key = located
        informer = self.secrets.get((namespace, name))
        if informer is None or not informer.has_synced:
            raise _NoCA(f"clientCA Secret {namespace}/{name} unreadable (its watch has not answered)")
        secret = informer.store.get(ObjectKey(namespace, name))
        if secret is None:
            raise _NoCA(f"clientCA Secret {namespace}/{name} not found")
        value = (secret.get("data") or {}).get(key)
        if not isinstance(value, str):
            raise _NoCA(f"clientCA Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, ValueError):
            raise _NoCA(f"clientCA Secret {namespace}/{name} key {key!r} is not PEM") from None


def _ref_of(kind: PlaneKind, obj: JsonObj) -> PlaneRef:
    meta = obj.get("metadata") or {}
    namespaced = not PLANE_KINDS[kind].cluster_scoped
    return PlaneRef(kind, str(meta.get("namespace") or "") if namespaced else "", str(meta["name"]))


def _client_ca(obj: JsonObj) -> dict[str, Any]:
    return dict(((obj.get("spec") or {}).get("clusterAgent") or {}).get("clientCA") or {})


class _NoCA(Exception):
    """The clientCA could not be resolved; the message is safe for status."""
