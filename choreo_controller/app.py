"""Composition root of ``choreo-controller controller``: clients, informers, indexes, handlers, controllers.

Nothing here needs a test of its own: it only wires tested parts together (the e2e tests run it for real).

Build planes, one of two modes behind the same port (``reconcilers.ports.BuildPlanes``):

* direct (SPEC section 1, for development and tests): one kubeconfig reaches the build plane and serves
  every planeID (``DirectBuildPlanes``); our objects of each engine kind tracking reads are watched by one
  informer per kind, label-selected (``labels.MANAGED_SELECTOR``: ``openchoreo.dev/managed-by`` of this
  release or an earlier one) across namespaces, started when first read (``runtime.planeview.PlaneCaches``);
* relay (``app_relay``): no build-plane credentials at all; each plane is reached through the agents
  connected to an embedded or a standalone gateway (``relay.buildplanes.RelayBuildPlanes``), with relayed
  informers per plane.

Either way the informers' handler maps the ``openchoreo.dev/workflowrun[-namespace]`` labels to the run's
key and enqueues it; the reconcilers do not know which mode they run in.

Controllers wait only for the control-plane caches: a build plane that is down at start must not stop
cleanup or the reporting of ``BuildPlaneUnavailable``. Leader-only runnables: the orphan sweep and the
slow safety resync of in-flight runs. Always: Events, ``/metrics``, ``/healthz``, ``/readyz``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, Protocol

import structlog

from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.api.planes import PLANE_KINDS
from choreo_controller.app_autobuild import AutoBuildServer
from choreo_controller.app_relay import RelayOptions, relay_planes
from choreo_controller.kube import KubeClient, connect
from choreo_controller.kube.transport import ApiClientTransport, TokenBucket
from choreo_controller.metrics import Metrics
from choreo_controller.reconcilers import component as comp
from choreo_controller.reconcilers import concurrency
from choreo_controller.reconcilers.autobuild import SECRET_NAME, CachedSource
from choreo_controller.reconcilers.ports import Caches, PlaneTarget
from choreo_controller.reconcilers.workflow import WorkflowReconciler
from choreo_controller.reconcilers.workflowrun import (
    INDEXERS,
    OrphanSweep,
    RunDeps,
    WorkflowRunReconciler,
    settled_expiry,
)
from choreo_controller.reconcilers.workflowrun import indexes as ix
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.endpoints import HttpServer
from choreo_controller.runtime.events import KubeEventRecorder
from choreo_controller.runtime.handlers import EventHandler, enqueue, labelled
from choreo_controller.runtime.leader import LeaderConfig
from choreo_controller.runtime.manager import Manager
from choreo_controller.runtime.planeview import InformerPlaneView, PlaneCaches

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock, JsonObj, KubeApi
    from choreo_controller.reconcilers.ports import BuildPlanes
    from choreo_controller.runtime.controller import Controller
    from choreo_controller.runtime.informer import Informer
    from choreo_controller.runtime.store import Store

log = structlog.get_logger("choreo_controller.app")
DIRECT_PLANE = "direct"


@dataclass(frozen=True)
class ControllerOptions:
    """Flags of ``choreo-controller controller``."""

    kubeconfig: str | None
    build_plane_kubeconfig: str | None  # direct mode
    relay: RelayOptions | None = None  # relay mode (then no build-plane kubeconfig)
    workers: int = 20  # default_workers(qps)
    metrics_address: str = ":8080"  # "0" disables
    health_address: str = ":8081"  # "0" disables
    leader_elect: bool = False
    leader_election_namespace: str = "default"
    leader_election_id: str = "choreo-controller"
    sweep_interval: float = 600.0
    sweep_min_age: float = 60.0
    resync_interval: float = 600.0
    failure_log_lines: int = 10  # last log lines of each failed step kept in its failure message
    qps: float = 200.0
    burst: int = 400
    autobuild_address: str = "0"  # "0" disables the auto-build receiver
    autobuild_secret_namespace: str = "openchoreo-control-plane"  # noqa: S105 - a namespace, not a secret
    autobuild_hosts: tuple[tuple[str, str], ...] = ()  # self-hosted Git host -> provider
    autobuild_qps: float = 5.0  # the receiver's own apiserver budget (run creations)
    autobuild_burst: int = 20


def default_workers(qps: float) -> int:
    """Workers that can use a QPS budget: one per 10 requests/s, at least 4.

    A worker's requests are sequential, so one worker uses only a slice of the budget (the rule's basis is
    measured in docs/performance.md): fewer workers leave the budget unused, more only wait in the limiter.
    """
    return max(4, round(qps / 10))


class DirectBuildPlanes:
    """``BuildPlanes`` for direct mode: every planeID is the one kubeconfig's cluster."""

    def __init__(self, api: KubeApi, caches: PlaneCaches) -> None:
        self._view = InformerPlaneView(api, caches)

    def plane(self, target: PlaneTarget) -> InformerPlaneView:
        """The one view, whatever ``target``."""
        del target  # one cluster serves them all
        return self._view

    def targets(self) -> list[PlaneTarget]:
        """One plane."""
        return [PlaneTarget(DIRECT_PLANE)]


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


class _HandlerTarget(Protocol):
    """Where build-plane events come from: the direct plane's caches, or every relayed one."""

    def add_handler(self, handler: EventHandler) -> None: ...


async def _build_planes(
    opts: ControllerOptions,
    stack: contextlib.AsyncExitStack,
    mgr: Manager,
    cp: KubeApi,
    clock: Clock,
    others: dict[str, Informer],
) -> tuple[BuildPlanes, _HandlerTarget]:
    """The build planes of the chosen mode, and where their events come from."""
    if opts.relay is not None:
        planes = relay_planes(
            opts.relay,
            mgr,
            cp,
            metrics=mgr.metrics,
            clock=clock,
            plane_caches={kind.kind: others[kind.resource.plural].store for kind in PLANE_KINDS},
        )
        return planes, planes
    bp = await stack.enter_async_context(
        connect(opts.build_plane_kubeconfig, qps=opts.qps, burst=opts.burst, compression=False)
    )
    caches = PlaneCaches(bp, clock=clock, label_selector=labels.MANAGED_SELECTOR, name=DIRECT_PLANE)
    mgr.add_runnable("build-plane-caches", caches.run)
    return DirectBuildPlanes(bp, caches), caches


def _wire_run_handlers(
    runs_informer: Informer,
    plane_events: _HandlerTarget,
    runs_ctrl: Controller,
    reconciler: WorkflowRunReconciler,
    others: dict[str, Informer],
) -> None:
    # Not for the watch's echo of our own writes: a no-op reconcile each, queued in front of new runs.
    reconciler.requeue_with(runs_ctrl.queue.add)
    runs_informer.add_handler(enqueue(runs_ctrl.queue, update_if=reconciler.not_our_write))
    runs = runs_informer.store
    # A run's arrival, completion or deletion wakes the other members of its concurrency group.
    runs_informer.add_handler(
        enqueue(runs_ctrl.queue, concurrency.group_members(runs), update_if=concurrency.membership_changed)
    )
    to_run = labelled(labels.LABEL_WORKFLOWRUN, labels.LABEL_WORKFLOWRUN_NAMESPACE)

    def plane_event(*objs: JsonObj) -> None:
        # Urgent: a status update (cheap, what the user waits to see) must not queue behind submissions.
        for key in {k for obj in objs for k in to_run(obj)}:
            reconciler.note_build_plane_event(key)
            runs_ctrl.queue.add(key, urgent=True)

    plane_events.add_handler(EventHandler(plane_event, plane_event, plane_event))
    for kind, name in (("Workflow", "workflows"), ("ClusterWorkflow", "clusterworkflows")):
        others[name].add_handler(enqueue(runs_ctrl.queue, ix.runs_of_workflow(runs, kind)))
    for plane_kind in PLANE_KINDS:
        mapper = ix.runs_waiting_for_plane(runs, cluster=not plane_kind.namespaced)
        others[plane_kind.resource.plural].add_handler(enqueue(runs_ctrl.queue, mapper))


def _wire_components(mgr: Manager, cp: KubeApi, clock: Clock, others: dict[str, Informer]) -> None:
    """The Component controller (``Ready``) and the events of related kinds that re-enqueue Components."""
    components, workflows, cluster_workflows = (
        others["components"],
        others["workflows"],
        others["clusterworkflows"],
    )
    types, cluster_types = others["componenttypes"], others["clustercomponenttypes"]
    caches = comp.ComponentCaches(
        components.store, types.store, cluster_types.store, workflows.store, cluster_workflows.store
    )
    ctrl = mgr.new_controller("component", comp.ComponentReconciler(cp, caches, clock))
    components.add_handler(enqueue(ctrl.queue))
    for cluster, informer in ((False, types), (True, cluster_types)):
        informer.add_handler(enqueue(ctrl.queue, comp.components_of_type(components.store, cluster=cluster)))
    for kind, informer in (("Workflow", workflows), ("ClusterWorkflow", cluster_workflows)):
        informer.add_handler(enqueue(ctrl.queue, comp.components_of_workflow(components.store, kind)))
    mgr.add_controller(ctrl, informers=[components, types, cluster_types, workflows, cluster_workflows])


def _wire_autobuild(
    opts: ControllerOptions, mgr: Manager, cp: KubeClient[ApiClientTransport], components: Informer,
    others: dict[str, Informer],
) -> None:  # fmt: skip
    """The receiver, on every replica (run names dedupe deliveries), with its own apiserver budget."""
    address = parse_address(opts.autobuild_address)
    if address is None:
        return
    secret = mgr.add_informer(
        r.SECRET, namespace=opts.autobuild_secret_namespace, field_selector=f"metadata.name={SECRET_NAME}"
    )
    budget = KubeClient(cp.transport.with_limiter(TokenBucket(opts.autobuild_qps, opts.autobuild_burst)))
    receiver = AutoBuildServer.create(
        budget,
        host=address[0],
        port=address[1],
        secret_namespace=opts.autobuild_secret_namespace,
        source=CachedSource(components.store, others["workflows"].store, others["clusterworkflows"].store),
        secret_store=secret.store,
        hosts=dict(opts.autobuild_hosts),  # type: ignore[arg-type]  # providers checked by the CLI
    )
    mgr.add_runnable("autobuild", receiver.run)


async def run_controller(opts: ControllerOptions) -> None:
    """Run the controller until SIGTERM/SIGINT (returns) or lost leadership (raises ``LeadershipLost``)."""
    clock, metrics = RealClock(), Metrics()
    async with contextlib.AsyncExitStack() as stack:
        # Uncompressed, as Kubernetes' own controllers: the controller runs next to its apiserver, and a
        # gzipped LIST page costs the apiserver and us more CPU than its bytes cost the network.
        cp = await stack.enter_async_context(
            connect(opts.kubeconfig, qps=opts.qps, burst=opts.burst, compression=False)
        )
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
        for name, func in {**INDEXERS, concurrency.INDEX: concurrency.by_group}.items():
            runs_informer.store.add_indexer(name, func)
        runs_informer.store.set_summary(settled_expiry)
        kinds = (
            r.WORKFLOW,
            r.CLUSTER_WORKFLOW,
            *(kind.resource for kind in PLANE_KINDS),
            r.SECRET_REFERENCE,
            r.COMPONENT,
            r.COMPONENT_TYPE,
            r.CLUSTER_COMPONENT_TYPE,
        )
        others = {res.plural: mgr.add_informer(res) for res in kinds}
        planes, plane_events = await _build_planes(opts, stack, mgr, cp, clock, others)
        events = KubeEventRecorder(cp, clock, instance=identity)
        runs_informer.add_handler(EventHandler(on_delete=events.forget))  # no Event follows a deletion
        caches = Caches(
            runs=runs_informer.store,
            workflows=others["workflows"].store,
            cluster_workflows=others["clusterworkflows"].store,
            planes={kind.kind: others[kind.resource.plural].store for kind in PLANE_KINDS},
            secret_references=others["secretreferences"].store,
            components=others["components"].store,
        )
        components = others["components"]
        for name, func in comp.INDEXERS.items():
            components.store.add_indexer(name, func)
        cached = comp.CachedLookup(
            components.store,
            others["componenttypes"].store,
            others["clustercomponenttypes"].store,
            others["workflows"].store,
        )
        governance = comp.ComponentGovernance(comp.ConfirmedLookup(cached, comp.ApiLookup(cp)))
        deps = RunDeps(
            cp,
            caches,
            planes,
            clock,
            events,
            metrics,
            governance=governance,
            failure_log_lines=opts.failure_log_lines,
        )
        reconciler = WorkflowRunReconciler(deps)
        runs_ctrl = mgr.new_controller("workflowrun", reconciler, workers=opts.workers)
        control_plane = [runs_informer, *others.values()]
        mgr.add_controller(runs_ctrl, informers=control_plane)
        for res in (r.WORKFLOW, r.CLUSTER_WORKFLOW):
            informer = others[res.plural]
            ctrl = mgr.new_controller(res.kind.lower(), WorkflowReconciler(cp, informer.store, res, clock))
            informer.add_handler(enqueue(ctrl.queue))
            mgr.add_controller(ctrl, informers=[informer])
        _wire_run_handlers(runs_informer, plane_events, runs_ctrl, reconciler, others)
        _wire_components(mgr, cp, clock, others)
        _wire_autobuild(opts, mgr, cp, components, others)
        sweep = OrphanSweep(
            runs_informer.store,
            cp,
            planes,
            clock=clock,
            interval=opts.sweep_interval,
            min_age=opts.sweep_min_age,
        )
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
        mode = "direct" if opts.relay is None else type(opts.relay).__name__
        log.info(
            "controller starting",
            identity=identity,
            workers=opts.workers,
            leader_elect=opts.leader_elect,
            build_planes=mode,
        )
        await mgr.run(handle_signals=True)
