#!/usr/bin/env python3
"""Benchmark: controller memory (idle, and with 10,000 completed runs cached) and cold start.

One controller (relay mode, embedded gateway, as ``bench_throughput``) against the local planes; Argo,
Tekton and kwok are stopped (no run executes here). The controller user's requests are in the control
plane's audit log (``benchlib.start_lab(audit=True)``).

1. idle: the planes hold a Workflow and two BuildPlanes but no run; the controller's RSS (VmRSS) once
   ready, the agent connected and ``--settle`` seconds passed (the last of five samples, 1 s apart).
2. 10,000 completed runs: ``--runs`` WorkflowRuns exactly as the controller leaves a run that succeeded
   (``finished``: finalizer, ``spec.ttlAfterCompletion`` 7d copied from the Workflow, status built with the
   reconciler's own transitions - pending, submitted (``plane``, ``resolvedWorkflow``,
   ``runReference``), running, three tasks, succeeded with ``completedAt`` - ``observedGeneration`` 1), made
   by a bounded-concurrency asyncio client: create, then the status through the ``status`` subresource.
   A create carries no status (the subresource drops it), and a leading controller would pick the run up
   in that gap and submit it. So the controller keeps running as a *standby*: it is restarted (SIGTERM
   releases its Lease) while the benchmark holds the Lease (holder ``bench-hold``, 1 h); its informers
   receive every run by watch, as they are made; then the benchmark releases the Lease (empty holder, 1 s,
   as a graceful stop does), the controller takes over and reconciles every run. Figures: time from the
   release to caught up, writes by the controller user from the release on, and RSS once caught up and
   settled (against the idle figure).
3. cold start: the controller is stopped (SIGTERM: it releases its Lease) and a new process started; time
   from the process start to ``/readyz`` OK, and to caught up (``workqueue_depth{name="workflowrun"}`` 0 and
   ``controller_runtime_reconcile_total{controller="workflowrun"}`` >= runs, from ``/metrics``, polled every
   50 ms). Writes by the controller user from the process start to caught up + ``--settle`` s, from the
   audit log, by (verb, resource): writes to WorkflowRuns must be 0 (the Lease and the gateway's
   BuildPlane ``status.agentConnection`` are not run writes and are listed as such).

Targets: idle RSS <= 80 MiB; with 10,000 completed runs <= idle + 32 MiB; cold start ready and caught up
<= 5 s, its peak RSS (``VmHWM``) <= idle + 64 MiB; 0 writes to runs already correct.

``--only cold`` skips the standby of (b): the runs are made while no controller runs (the benchmark holds
the Lease, then releases it), then (c). ``--cold-starts N`` repeats (c) N times (a new process each time).
``--py-spy FILE`` records the first cold start with py-spy (summarise with ``hack/bench/pyspy_top.py``).
``--alternate-src DIR`` runs the 1st, 3rd ... cold start from ``DIR/choreo_controller`` (``PYTHONPATH``) and
the others from this checkout, for a before/after under the same load, e.g. with
``git archive main choreo_controller | tar -x -C DIR``; the medians per code are printed at the end.

Usage: hack/bench/bench_memory.py [--runs 10000] [--concurrency 32] [--settle 10] [--only cold]
           [--cold-starts 1] [--py-spy FILE] [--alternate-src DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import (
    CONTROLLER_USER,
    PLANE_ID,
    Controller,
    Fleet,
    Lab,
    cpu_seconds,
    load,
    machine,
    py_spy,
    start_lab,
    stop_py_spy,
)
from benchruns import create_retrying, prepare, run_object, sample_workflow
from localcluster import tekton

from choreo_controller.api import labels, planes
from choreo_controller.api import resources as r
from choreo_controller.contracts import ServerError, TooManyRequests, Unavailable
from choreo_controller.kube import connect
from choreo_controller.reconcilers.workflowrun import state
from choreo_controller.reconcilers.workflowrun.resolve import identity
from choreo_controller.runtime.lease import LeaseRecord, lease_object, record_of

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

NAMESPACE = "bench-memory"
TTL = "7d"  # the sample Workflow's: copied into every run by the controller; nothing expires here
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
IDLE_TARGET, CACHED_TARGET, START_TARGET, PEAK_TARGET = 80.0, 32.0, 5.0, 64.0
LEASE_NAME, HOLDER = "choreo-controller", "bench-hold"


def finished(namespace: str, name: str, workflow: JsonObj, now: datetime) -> tuple[JsonObj, JsonObj]:
    """A run as the controller leaves it when it succeeded: ``(object to create, status)``."""
    run = run_object(namespace, name, ttl=TTL)
    run["metadata"]["finalizers"] = [labels.FINALIZER]
    build_ns = planes.build_namespace("BuildPlane", namespace)
    where = f"{build_ns}/{name} in build plane {PLANE_ID!r}"
    t = [now + timedelta(seconds=s) for s in range(8)]
    kw: dict[str, Any] = {"gen": 1}
    st = state.pending({}, f"Submitting to build plane {PLANE_ID!r}", now=t[0], **kw)
    st["plane"] = {"kind": "BuildPlane", "name": "default", "planeID": PLANE_ID}
    st["resolvedWorkflow"] = identity(workflow, "Workflow")
    st = state.pending(
        st, f"Submitted Argo Workflow {build_ns}/{name} to build plane {PLANE_ID!r}", now=t[0], **kw
    )
    st["runReference"] = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": name,
                          "namespace": build_ns}  # fmt: skip
    st = state.running(st, f"Argo Workflow {where} is running", now=t[2], **kw)
    st["tasks"] = [
        {"name": task, "phase": "Succeeded", "startedAt": rfc(t[1 + 2 * i]), "completedAt": rfc(t[2 + 2 * i])}
        for i, task in enumerate(("checkout-source", "build-image", "publish-image"))
    ]
    return run, state.succeeded(st, "Workflow completed successfully", now=t[7], **kw)


def rfc(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def make_runs(lab: Lab, count: int, concurrency: int) -> None:
    """``count`` finished runs: create, then status (each retried while the apiserver is overloaded)."""
    async with connect(lab.cp.kubeconfig) as cp:
        workflow = await cp.get(r.WORKFLOW, "docker", NAMESPACE)
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            name = f"done-{i:05d}"
            run, st = finished(NAMESPACE, name, workflow, now)
            async with limit:
                await create_retrying(cp, r.WORKFLOW_RUN, run)
                await patch_status(cp, name, st)

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        took = time.monotonic() - started
        print(f"  {count} runs created with status in {took:.1f}s ({count / took:.0f}/s)  [{load()}]")


async def patch_status(cp: KubeApi, name: str, st: JsonObj) -> None:
    for attempt in range(50):
        try:
            await cp.merge_patch(
                r.WORKFLOW_RUN, name, {"status": st}, namespace=NAMESPACE, subresource="status"
            )
        except (TooManyRequests, ServerError, Unavailable):
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        else:
            return
    raise RuntimeError(f"status of {name} not written")


async def prepared(lab: Lab) -> None:
    async with connect(lab.cp.kubeconfig) as cp:
        await prepare(cp, NAMESPACE, lab.client_ca, sample_workflow(NAMESPACE))


def settled_rss(ctl: Controller, settle: float) -> float:
    time.sleep(settle)
    samples = []
    for _ in range(5):
        samples.append(ctl.rss_mib())
        time.sleep(1.0)
    return samples[-1]


def run_metrics(ctl: Controller) -> tuple[float | None, float]:
    """``(workqueue depth of workflowrun or None if not exported yet, workflowrun reconciles)``."""
    m = ctl.metrics()
    depth = next(
        (v for k, v in m.items() if k.startswith("workqueue_depth{") and 'name="workflowrun"' in k), None
    )
    done = sum(
        v
        for k, v in m.items()
        if k.startswith("controller_runtime_reconcile_total{") and '"workflowrun"' in k
    )
    return depth, done


def stop(ctl: Controller) -> None:
    """SIGTERM, and say whether it stopped gracefully (it then released its Lease) or had to be killed."""
    started = time.monotonic()
    ctl.proc.stop()
    took = time.monotonic() - started
    how = "gracefully" if took < 9.5 else "KILLED after 10 s: its Lease was not released"
    print(f"  controller stopped in {took:.2f}s, {how}", flush=True)


async def set_lease(lab: Lab, holder: str, seconds: int) -> None:
    """Write the controller's Lease: held by ``holder`` for ``seconds`` from now (``""``: released)."""
    async with connect(lab.cp.kubeconfig) as cp:
        lease = await cp.get(r.LEASE, LEASE_NAME, "default")
        record = LeaseRecord.at(holder, seconds, datetime.now(UTC), record_of(lease).transitions)
        await cp.replace(r.LEASE, lease_object(lease, record))


def cold_start(fleet: Fleet, runs: int, title: str, spy: Path | None) -> tuple[datetime, float, float, float]:
    """Start the controller; ``(wall start, seconds to /readyz, seconds to caught up, its CPU seconds)``."""
    wall, started = datetime.now(UTC), time.monotonic()
    fleet.controller.proc.start()
    profiler = py_spy(spy, fleet.controller.pid)
    try:
        return (wall, *caught_up(fleet, runs, title, started))
    finally:
        stop_py_spy(profiler)


def caught_up(
    fleet: Fleet, runs: int, title: str, started: float, cpu: float = 0.0
) -> tuple[float, float, float]:
    """Wait for ``/readyz`` and for every run reconciled; seconds since ``started`` to each, and CPU.

    Also prints the controller's CPU seconds (user + system) from ``cpu`` (its CPU at ``started``) to caught
    up: on a shared machine the wall time mostly measures the other work, the CPU much less.
    """
    ctl = fleet.controller
    ready = caught = None
    while caught is None:
        now = time.monotonic() - started
        if now > 300:
            raise TimeoutError(f"{title}: not caught up in 300 s")
        ctl.proc.check_alive()
        if ready is None and ctl.ready():
            ready = now
        if ready is not None:
            depth, done = run_metrics(ctl)
            if depth == 0 and done >= runs:
                caught = time.monotonic() - started
                cpu = cpu_seconds(ctl.pid) - cpu
        time.sleep(0.05)
    verdict = "MET" if caught <= START_TARGET else "MISSED"
    print(f"  {title}: /readyz after {ready:.2f}s, caught up after {caught:.2f}s "
          f"(target <= {START_TARGET:.0f} s: {verdict}); controller CPU {cpu:.2f}s  [{load()}]")  # fmt: skip
    return ready, caught, cpu


def audited_writes(lab: Lab, since: datetime, until: datetime) -> Counter[tuple[str, str]]:
    assert lab.audit_log is not None  # noqa: S101 - started with audit=True
    writes: Counter[tuple[str, str]] = Counter()
    for line in lab.audit_log.read_text().splitlines():
        e = json.loads(line)
        at = datetime.fromisoformat(e["requestReceivedTimestamp"])
        if (e.get("user") or {}).get("username") != CONTROLLER_USER or not since <= at <= until:
            continue
        if e["verb"] in WRITES:
            ref = e.get("objectRef") or {}
            res = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            writes[e["verb"], res] += 1
    return writes


def report_writes(writes: Counter[tuple[str, str]], runs: int, when: str) -> int:
    to_runs = sum(v for (_, res), v in writes.items() if res.startswith("workflowruns"))
    print(f"  writes by {CONTROLLER_USER} {when}: {sum(writes.values())}")
    for (verb, res), count in sorted(writes.items()):
        note = "WorkflowRun write" if res.startswith("workflowruns") else "not a run write"
        print(f"    {verb:<7} {res:<26} {count:>6}  {note}")
    print(f"  writes to {runs} runs already correct: {to_runs} -> {'MET' if to_runs == 0 else 'MISSED'}")
    return to_runs


def bench(args: argparse.Namespace, lab: Lab, fleet: Fleet) -> bool:
    ctl = fleet.controller
    asyncio.run(prepared(lab))
    fleet.start()
    idle = settled_rss(ctl, args.settle)
    print(f"\n(a) idle RSS: {idle:.1f} MiB (target <= {IDLE_TARGET:.0f} MiB: "
          f"{'MET' if idle <= IDLE_TARGET else 'MISSED'})  [{load()}]")  # fmt: skip
    ok = idle <= IDLE_TARGET
    if args.only == "cold":
        print(f"\n(b) skipped (--only cold): {args.runs} completed runs made with no controller running")
        stop(ctl)
        asyncio.run(set_lease(lab, HOLDER, 3600))
        asyncio.run(make_runs(lab, args.runs, args.concurrency))
        asyncio.run(set_lease(lab, "", 1))
    else:
        ok &= standby_takeover(args, lab, fleet, idle)
    caught: dict[str, list[tuple[float, float]]] = {}
    for i in range(args.cold_starts):
        src = args.alternate_src if args.alternate_src is not None and i % 2 == 0 else None
        code = "installed" if src is None else str(src)
        env = fleet.controller.proc.env
        if src is None:
            env.pop("PYTHONPATH", None)
        else:
            env["PYTHONPATH"] = str(src)  # ahead of the editable install of this checkout
        title = f"(c{i + 1}{'' if args.alternate_src is None else f', {code} code'})"
        met, seconds, cpu = cold(args, lab, fleet, idle, title if args.cold_starts > 1 else "(c)")
        ok &= met
        caught.setdefault(code, []).append((seconds, cpu))
    for code, figures in caught.items():
        if len(figures) > 1:
            print(f"\n{code} code: caught up after {series([f[0] for f in figures])}, "
                  f"controller CPU {series([f[1] for f in figures])}")  # fmt: skip
    return ok


def series(seconds: list[float]) -> str:
    return f"{' '.join(f'{t:.2f}' for t in seconds)} s (median {statistics.median(seconds):.2f} s)"


def standby_takeover(args: argparse.Namespace, lab: Lab, fleet: Fleet, idle: float) -> bool:
    """(b): the runs made while a standby watches, then the Lease released to it."""
    ctl = fleet.controller
    print(f"\n(b) {args.runs} completed runs, received by a standby controller's watch", flush=True)
    stop(ctl)
    asyncio.run(set_lease(lab, HOLDER, 3600))
    ctl.proc.start()
    ctl.wait_ready()
    print(f"  standby (the benchmark holds the Lease): RSS {ctl.rss_mib():.1f} MiB  [{load()}]", flush=True)
    asyncio.run(make_runs(lab, args.runs, args.concurrency))
    time.sleep(args.settle)
    print(f"  standby with the runs cached: RSS {ctl.rss_mib():.1f} MiB  [{load()}]", flush=True)
    since, released = datetime.now(UTC), time.monotonic()
    asyncio.run(set_lease(lab, "", 1))
    caught_up(fleet, args.runs, "Lease released -> leading", released, cpu_seconds(ctl.pid))
    cached = settled_rss(ctl, args.settle)
    growth = cached - idle
    verdict = "MET" if growth <= CACHED_TARGET else "MISSED"
    print(f"  RSS with {args.runs} completed runs cached: {cached:.1f} MiB, +{growth:.1f} MiB over idle "
          f"(target <= +{CACHED_TARGET:.0f} MiB: {verdict})  [{load()}]")  # fmt: skip
    writes = report_writes(audited_writes(lab, since, datetime.now(UTC)), args.runs, "from the release on")
    return growth <= CACHED_TARGET and writes == 0


def cold(
    args: argparse.Namespace, lab: Lab, fleet: Fleet, idle: float, title: str
) -> tuple[bool, float, float]:
    """(c): stop the controller (if running), start a new process, time it, count its writes and peak."""
    ctl = fleet.controller
    print(f"\n{title} cold start with {args.runs} runs", flush=True)
    if ctl.proc.running:
        stop(ctl)
    spy, args.py_spy = args.py_spy, None  # the first cold start only
    since, _, caught, cpu = cold_start(fleet, args.runs, "cold start", spy)
    time.sleep(args.settle)
    writes = report_writes(audited_writes(lab, since, datetime.now(UTC)), args.runs, "during the start")
    peak = ctl.peak_rss_mib()
    verdict = "MET" if peak - idle <= PEAK_TARGET else "MISSED"
    print(f"  RSS after the cold start: {ctl.rss_mib():.1f} MiB; peak during it {peak:.1f} MiB, "
          f"+{peak - idle:.1f} MiB over idle (target <= +{PEAK_TARGET:.0f} MiB: {verdict})"
          f"  [{load()}]")  # fmt: skip
    return caught <= START_TARGET and writes == 0 and peak - idle <= PEAK_TARGET, caught, cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight while making runs")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before reading RSS")
    parser.add_argument("--only", choices=["cold"], help="cold: skip (b)'s standby and takeover")
    parser.add_argument("--cold-starts", type=int, default=1, help="repeat (c) this many times")
    parser.add_argument("--py-spy", type=Path, help="record the first cold start with py-spy to FILE")
    parser.add_argument(
        "--alternate-src", type=Path, help="1st, 3rd... cold start: DIR/choreo_controller (a before)"
    )
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    print(f"machine: {machine()}  [{load()}]")
    lab = start_lab(workdir, audit=True)
    fleet = Fleet(lab)
    try:
        for name in ("workflow-controller", "kwok", *tekton.BINARIES):
            lab.bp.procs[name].stop()
        ok = bench(args, lab, fleet)
    finally:
        fleet.stop()
        lab.stop()
    print(f"\nlogs: {workdir / 'logs'}; audit log: {lab.audit_log}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
