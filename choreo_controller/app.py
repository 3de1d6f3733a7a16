"""Composition root of ``choreo-controller controller``: clients, informers, indexes, handlers, controllers.

Nothing here needs a test of its own: it only wires tested parts together (the e2e tests run it for real).

Direct mode (SPEC section 1, for development and tests): one kubeconfig reaches the build plane and serves
every planeID (``DirectBuildPlanes``). Its Argo Workflows are watched by one informer, label-selected
(``openchoreo.dev/managed-by=choreo-controller``) across namespaces; its handler maps the
``openchoreo.dev/workflowrun[-namespace]`` labels to the run's key and enqueues it. The relay issue swaps
``DirectBuildPlanes`` for planes reached through agents; the reconcilers do not change.

Controllers wait only for the control-plane caches: a build plane that is down at start must not stop
cleanup or the reporting of ``BuildPlaneUnavailable``. Leader-only runnables: the orphan sweep and the
slow safety resync of in-flight runs. Always: Events, ``/metrics``, ``/healthz``, ``/readyz``.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import structlog

from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import ObjectKey
from choreo_controller.kube import KubeClient, connect
from choreo_controller.metrics import Metrics
from choreo_controller.reconcilers.ports import Caches
from choreo_controller.reconcilers.workflow import WorkflowReconciler
from choreo_controller.reconcilers.workflowrun import INDEXERS, OrphanSweep, RunDeps, WorkflowRunReconciler
from choreo_controller.reconcilers.workflowrun import indexes as ix
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.endpoints import HttpServer
from choreo_controller.runtime.events import KubeEventRecorder
from choreo_controller.runtime.handlers import EventHandler, enqueue, labelled
from choreo_controller.runtime.leader import LeaderConfig
from choreo_controller.runtime.manager import Manager

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock, JsonObj, KubeApi
    from choreo_controller.runtime.controller import Controller
    from choreo_controller.runtime.informer import Informer
    from choreo_controller.runtime.store import Store

log = structlog.get_logger("choreo_controller.app")
DIRECT_PLANE = "direct"


@dataclass(frozen=True)
class ControllerOptions:
    """Flags of ``choreo-controller controller``."""

    kubeconfig: str | None
    build_plane_kubeconfig: str | None
    workers: int = 4
    metrics_address: str = ":8080"  # "0" disables
    health_address: str = ":8081"  # "0" disables
    leader_elect: bool = False
    leader_election_namespace: str = "default"
    leader_election_id: str = "choreo-controller"
    sweep_interval: float = 600.0
    resync_interval: float = 600.0
    qps: float = 50.0
    burst: int = 100


class _DirectView:
    """A build plane reached with a kubeconfig: its API and its Argo Workflow cache."""

    def __init__(self, api: KubeApi, informer: Informer) -> None:
        self._api = api
        self._informer = informer

    @property
    def api(self) -> KubeApi:
        return self._api

    @property
    def synced(self) -> bool:
        return self._informer.has_synced

    def argo_workflow(self, namespace: str, name: str) -> JsonObj | None:
        return self._informer.store.get(ObjectKey(namespace, name))


class DirectBuildPlanes:
    """``BuildPlanes`` for direct mode: every planeID is the one kubeconfig's cluster."""

    def __init__(self, api: KubeApi, informer: Informer) -> None:
        self._view = _DirectView(api, informer)

    def plane(self, plane_id: str) -> _DirectView:
        """The one view, whatever ``plane_id``."""
        del plane_id  # one cluster serves them all
        return self._view

    def plane_ids(self) -> list[str]:
        """One plane."""
        return [DIRECT_PLANE]


class InFlightResync:
    """The slow safety net: every ``interval`` seconds, re-enqueue every run still in flight."""

    def __init__(self, runs: Store, controller: Controller, clock: Clock, interval: float) -> None:
        self._runs, self._controller, self._clock, self._interval = runs, controller, clock, interval

    async def run(self) -> NoReturn:
        """Re-enqueue in-flight runs every ``interval`` seconds, until cancelled."""
        while True:
            await self._clock.sleep(self._interval)
            keys = self._runs.index_keys(ix.IN_FLIGHT, ix.ALL)
            for key in keys:
                self._controller.queue.add(key)
            log.info("safety resync", runs=len(keys))


def parse_address(text: str) -> tuple[str, int] | None:
    """``host:port`` / ``:port`` (all interfaces) -> ``(host, port)``; ``"0"`` or empty -> disabled."""
    if text in {"", "0"}:
        return None
    host, _, port = text.rpartition(":")
    return (host or "0.0.0.0", int(port))  # noqa: S104 - ":8080" means every interface, as in controller-runtime


def _wire_run_handlers(
    runs_informer: Informer,
    argo_informer: Informer,
    runs_ctrl: Controller,
    reconciler: WorkflowRunReconciler,
    others: dict[str, Informer],
) -> None:
    runs_informer.add_handler(enqueue(runs_ctrl.queue))
    to_run = labelled(labels.LABEL_WORKFLOWRUN, labels.LABEL_WORKFLOWRUN_NAMESPACE)

    def argo_event(*objs: JsonObj) -> None:
        for key in {k for obj in objs for k in to_run(obj)}:
            reconciler.note_build_plane_event(key)
            runs_ctrl.queue.add(key)

    argo_informer.add_handler(EventHandler(argo_event, argo_event, argo_event))
    runs = runs_informer.store
    for kind, name in (("Workflow", "workflows"), ("ClusterWorkflow", "clusterworkflows")):
        others[name].add_handler(enqueue(runs_ctrl.queue, ix.runs_of_workflow(runs, kind)))
    others["buildplanes"].add_handler(
        enqueue(runs_ctrl.queue, ix.runs_waiting_for_plane(runs, cluster=False))
    )
    others["clusterbuildplanes"].add_handler(
        enqueue(runs_ctrl.queue, ix.runs_waiting_for_plane(runs, cluster=True))
    )


async def run_controller(opts: ControllerOptions) -> None:
    """Run the controller until SIGTERM/SIGINT (returns) or lost leadership (raises ``LeadershipLost``)."""
    clock, metrics = RealClock(), Metrics()
    async with (
        connect(opts.kubeconfig, qps=opts.qps, burst=opts.burst) as cp,
        connect(opts.build_plane_kubeconfig, qps=opts.qps, burst=opts.burst) as bp,
    ):
        identity = f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        election = (
            LeaderConfig(opts.leader_election_id, opts.leader_election_namespace, identity)
            if opts.leader_elect
            else None
        )
        mgr = Manager(
            cp,
            clock=clock,
            metrics=metrics,
            leader_election=election,
            lease_api=KubeClient(cp.transport.unthrottled()),
        )
        runs_informer = mgr.add_informer(r.WORKFLOW_RUN)
        for name, func in INDEXERS.items():
            runs_informer.store.add_indexer(name, func)
        kinds = (r.WORKFLOW, r.CLUSTER_WORKFLOW, r.BUILD_PLANE, r.CLUSTER_BUILD_PLANE, r.SECRET_REFERENCE)
        others = {res.plural: mgr.add_informer(res) for res in kinds}
        argo_informer = mgr.add_informer(r.ARGO_WORKFLOW, label_selector=labels.MANAGED_SELECTOR, api=bp)
        planes = DirectBuildPlanes(bp, argo_informer)
        events = KubeEventRecorder(cp, clock, instance=identity)
        caches = Caches(
            runs=runs_informer.store,
            workflows=others["workflows"].store,
            cluster_workflows=others["clusterworkflows"].store,
            build_planes=others["buildplanes"].store,
            cluster_build_planes=others["clusterbuildplanes"].store,
            secret_references=others["secretreferences"].store,
        )
        reconciler = WorkflowRunReconciler(RunDeps(cp, caches, planes, clock, events, metrics))
        runs_ctrl = mgr.new_controller("workflowrun", reconciler, workers=opts.workers)
        control_plane = [runs_informer, *others.values()]
        mgr.add_controller(runs_ctrl, informers=control_plane)
        for res in (r.WORKFLOW, r.CLUSTER_WORKFLOW):
            informer = others[res.plural]
            ctrl = mgr.new_controller(res.kind.lower(), WorkflowReconciler(cp, informer.store, res, clock))
            informer.add_handler(enqueue(ctrl.queue))
            mgr.add_controller(ctrl, informers=[informer])
        _wire_run_handlers(runs_informer, argo_informer, runs_ctrl, reconciler, others)
        sweep = OrphanSweep(runs_informer.store, planes, clock=clock, interval=opts.sweep_interval)
        mgr.add_runnable("orphan-sweep", sweep.run, leader_only=True)
        resync = InFlightResync(runs_informer.store, runs_ctrl, clock, opts.resync_interval)
        mgr.add_runnable("safety-resync", resync.run, leader_only=True)
        mgr.add_runnable("events", events.run)
        for what, address in (("metrics", opts.metrics_address), ("health", opts.health_address)):
            bound = parse_address(address)
            if bound is not None:
                server = HttpServer(
                    metrics,
                    health=mgr.health_problems,
                    ready=mgr.ready_problems,
                    host=bound[0],
                    port=bound[1],
                )
                mgr.add_runnable(f"http-{what}", server.run)
        log.info(
            "controller starting", identity=identity, workers=opts.workers, leader_elect=opts.leader_elect
        )
        await mgr.run(handle_signals=True)
