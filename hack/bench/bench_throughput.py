#!/usr/bin/env python3
"""Benchmark: submission throughput and latency through the relay, next to the apiserver's own limit.

WorkflowRun created in the control plane -> the Argo Workflow exists in the build plane, through the
relay (embedded gateway by default; ``--standalone`` for a gateway process). Argo's workflow-controller,
Tekton's processes and kwok are stopped, so nothing else writes to the build plane: the figures are the
engine's. Every run uses ``manifests/samples/workflow-docker.yaml`` unchanged (schema defaults, CEL
rendering, ~4 KiB Argo Workflow). "Submitted" = the Argo Workflow's ADDED event on this script's own watch
of the build plane; the clock starts when the WorkflowRun create is *sent*.

Phases, one run, one set of processes:
 1. warm-up: ``--warmup`` runs (first-namespace costs: build namespace, ServiceAccount, Role...);
 2. physical limit: a minimal asyncio client (``KubeClient``, no rate limiter, ``--limit-concurrency`` in
    flight) creates ``--burst`` copies of the Argo Workflow the controller rendered, directly in the
    build-plane apiserver: the best any submitter could do on this machine;
 3. burst: ``--burst`` runs created as fast as the script can (64 in flight); drain time = first create
    sent -> last Argo Workflow seen; runs/s = burst / drain; ratio = runs/s / limit;
 4. half rate: ``--rate-seconds`` of runs created at half the burst's runs/s: creation -> submitted p50/p99;
 5. sustained: ``--sustain-seconds`` at ``--sustain-rate`` (45/s): achieved runs/s and the lag at the end.

The physical limit and the burst each print the CPU milliseconds per create / per run of every process of
the lab (both apiservers and etcds, controller, agent, this benchmark, the planes' other processes), the
cores they kept busy next to the rest of the machine's, and the ratio split into a CPU-cost factor and a
cores-had factor (``decompose``).

``--slowest N`` prints each timed phase's N slowest runs: when each was created (``time.monotonic()``, the
machine's one clock, to match other processes' logs) and its latency.

``--py-spy FILE`` records the controller with py-spy during the burst (raw collapsed stacks; summarise
with ``hack/bench/pyspy_top.py FILE``).

Targets (issue 18): >= 40 runs/s sustained, the 5,000 burst drained in <= 150 s, p50 <= 50 ms and
p99 <= 250 ms at half the maximum rate, and the burst's runs/s >= 0.6 of the real ceiling: the physical
limit divided by the requests one run costs on its way to submitted (``REQUESTS_TO_SUBMITTED``).

Usage: hack/bench/bench_throughput.py [--burst 5000] [--rate-seconds 40] [--sustain-seconds 60]
           [--standalone] [--controller-arg=--workers=8 ...] [--slowest N] [--py-spy FILE]
           [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchlib import CpuMeter, Fleet, Lab, load, machine, py_spy, start_lab, stop_py_spy
from benchruns import (
    Watcher,
    create_retrying,
    create_runs,
    percentile,
    prepare,
    run_object,
    sample_workflow,
    spread,
)
from localcluster import tekton

from choreo_controller.api import labels, planes
from choreo_controller.api import resources as r
from choreo_controller.kube import connect

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

LIMIT_NAMESPACE = "openchoreo-ci-physical-limit"


class Submitted:
    """First time each run's Argo Workflow was seen in the build plane, and waiters for a count."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, str], float] = {}
        self._changed = asyncio.Event()

    def on_object(self, obj: JsonObj, now: float, kind: str) -> None:
        del kind
        lab = obj["metadata"].get("labels") or {}
        key = (lab.get(labels.LABEL_WORKFLOWRUN_NAMESPACE, ""), lab.get(labels.LABEL_WORKFLOWRUN, ""))
        if key not in self.at:
            self.at[key] = now
            self._changed.set()

    async def wait(self, namespace: str, names: list[str], within: float) -> list[float]:
        deadline = time.monotonic() + within
        while True:
            times = [self.at.get((namespace, n)) for n in names]
            if all(t is not None for t in times):
                return [t for t in times if t is not None]
            left = deadline - time.monotonic()
            if left <= 0:
                missing = sum(t is None for t in times)
                raise TimeoutError(
                    f"{missing} of {len(names)} runs in {namespace} not submitted in {within}s"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))


async def phase(
    cp: KubeApi, sub: Submitted, lab: Lab, namespace: str, count: int, *, rate: float | None
) -> tuple[dict[str, float], list[float]]:
    """Create ``count`` runs in ``namespace``; ``(sent times, submitted times)`` once all are submitted."""
    await prepare(cp, namespace, lab.client_ca, sample_workflow(namespace))
    runs = [run_object(namespace, f"run-{i:05d}") for i in range(count)]
    sent = await create_runs(cp, runs, rate=rate)
    seen = await sub.wait(namespace, sorted(sent), within=max(300.0, count / 5))
    return sent, seen


async def physical_limit(bp: KubeApi, template: JsonObj, count: int, concurrency: int) -> float:
    """Creates/s of ``count`` copies of ``template`` straight into the build-plane apiserver."""
    with contextlib.suppress(Exception):
        await bp.create(
            r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LIMIT_NAMESPACE}}
        )
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        obj = {**template, "metadata": {"name": f"limit-{i:05d}", "namespace": LIMIT_NAMESPACE,
                                        "labels": {"bench": "physical-limit"}}}  # fmt: skip
        async with limit:
            await create_retrying(bp, r.ARGO_WORKFLOW, obj)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.monotonic() - started)


async def rendered_template(bp: KubeApi, namespace: str) -> JsonObj:
    """One Argo Workflow the controller created, without its identity (name, uid, our labels)."""
    listed = await bp.list(r.ARGO_WORKFLOW, planes.build_namespace("BuildPlane", namespace))
    obj = listed.items[0]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "spec": obj["spec"]}


#: Requests of one run up to its submission, across both planes: the benchmark's create, the finalizer and
#: TTL patch, the status write that records it submitted, its one Event, and the relayed build-plane create
#: (``hack/localcluster/audit.BUDGET`` holds the control plane's share to ``Succeeded``).
REQUESTS_TO_SUBMITTED = 5


def report(title: str, sent: dict[str, float], seen: list[float], limit: float | None = None) -> float:
    start, end = min(sent.values()), max(seen)
    rate = len(seen) / (end - start)
    lat = [s - t for t, s in zip((sent[n] for n in sorted(sent)), seen, strict=True)]
    created = max(sent.values()) - start
    print(f"  {title}: {len(seen)} runs, created in {created:.1f}s, drained in {end - start:.1f}s -> "
          f"{rate:.1f} runs/s  [{load()}]")  # fmt: skip
    print(f"    creation -> submitted: {spread(lat)}")
    if limit is not None:
        ceiling = limit / REQUESTS_TO_SUBMITTED
        print(f"    physical limit {limit:.1f} creates/s; ratio {rate / limit:.2f}; real ceiling "
              f"{ceiling:.1f} runs/s ({REQUESTS_TO_SUBMITTED} requests per run), ratio {rate / ceiling:.2f}: "
              f"target >= 0.6 {'MET' if rate / ceiling >= 0.6 else 'MISSED'}")  # fmt: skip
        print(f"    target {len(seen)} drained in <= 150 s: {'MET' if end - start <= 150 else 'MISSED'}")
    return rate


def slowest(sent: dict[str, float], seen: list[float], count: int) -> None:
    """The ``count`` slowest runs: created when (monotonic, and since the phase's first), and latency."""
    if count <= 0:
        return
    start = min(sent.values())
    runs = sorted(zip(sorted(sent), seen, strict=True), key=lambda ns: ns[1] - sent[ns[0]], reverse=True)
    for name, at in runs[:count]:
        t = sent[name]
        print(f"    slow: {name} created at monotonic {t:.3f} (+{t - start:.2f}s) -> "
              f"{1000 * (at - t):.0f} ms")  # fmt: skip


def decompose(base: dict[str, float], run: dict[str, float]) -> None:
    """The ratio to the real ceiling as (CPU a run costs vs its requests' worth of creates) x (cores had).

    runs/s = lab cores busy / lab CPU per run, and creates/s likewise, so ratio = runs/s / (creates/s / N)
    = (N x lab CPU per create / lab CPU per run) x (lab cores busy in the burst / in the physical limit),
    up to the meters' windows (they include the phases' set-up): the first factor says whether a run costs
    more CPU than N creates, the second whether the lab had less of the machine than the baseline had.
    """
    cost = REQUESTS_TO_SUBMITTED * base["lab"] / run["lab"]
    cores = (run["lab"] / run["wall"]) / (base["lab"] / base["wall"])
    print(f"    ratio from CPU: {cost:.2f} ({REQUESTS_TO_SUBMITTED} x lab CPU per create / lab CPU per run) "
          f"x {cores:.2f} (lab cores busy, burst / physical limit) = {cost * cores:.2f}")  # fmt: skip


async def bench(args: argparse.Namespace, lab: Lab, fleet: Fleet) -> None:
    async with connect(lab.cp.kubeconfig) as cp, connect(lab.bp.kubeconfig) as bp:
        sub = Submitted()
        async with Watcher(bp, r.ARGO_WORKFLOW, sub.on_object, label_selector=labels.MANAGED_SELECTOR):
            print(f"\nwarm-up: {args.warmup} runs", flush=True)
            await phase(cp, sub, lab, "bench-warmup", args.warmup, rate=None)
            template = await rendered_template(bp, "bench-warmup")
            print(f"\nphysical limit: {args.burst} Argo Workflows created directly, "
                  f"{args.limit_concurrency} in flight", flush=True)  # fmt: skip
            meter = CpuMeter(lab, fleet)
            limit = await physical_limit(bp, template, args.burst, args.limit_concurrency)
            print(f"  {limit:.1f} creates/s  [{load()}]", flush=True)
            base = meter.report(args.burst, "create")
            print(f"\nburst: {args.burst} runs", flush=True)
            profiler = py_spy(args.py_spy, fleet.controller.pid)
            meter = CpuMeter(lab, fleet)
            try:
                sent, seen = await phase(cp, sub, lab, "bench-burst", args.burst, rate=None)
            finally:
                stop_py_spy(profiler)
            max_rate = report("burst", sent, seen, limit)
            decompose(base, meter.report(args.burst, "run"))
            half = max_rate / 2
            count = max(10, int(half * args.rate_seconds))
            print(f"\nhalf rate: {count} runs at {half:.1f}/s", flush=True)
            sent, seen = await phase(cp, sub, lab, "bench-half-rate", count, rate=half)
            lat = [s - sent[n] for n, s in zip(sorted(sent), seen, strict=True)]
            report("half rate", sent, seen)
            slowest(sent, seen, args.slowest)
            p50, p99 = percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000
            print(f"    targets p50 <= 50 ms: {p50:.0f} ms {'MET' if p50 <= 50 else 'MISSED'}; "
                  f"p99 <= 250 ms: {p99:.0f} ms {'MET' if p99 <= 250 else 'MISSED'}")  # fmt: skip
            count = int(args.sustain_rate * args.sustain_seconds)
            print(f"\nsustained: {count} runs at {args.sustain_rate:.0f}/s", flush=True)
            sent, seen = await phase(cp, sub, lab, "bench-sustained", count, rate=args.sustain_rate)
            rate = report("sustained", sent, seen)
            slowest(sent, seen, args.slowest)
            behind = max(seen) - max(sent.values())
            print(f"    last run submitted {behind * 1000:.0f} ms after it was created; "
                  f"target >= 40 runs/s: {'MET' if rate >= 40 and behind < 1 else 'MISSED'}")  # fmt: skip
            m = fleet.controller.metrics()
            reconciles = sum(v for k, v in m.items() if k.startswith("controller_runtime_reconcile_total"))
            retries = m.get('workqueue_retries_total{name="workflowrun"}', 0)
            print(f"\ncontroller: RSS {fleet.controller.rss_mib():.0f} MiB, {reconciles:.0f} reconciles, "
                  f"{retries:.0f} workqueue retries")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--burst", type=int, default=5000, help="runs in the burst, and physical-limit creates"
    )
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rate-seconds", type=float, default=40.0, help="length of the half-rate phase")
    parser.add_argument("--sustain-rate", type=float, default=45.0)
    parser.add_argument("--sustain-seconds", type=float, default=60.0)
    parser.add_argument("--limit-concurrency", type=int, default=64)
    parser.add_argument("--standalone", action="store_true", help="a standalone gateway process")
    parser.add_argument("--controller-arg", action="append", default=[], help="extra controller flag")
    parser.add_argument("--slowest", type=int, default=0, help="print the N slowest runs of a timed phase")
    parser.add_argument("--py-spy", type=Path, help="record the controller during the burst to FILE")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    print(f"machine: {machine()}  [{load()}]")
    lab = start_lab(workdir)
    fleet = Fleet(lab, embedded=not args.standalone, controller_args=args.controller_arg)
    try:
        for name in ("workflow-controller", "kwok", *tekton.BINARIES):
            lab.bp.procs[name].stop()
        fleet.start()
        print(f"relay: {'standalone gateway' if args.standalone else 'embedded gateway'}; "
              f"controller flags: {' '.join(args.controller_arg) or '(defaults)'}")  # fmt: skip
        asyncio.run(bench(args, lab, fleet))
    finally:
        fleet.stop()
        lab.stop()
    print(f"\nlogs: {workdir / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
