"""The gateway's view of the plane objects of all four kinds (``api.planes``): planeID and clientCA each.

* ``PlaneDirectory`` - the current ``PlaneRecord`` per plane object, replaced wholesale; subscribers are
  called (synchronously, they must not block) only when something actually changed. Tests fill it directly.
* ``PlaneWatcher`` - keeps a directory current from the control plane: *list as the truth, watch as the
  trigger*. It lists every plane kind, resolves every clientCA (inline PEM, or a Secret key:
  ``secretRef`` or OpenChoreo 1.x's ``secretKeyRef``), replaces the directory, then watches every kind and
  lists again on the first event that can change a record (an
  object added or deleted, or its ``metadata.generation`` moved: a spec change) or after ``resync``
  seconds. Status-only updates - the gateway's own ``agentConnection`` writes among them - trigger
  nothing. There are few plane objects, so a full relist is cheap, and a Secret holding a clientCA needs
  no watch of its own: it is re-read at least every ``resync``.

A namespaced plane (BuildPlane, WorkflowPlane) may only take its clientCA from a Secret in its own
namespace or in one of the platform's ``ca_namespaces`` (default ``openchoreo-control-plane``, where the
sample keeps it): a tenant must not make the gateway read Secrets elsewhere on its behalf. A cluster-scoped
one may name any namespace. A kind the control plane does not serve (its CRD not installed yet) is listed
as empty, so an installation that has not applied the 1.x CRDs keeps serving its 0.17 planes. A
clientCA that cannot be read leaves the object with no anchors and a ``problem`` the status writer reports;
the object's agents are then refused. So is a clientCA that collides with a more trusted plane's CA
(``identity.trusted_records``: same subject and key identifier). Secret contents are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import TYPE_CHECKING, Any, Final

import structlog

from choreo_controller.api import planes, resources
from choreo_controller.contracts import ApiError, NotFound
from choreo_controller.relay.identity import PLANE_KINDS, PlaneRecord, PlaneRef, load_anchors, trusted_records

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi
    from choreo_controller.relay.identity import PlaneKind

log = structlog.get_logger("choreo.relay.planes")
CA_NAMESPACES = frozenset({"openchoreo-control-plane"})
_KINDS: Final = tuple((kind.kind, kind.resource) for kind in planes.PLANE_KINDS)


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
    """Keeps a ``PlaneDirectory`` in step with the control plane's plane objects."""

    def __init__(
        self,
        api: KubeApi,
        directory: PlaneDirectory,
        *,
        resync: float = 60.0,
        retry: float = 2.0,
        ca_namespaces: frozenset[str] = CA_NAMESPACES,
    ) -> None:
        self._api = api
        self._ca_namespaces = ca_namespaces
        self.directory = directory
        self._resync = resync
        self._retry = retry
        self._generations: dict[tuple[str, str, str], Any] = {}  # (kind, namespace, name) as last listed
        self.lists = 0  # full relists so far (both kinds): observability and tests

    async def run(self) -> None:
        """List, publish, wait for a change; forever (cancel to stop)."""
        while True:
            try:
                records, versions = await self.load()
            except ApiError as exc:
                log.warning("plane list failed", error=str(exc)[:200])
                await asyncio.sleep(self._retry)
                continue
            self.directory.replace(trusted_records(records, self._ca_namespaces))
            await self._changed(versions)

    async def load(self) -> tuple[list[PlaneRecord], dict[str, str]]:
        """Every plane object as a record, and the list resourceVersion per kind."""
        records: list[PlaneRecord] = []
        versions: dict[str, str] = {}
        generations: dict[tuple[str, str, str], Any] = {}
        for kind, res in _KINDS:
            try:
                listed = await self._api.list(res)
            except NotFound:
                log.warning("plane kind not served by the control plane; its CRD is missing", kind=kind)
                continue
            versions[kind] = listed.resource_version
            records += [await self._record(kind, obj) for obj in listed.items]
            generations.update({_identity(kind, obj): _generation(obj) for obj in listed.items})
        self._generations = generations
        self.lists += 1
        return records, versions

    async def _record(self, kind: PlaneKind, obj: JsonObj) -> PlaneRecord:
        meta = obj.get("metadata") or {}
        namespaced = not PLANE_KINDS[kind].cluster_scoped
        ref = PlaneRef(kind, str(meta.get("namespace") or "") if namespaced else "", str(meta["name"]))
        spec = obj.get("spec") or {}
        plane_id = str(spec.get("planeID") or ref.name)
        created = str(meta.get("creationTimestamp") or "")
        ca = (spec.get("clusterAgent") or {}).get("clientCA") or {}
        try:
            pem = await self._client_ca(ref, ca)
            return PlaneRecord(ref, plane_id, load_anchors(pem), created=created)
        except _NoCA as exc:
            return PlaneRecord(ref, plane_id, (), str(exc), created)
        except ValueError:
            return PlaneRecord(ref, plane_id, (), "clientCA holds no PEM CA certificate", created)

    async def _client_ca(self, ref: PlaneRef, ca: dict[str, Any]) -> str:
        if isinstance(ca.get("value"), str):
            return str(ca["value"])
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
        try:
            secret = await self._api.get(resources.SECRET, name, namespace)
        except NotFound:
            raise _NoCA(f"clientCA Secret {namespace}/{name} not found") from None
        except ApiError as exc:
            raise _NoCA(f"clientCA Secret {namespace}/{name} unreadable ({type(exc).__name__})") from None
        value = (secret.get("data") or {}).get(key)
        if not isinstance(value, str):
            raise _NoCA(f"clientCA Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, ValueError):
            raise _NoCA(f"clientCA Secret {namespace}/{name} key {key!r} is not PEM") from None

    async def _changed(self, versions: dict[str, str]) -> None:
        """Return on the first event of any listed kind, on a watch error, or after ``resync`` seconds."""
        watches = [
            asyncio.create_task(self._first_event(kind, res, versions[kind]), name=f"plane-watch-{kind}")
            for kind, res in _KINDS
            if kind in versions
        ]
        try:
            await asyncio.wait(watches, timeout=self._resync, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in watches:
                task.cancel()
            for task in watches:
                with contextlib.suppress(asyncio.CancelledError, ApiError):
                    await task

    async def _first_event(self, kind: str, res: ApiResource, resource_version: str) -> None:
        """Return on the first event that can change a record."""
        timeout = max(1, int(self._resync))
        try:
            async for event in self._api.watch(
                res, resource_version=resource_version, timeout_seconds=timeout
            ):
                if event.type == "BOOKMARK":
                    continue
                key = _identity(kind, event.object)
                if event.type == "MODIFIED" and self._generations.get(key) == _generation(event.object):
                    continue  # status or metadata only: the record (planeID, clientCA) cannot have changed
                return
        except ApiError as exc:
            log.info("plane watch ended", resource=res.plural, error=type(exc).__name__)
            await asyncio.sleep(self._retry)


def _identity(kind: str, obj: JsonObj) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return kind, str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _generation(obj: JsonObj) -> Any:
    """``metadata.generation``; when absent, a fresh sentinel that matches nothing (so: relist)."""
    return (obj.get("metadata") or {}).get("generation") or object()


class _NoCA(Exception):
    """The clientCA could not be resolved; the message is safe for status."""
