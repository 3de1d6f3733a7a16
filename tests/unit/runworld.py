"""The WorkflowRun engine as the controller wires it, on two in-memory apiservers with real semantics.

``RunWorld`` holds a control plane and a build plane (``fakeapi.FakeApi``: preconditions, merge patch,
finalizers, status subresource), a ``FakeClock`` both read, the reconciler, and the orphan sweep. Its
caches read the control plane directly - always fresh - unless a test ``freeze``s one (a cache behind the
apiserver: a new leader's, or one that missed events). ``Planes`` behaves like relay mode: a target
whose plane object is gone (or names another planeID) is ``Unavailable``, and the sweep visits one target
per planeID that some plane object still names.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from fakeapi import FakeApi

from choreo_controller.api import labels, planes
from choreo_controller.api import resources as r
from choreo_controller.api.planes import PLANE_KINDS
from choreo_controller.contracts import ObjectKey, Unavailable
from choreo_controller.reconcilers import concurrency
from choreo_controller.reconcilers.ports import Caches, PlaneTarget
from choreo_controller.reconcilers.workflowrun import (
    INDEXERS,
    OrphanSweep,
    RunDeps,
    WorkflowRunReconciler,
    settled_expiry,
)
from choreo_controller.reconcilers.workflowrun.resolve import plane_object_gone
from choreo_controller.runtime.clock import FakeClock

SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
#: The runs informer's indexes, as ``app`` registers them.
RUN_INDEXERS = {**INDEXERS, concurrency.INDEX: concurrency.by_group}
NS = "team"
BUILD_NS = planes.build_namespace("BuildPlane", NS)


class Cache:
    """A ``Reader`` of one kind over the fake control plane; ``freeze()`` keeps what it shows now."""

    def __init__(self, api: FakeApi, res) -> None:
        self._api, self._res = api, res
        self._frozen = None

    def _objects(self):
        if self._frozen is not None:
            return self._frozen
        return {k: v for k, v in self._api.objects.items() if k[0] == self._res.plural}

    def snapshot(self) -> dict:
        """What the cache shows now."""
        return copy.deepcopy(self._objects())

    def freeze(self, snapshot: dict | None = None) -> None:
        """Show ``snapshot`` (default: what it shows now) from now on, whatever the apiserver holds."""
        self._frozen = snapshot if snapshot is not None else self.snapshot()

    def thaw(self) -> None:
        self._frozen = None

    def get(self, key: ObjectKey):
        obj = self._objects().get((self._res.plural, key.namespace, key.name))
        return copy.deepcopy(obj) if obj is not None else None

    def index_keys(self, name: str, value: str) -> list[ObjectKey]:
        return [ObjectKey.of(o) for o in self._objects().values() if value in RUN_INDEXERS[name](o)]

    def summary(self, key: ObjectKey):
        """The runs informer's summary (``settled_expiry``) of what the cache shows; other kinds have none."""
        obj = self._objects().get((self._res.plural, key.namespace, key.name))
        return settled_expiry(obj) if obj is not None and self._res == r.WORKFLOW_RUN else None

    def list(self, namespace=None):
        return [
            copy.deepcopy(o)
            for o in self._objects().values()
            if namespace in {None, o["metadata"].get("namespace")}
        ]

    @property
    def has_synced(self) -> bool:
        return True


class View:
    """A plane's ``PlaneView``: its API and (fresh) caches of every kind; ``unsynced`` kinds are not listed yet,
    ``started`` those asked for."""

    def __init__(self, api: FakeApi) -> None:
        self.api = api
        self.unsynced: set = set()
        self.started: set = set()  # kinds whose cache was asked for (and so started)

    def synced(self, resource) -> bool:
        self.started.add(resource)
        return resource not in self.unsynced

    def cached(self, resource, namespace: str, name: str):
        self.started.add(resource)
        return self.api.stored(resource, namespace, name)


class Planes:
    """``BuildPlanes`` like relay mode: only targets whose plane object exists with that planeID."""

    def __init__(self, caches: Caches, view: View) -> None:
        self._caches, self.view = caches, view

    def plane(self, target: PlaneTarget) -> View:
        if plane_object_gone(self._caches, target):
            raise Unavailable(f"{target.kind} {target.name} (planeID {target.plane_id!r}) no longer exists")
        return self.view

    def targets(self) -> list[PlaneTarget]:
        found = {}
        for kind, cache in self._caches.planes.items():
            for obj in cache.list():
                meta = obj["metadata"]
                plane_id = obj["spec"].get("planeID") or meta["name"]
                found.setdefault(
                    plane_id, PlaneTarget(plane_id, kind, meta.get("namespace", ""), meta["name"])
                )
        return list(found.values())


class Events:
    """``EventRecorder`` that keeps ``(type, reason, message)``."""

    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    async def record(self, obj, event_type, reason, message) -> None:
        assert obj["kind"] == "WorkflowRun", obj
        self.recorded.append((event_type, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.recorded]


def sample(name: str) -> dict:
    return yaml.safe_load((SAMPLES / name).read_text())


def plane_object(kind: str = "BuildPlane", name: str = "default", plane_id: str = "default") -> dict:
    meta = {"name": name, "namespace": NS} if kind in {"BuildPlane", "WorkflowPlane"} else {"name": name}
    return {"apiVersion": r.API_VERSION, "kind": kind, "metadata": meta,
            "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"value": "ca"}}}}  # fmt: skip


class RunWorld:
    """Both planes, the clock, the reconciler and the sweep; helpers to create and drive runs."""

    def __init__(self) -> None:
        self.clock = FakeClock(wall=FakeClock().now().replace(year=2026))
        self.cp, self.bp = FakeApi(now=self.clock.now), FakeApi(now=self.clock.now)
        self.caches = Caches(
            runs=Cache(self.cp, r.WORKFLOW_RUN),
            workflows=Cache(self.cp, r.WORKFLOW),
            cluster_workflows=Cache(self.cp, r.CLUSTER_WORKFLOW),
            planes={kind.kind: Cache(self.cp, kind.resource) for kind in PLANE_KINDS},
            secret_references=Cache(self.cp, r.SECRET_REFERENCE),
            components=Cache(self.cp, r.COMPONENT),
        )
        self.planes = Planes(self.caches, View(self.bp))
        self.events = Events()
        self.deps = RunDeps(self.cp, self.caches, self.planes, self.clock, self.events)
        self.reconciler = WorkflowRunReconciler(self.deps)
        self.sweep = OrphanSweep(self.caches.runs, self.cp, self.planes, clock=self.clock, min_age=60.0)

    async def setup(self, *, workflow: dict | None = None, plane: bool = True) -> None:
        wf = workflow or sample("workflow-generic.yaml")
        wf["metadata"]["namespace"] = NS
        await self.cp.create(r.WORKFLOW, wf)
        if plane:
            await self.cp.create(r.BUILD_PLANE, plane_object())

    async def submit(self, name: str = "run-1", **parameters) -> dict:
        params = {"image": "alpine:3.20", "script": "echo hi", **parameters}
        return await self.cp.create(r.WORKFLOW_RUN, {
            "apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": {"name": name, "namespace": NS},
            "spec": {"workflow": {"name": "run-container", "parameters": params}},
        })  # fmt: skip

    async def step(self, name: str = "run-1"):
        """One reconcile of ``name``; its ``Result`` (exceptions propagate, as to the controller)."""
        return await self.reconciler.reconcile(ObjectKey(NS, name))

    def run(self, name: str = "run-1") -> dict | None:
        return self.cp.stored(r.WORKFLOW_RUN, NS, name)

    def completed(self, name: str = "run-1") -> tuple[str, str] | None:
        for cond in ((self.run(name) or {}).get("status") or {}).get("conditions") or []:
            if cond["type"] == "WorkflowCompleted":
                return cond["status"], cond["reason"]
        return None

    def message(self, name: str = "run-1") -> str:
        conds = (self.run(name) or {}).get("status", {}).get("conditions") or []
        return next(c["message"] for c in conds if c["type"] == "WorkflowCompleted")

    async def argo_phase(self, phase: str, name: str = "run-1") -> None:
        argo = self.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, name)
        argo["status"] = {"phase": phase}
        await self.bp.put(r.ARGO_WORKFLOW, argo, event="MODIFIED")

    def build_objects(self, uid: str | None = None) -> list[tuple[str, str]]:
        """``(kind, name)`` of every build-plane object labelled with a run uid (``uid``: only that one)."""
        return sorted(
            (o["kind"], o["metadata"]["name"])
            for o in self.bp.objects.values()
            if (wanted := (o["metadata"].get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID))
            and (uid is None or wanted == uid)
            and not o["metadata"].get("deletionTimestamp")
        )
