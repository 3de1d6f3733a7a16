#!/usr/bin/env python3
"""Soak: hours of create -> complete -> TTL delete at a steady rate; the controller's memory and queue.

Argo and kwok run; one controller with an embedded gateway and an agent (``benchlib.Fleet``). Every run
is the bench Docker workflow cut to one step of ``--delay`` with ``ttlAfterCompletion`` ``--ttl``, so the
controller itself deletes each run shortly after it completes (and, through the finalizer, its Argo
Workflow). Runs are created at ``--rate`` per second for ``--minutes``; every ``--sample`` seconds a row:
the controller's RSS (``/proc``) and its connections to the control-plane apiserver (the pool that
grows with a busy moment), the ``workflowrun`` workqueue depth (``/metrics``; its max is also
polled every 5 s), the agent's RSS (the relay's other end), runs created / completed / deleted (a watch
on the control plane), runs and Argo Workflows alive, and the load. After the last create the script waits
(bounded) for the TTL deletes, then prints the CPU per complete run: each process's CPU over the whole soak
divided by the runs it took from create to TTL delete (tracking, progress and cleanup included).

Targets: RSS growth after warm-up (first 10% of the time: last warm-up sample -> last sample) <= 5%, for
the controller and the agent; the queue depth bounded (max <= ``--max-depth``); every created run deleted.
Exits 1 on a miss.
Run measurements under ``flock /tmp/bench.lock``.

Usage: hack/bench/soak.py [--minutes 120] [--rate 2] [--ttl 10s] [--sample 30] [--workdir DIR]
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

from benchlib import Fleet, Lab, cpu_seconds, load, machine, rss_mib, start_lab, tcp_connections
from benchruns import CWTS, Watcher, bench_workflow, create_retrying, prepare, run_object, run_phase

from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.kube import connect

if TYPE_CHECKING:
    from benchlib import Controller

    from choreo_controller.contracts import JsonObj, KubeApi

NAMESPACE = "soak"


class Tally:
    """Runs created, completed and deleted, as the control-plane watch reports them."""

    def __init__(self) -> None:
        self.created: set[str] = set()
        self.completed: set[str] = set()
        self.deleted: set[str] = set()

    def on_run(self, obj: JsonObj, now: float, kind: str) -> None:
        del now
        name = obj["metadata"]["name"]
        self.created.add(name)
        if kind == "DELETED":
            self.deleted.add(name)
        elif run_phase(obj) in {"Succeeded", "Failed"}:
            self.completed.add(name)


def depth(ctl: Controller) -> float:
    return sum(
        v for k, v in ctl.metrics().items() if k.startswith("workqueue_depth{") and 'name="workflowrun"' in k
    )


async def create_steadily(cp: KubeApi, rate: float, seconds: float) -> int:
    """Create runs at ``rate`` per second for ``seconds`` (32 in flight at most); returns how many."""
    limit = asyncio.Semaphore(32)
    tasks: set[asyncio.Task[JsonObj]] = set()
    start, i = time.monotonic(), 0

    async def one(name: str) -> JsonObj:
        async with limit:
            return await create_retrying(cp, r.WORKFLOW_RUN, run_object(NAMESPACE, name))

    while (due := start + i / rate) < start + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        task = asyncio.create_task(one(f"soak-{i:06d}"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    await asyncio.gather(*tasks)
    return i


async def sample(
    cp: KubeApi,
    bp: KubeApi,
    lab: Lab,
    fleet: Fleet,
    tally: Tally,
    every: float,
    rows: list[tuple[float, float, float]],
    stop: asyncio.Event,
) -> float:
    """Print a row every ``every`` s (and a last one at ``stop``), keep ``(t, controller RSS, agent RSS)``;
    the max depth.

    The queue depth is polled every 5 s for its max.
    """
    start, top, n = time.monotonic(), 0.0, 0
    agent = fleet.pids()["agent"]
    port = lab.cp.ports["apiserver"]
    print(f"{'t(s)':>6} {'RSS MiB':>8} {'conns':>5} {'agent':>6} {'depth':>6} {'created':>8} "
          f"{'completed':>9} {'deleted':>8} {'runs':>6} {'argo':>6}  load")  # fmt: skip
    while True:
        now, last = time.monotonic() - start, stop.is_set()
        top = max(top, d := depth(fleet.controller))
        if now >= n * every or last:
            n += 1
            rss, agent_rss = fleet.controller.rss_mib(), rss_mib(agent)
            rows.append((now, rss, agent_rss))
            runs = len((await cp.list(r.WORKFLOW_RUN, NAMESPACE)).items)
            argo = len((await bp.list(r.ARGO_WORKFLOW, label_selector=labels.MANAGED_SELECTOR)).items)
            conns = tcp_connections(fleet.controller.pid, port)
            print(f"{now:6.0f} {rss:8.1f} {conns:5d} {agent_rss:6.1f} {d:6.0f} {len(tally.created):8d} "
                  f"{len(tally.completed):9d} {len(tally.deleted):8d} {runs:6d} {argo:6d}  {load()}",
                  flush=True)  # fmt: skip
        if last:
            return top
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)


def growth(rows: list[tuple[float, float, float]], column: int, warm_up: float) -> tuple[float, float, float]:
    """RSS after warm-up, at the end, and the growth in % (the last warm-up row -> the last row)."""
    warm = [row[column] for row in rows if row[0] <= warm_up] or [rows[0][column]]
    base, last = warm[-1], rows[-1][column]
    return base, last, (last - base) / base * 100


async def bench(args: argparse.Namespace, lab: Lab, fleet: Fleet) -> int:
    seconds = args.minutes * 60
    async with connect(lab.cp.kubeconfig) as cp, connect(lab.bp.kubeconfig) as bp:
        wf = bench_workflow(NAMESPACE, steps=1, delay=args.delay, ttl=args.ttl)
        await prepare(cp, NAMESPACE, lab.client_ca, wf)
        tally, rows = Tally(), list[tuple[float, float, float]]()
        async with Watcher(cp, r.WORKFLOW_RUN, tally.on_run, namespace=NAMESPACE):
            print(f"\nsoak: {args.rate}/s for {args.minutes} min, ttl {args.ttl}  [{load()}]", flush=True)
            cpu = {name: cpu_seconds(pid) for name, pid in fleet.pids().items()}
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample(cp, bp, lab, fleet, tally, args.sample, rows, stop))
            created = await create_steadily(cp, args.rate, seconds)
            print(f"created {created} runs; waiting for their TTL deletes", flush=True)
            for _ in range(int(args.drain)):
                if len(tally.deleted) >= created:
                    break
                await asyncio.sleep(1.0)
            used = {name: cpu_seconds(pid) - cpu[name] for name, pid in fleet.pids().items()}
            stop.set()
            top = await sampler
    deleted = len(tally.deleted)
    met = top <= args.max_depth and deleted == created
    print()
    for name, column in (("controller", 1), ("agent", 2)):
        base, last, grew = growth(rows, column, seconds * 0.1)
        peak = max(row[column] for row in rows)
        met = met and grew <= 5
        print(f"{name} RSS: {base:.1f} MiB after warm-up -> {last:.1f} MiB at the end ({grew:+.1f}%), "
              f"peak {peak:.1f} MiB; target growth <= 5%: {'MET' if grew <= 5 else 'MISSED'}")  # fmt: skip
    print(f"workqueue depth: max {top:.0f} (polled every 5 s); bound {args.max_depth}: "
          f"{'MET' if top <= args.max_depth else 'MISSED'}")  # fmt: skip
    print(f"runs: {created} created, {len(tally.completed)} seen completed, {deleted} deleted: "
          f"{'MET' if deleted == created else 'MISSED'}  [{load()}]")  # fmt: skip
    print("CPU per complete run (create -> TTL delete): "
          + ", ".join(f"{n} {1000 * s / max(deleted, 1):.1f} ms" for n, s in used.items()))  # fmt: skip
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=2.0, help="runs created per second")
    parser.add_argument("--ttl", default="10s", help="the Workflow's ttlAfterCompletion")
    parser.add_argument("--delay", default="1s", help="how long kwok keeps the one step running")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between rows")
    parser.add_argument("--max-depth", type=int, default=100, help="queue depth deemed bounded")
    parser.add_argument("--drain", type=float, default=300.0, help="seconds to wait for the last deletes")
    parser.add_argument("--controller-arg", action="append", default=[], help="extra controller flag")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-soak-"))
    print(f"machine: {machine()}  [{load()}]")
    started = time.monotonic()
    lab = start_lab(workdir, templates=CWTS)
    fleet = Fleet(lab, controller_args=args.controller_arg)
    try:
        fleet.start()
        code = asyncio.run(bench(args, lab, fleet))
    finally:
        fleet.stop()
        lab.stop()
    print(f"\ntotal {time.monotonic() - started:.0f}s; logs: {workdir / 'logs'}")
    return code


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
