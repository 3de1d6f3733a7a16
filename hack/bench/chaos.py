#!/usr/bin/env python3
"""Chaos: random ``kill -9`` of the controller, the agent and the gateway during a burst of runs.

Argo and kwok run; every run is the bench Docker workflow cut to one step of ``--delay`` (1 s), plus a
ConfigMap (an extra resource of a kind other than Argo's), so the burst completes in minutes. Processes
are real CLI children (``benchlib.Fleet``, standalone gateway, one controller, leader election off: a
killed lone leader would otherwise wait out its 15 s lease each time).
``--runs`` WorkflowRuns are created at a steady rate over the chaos window while ``--controller-kills``,
``--agent-kills`` and ``--gateway-kills`` SIGKILLs, shuffled, land at random intervals (mean
``--interval``, 2 s: the controller needs ~2 s to import and start, so a shorter mean kills it mostly
before it does any work); each killed process is restarted at once, as a Deployment would. Then, bounded by
``--settle``, the script waits for every run to be terminal and checks (targets: all 0)

* lost: runs that never got an Argo Workflow, or vanished; stuck: submitted but not terminal;
* duplicates: runs that had more than one Argo Workflow (distinct uids, ever seen by a build-plane watch);
* orphans after one sweep: ``--orphans`` runs are force-deleted (finalizer stripped) while the controller
  is down, so their build-plane objects escape cleanup; the restarted controller (``--sweep-interval``,
  ``--sweep-min-age``) must delete every build-plane object whose run uid is gone within one sweep. They are
  counted over *every* namespaced kind the build plane serves (discovery, in the build namespaces), not
  the product's table of kinds, so a kind the engine forgets to clean up shows as an orphan.

Then leader handover with two replicas (leader election on): ``--handovers`` times each, ``kill -9`` and
SIGTERM of the leader -> the other replica holding the Lease, and a run created at the kill -> its Argo
Workflow; p50/max. The killed replica is restarted as a standby before the next round.

Exits 1 on any lost, duplicate, orphaned or stuck run. Run measurements under ``flock /tmp/bench.lock``.

Usage: hack/bench/chaos.py [--runs 1000] [--controller-kills 200] [--agent-kills 50] [--gateway-kills 50]
           [--interval 2.0] [--orphans 50] [--handovers 5] [--seed N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import inspect
import operator
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchlib import Fleet, Lab, load, machine, start_lab
from benchruns import CWTS, Watcher, bench_workflow, create_runs, prepare, run_object, run_phase, spread
from localcluster.inventory import objects_in

from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound
from choreo_controller.kube import connect

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from benchlib import Controller
    from localcluster.plane import Plane
    from localcluster.process import Proc

    from choreo_controller.contracts import JsonObj, KubeApi

NAMESPACE = "chaos"
BUILD_NAMESPACES = ("openchoreo-ci-", "workflows-")  # both API generations' build namespaces
TERMINAL = {"Succeeded", "Failed"}


class Seen:
    """Runs (control plane) and their Argo Workflows (build plane), as the two watches report them."""

    def __init__(self) -> None:
        self.phase: dict[str, str | None] = {}
        self.uid: dict[str, str] = {}
        self.argo: dict[str, set[str]] = collections.defaultdict(set)  # run uid -> Argo Workflow uids
        self.argo_at: dict[str, float] = {}  # run name -> first time its Argo Workflow was seen

    def on_run(self, obj: JsonObj, now: float, kind: str) -> None:
        del now
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.phase.pop(name, None)
            return
        self.uid[name] = obj["metadata"]["uid"]
        self.phase[name] = run_phase(obj)

    def on_argo(self, obj: JsonObj, now: float, kind: str) -> None:
        del kind
        lab = obj["metadata"].get("labels") or {}
        self.argo[lab.get(labels.LABEL_WORKFLOWRUN_UID, "")].add(obj["metadata"]["uid"])
        self.argo_at.setdefault(lab.get(labels.LABEL_WORKFLOWRUN, ""), now)

    def open(self, names: list[str]) -> list[str]:
        return [n for n in names if self.phase.get(n) not in TERMINAL]


def chaos_workflow(delay: str) -> JsonObj:
    """The bench Workflow (one step) plus a ConfigMap per run: a kind besides Argo's to find again."""
    wf = bench_workflow(NAMESPACE, steps=1, delay=delay)
    name = "${metadata.workflowRunName}"
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config"},
        "data": {"run": name},
    }
    wf["spec"].setdefault("resources", []).append({"id": "config", "template": config})
    return wf


async def chaos(args: argparse.Namespace, fleet: Fleet, cp: KubeApi, seen: Seen, rng: random.Random) -> None:
    """Create the runs at a steady rate while the kills land; return when both are done."""
    targets: dict[str, Proc] = {"controller": fleet.controller.proc, "agent": fleet.agent}
    if fleet.gateway is not None:
        targets["gateway"] = fleet.gateway
    plan = ["controller"] * args.controller_kills + ["agent"] * args.agent_kills
    plan += ["gateway"] * args.gateway_kills
    rng.shuffle(plan)
    window = max(1.0, len(plan) * args.interval)
    runs = [run_object(NAMESPACE, f"run-{i:05d}") for i in range(args.runs)]
    creating = asyncio.create_task(create_runs(cp, runs, rate=args.runs / (0.8 * window), concurrency=16))
    started = time.monotonic()
    for i, what in enumerate(plan, 1):
        await asyncio.sleep(rng.uniform(0.0, 2 * args.interval))
        proc = targets[what]
        await asyncio.to_thread(proc.kill)
        await asyncio.to_thread(proc.start)
        if i % 25 == 0:
            done = len(args.names) - len(seen.open(args.names))
            print(f"  {time.monotonic() - started:6.1f}s  {i}/{len(plan)} kills, {len(seen.phase)} runs "
                  f"created, {done} terminal  [{load()}]", flush=True)  # fmt: skip
    await creating
    counts = collections.Counter(plan)
    print(f"chaos: {dict(counts)} kills in {time.monotonic() - started:.0f}s  [{load()}]", flush=True)


async def until(pred: Callable[[], bool | Awaitable[bool]], within: float, every: float = 0.05) -> float:
    """Seconds until ``pred()`` held (checked every ``every`` s), or ``within`` if it never did."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        held = pred()
        if await held if inspect.isawaitable(held) else held:
            break
        await asyncio.sleep(every)
    return time.monotonic() - started


async def orphans(cp: KubeApi, bp: Plane) -> tuple[int, int, collections.Counter[str]]:
    """``(orphans, terminating, by kind)``: objects of any kind labelled with a run uid that no run has.

    Every namespaced kind the build plane serves is listed (``localcluster.inventory``), not the product's
    table: an object of a kind the engine forgot to clean up shows here.

    Objects without the label (pods Argo made, the shared namespace prerequisites) are not the engine's;
    pods of a deleted Argo Workflow go with it (the build plane's garbage collector runs).
    """
    uids = {o["metadata"]["uid"] for o in (await cp.list(r.WORKFLOW_RUN)).items}
    found = terminating = 0
    kinds: collections.Counter[str] = collections.Counter()
    for obj in await asyncio.to_thread(objects_in, bp, BUILD_NAMESPACES):
        uid = (obj["metadata"].get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID)
        if uid is None or uid in uids:
            continue
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        terminating += deleting
        found += not deleting
        kinds[obj["kind"]] += not deleting
    return found, terminating, kinds


async def orphan_sweep(args: argparse.Namespace, fleet: Fleet, cp: KubeApi, bp: Plane) -> int:
    """Force-delete runs while the controller is down; restart it; orphans left after one sweep."""
    ctl = fleet.controller
    await asyncio.to_thread(ctl.proc.kill)
    for name in args.names[: args.orphans]:
        with contextlib.suppress(NotFound):
            await cp.merge_patch(
                r.WORKFLOW_RUN, name, {"metadata": {"finalizers": None}}, namespace=NAMESPACE
            )
            await cp.delete(r.WORKFLOW_RUN, name, namespace=NAMESPACE)
    before, _, kinds = await orphans(cp, bp)
    started = time.monotonic()
    await asyncio.to_thread(ctl.proc.start)
    left, terminating = before, 0
    while time.monotonic() - started < args.sweep_interval + args.sweep_min_age + 60:
        await asyncio.sleep(1.0)
        left, terminating, kinds = await orphans(cp, bp)
        if left == 0:
            break
    took = time.monotonic() - started
    print(f"orphans (every kind in the build namespaces): {before} after force-deleting {args.orphans} "
          f"runs with the controller down; {left} left {dict(kinds)} ({terminating} terminating) "
          f"{took:.1f}s after restart (--sweep-interval {args.sweep_interval:.0f}s, --sweep-min-age "
          f"{args.sweep_min_age:.0f}s)  [{load()}]")  # fmt: skip
    return left


async def holder_pid(cp: KubeApi) -> int | None:
    try:
        lease = await cp.get(r.LEASE, "choreo-controller", "default")
    except NotFound:
        return None
    holder = (lease.get("spec") or {}).get("holderIdentity") or ""
    parts = holder.split("_")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


async def _holds(cp: KubeApi, ctl: Controller) -> bool:
    return await holder_pid(cp) == ctl.pid


async def handover(args: argparse.Namespace, fleet: Fleet, cp: KubeApi, seen: Seen) -> None:
    """Kill the leader (SIGKILL, then SIGTERM rounds): takeover and next-run-submitted times."""
    await asyncio.to_thread(fleet.controllers[1].wait_ready)
    for how in ("kill -9", "SIGTERM"):
        takeover: list[float] = []
        progress: list[float] = []
        for i in range(args.handovers):
            pid = await holder_pid(cp)
            while pid is None:
                await asyncio.sleep(0.1)
                pid = await holder_pid(cp)
            leader: Controller = next(c for c in fleet.controllers if c.pid == pid)
            other = next(c for c in fleet.controllers if c is not leader)
            name = f"handover-{'kill' if how == 'kill -9' else 'term'}-{i}"
            t0 = time.monotonic()
            stop = leader.proc.kill if how == "kill -9" else leader.proc.stop
            stopping = asyncio.create_task(asyncio.to_thread(stop))
            await create_runs(cp, [run_object(NAMESPACE, name)])
            await until(functools.partial(_holds, cp, other), 120)
            takeover.append(time.monotonic() - t0)
            await until(functools.partial(operator.contains, seen.argo_at, name), 120)
            progress.append(seen.argo_at.get(name, time.monotonic()) - t0)
            await stopping
            await asyncio.to_thread(leader.proc.start)
            await asyncio.to_thread(leader.wait_ready)
        print(f"handover, {how} of the leader:  [{load()}]")
        print(f"  other replica holds the Lease: {spread(takeover)}")
        print(f"  run created at the kill -> its Argo Workflow: {spread(progress)}", flush=True)


async def bench(args: argparse.Namespace, lab: Lab, fleet: Fleet) -> int:
    rng = random.Random(args.seed)  # noqa: S311 - chaos schedule, not cryptography
    args.names = [f"run-{i:05d}" for i in range(args.runs)]
    async with connect(lab.cp.kubeconfig) as cp, connect(lab.bp.kubeconfig) as bp:
        await prepare(cp, NAMESPACE, lab.client_ca, chaos_workflow(args.delay))
        seen = Seen()
        sel = labels.MANAGED_SELECTOR
        async with (
            Watcher(cp, r.WORKFLOW_RUN, seen.on_run, namespace=NAMESPACE),
            Watcher(bp, r.ARGO_WORKFLOW, seen.on_argo, label_selector=sel),
        ):
            print(f"\nchaos: {args.runs} runs, seed {args.seed}", flush=True)
            await chaos(args, fleet, cp, seen, rng)
            took = await until(lambda: not seen.open(args.names), args.settle, 1.0)
            open_runs = seen.open(args.names)
            lost = [n for n in open_runs if n not in seen.phase or n not in seen.argo_at]
            stuck = [n for n in open_runs if n not in lost]
            dups = sum(len(seen.argo[seen.uid[n]]) > 1 for n in args.names if n in seen.uid)
            phases = collections.Counter(seen.phase.get(n) for n in args.names)
            print(f"settled {took:.0f}s after the last kill; phases {dict(phases)}  [{load()}]")
            print(f"lost runs: {len(lost)} {lost[:10]}")
            print(f"stuck runs (submitted, not terminal): {len(stuck)} {stuck[:10]}")
            print(f"duplicate Argo Workflows: {dups} runs with more than one")
            left = await orphan_sweep(args, fleet, cp, lab.bp)
            bad = len(lost) + len(stuck) + dups + left
            print(f"\nVERDICT lost={len(lost)} duplicates={dups} orphans={left} stuck={len(stuck)}: "
                  f"{'PASS' if bad == 0 else 'FAIL'}", flush=True)  # fmt: skip
            if args.handovers:
                fleet.stop()
                ha = Fleet(lab, embedded=False, replicas=2, controller_args=args.controller_arg)
                try:
                    await asyncio.to_thread(ha.start)
                    await handover(args, ha, cp, seen)
                finally:
                    ha.stop()
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--controller-kills", type=int, default=200)
    parser.add_argument("--agent-kills", type=int, default=50)
    parser.add_argument("--gateway-kills", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0, help="mean seconds between kills")
    parser.add_argument("--delay", default="1s", help="how long kwok keeps the one step running")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait for quiescence")
    parser.add_argument("--orphans", type=int, default=50, help="runs force-deleted for the sweep check")
    parser.add_argument("--sweep-interval", type=float, default=10.0)
    parser.add_argument("--sweep-min-age", type=float, default=5.0, help="the controller's --sweep-min-age")
    parser.add_argument("--handovers", type=int, default=5, help="rounds of each leader handover")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))  # noqa: S311
    parser.add_argument("--controller-arg", action="append", default=[], help="extra controller flag")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    args.controller_arg = [
        f"--sweep-interval={args.sweep_interval}",
        f"--sweep-min-age={args.sweep_min_age}",
        *args.controller_arg,
    ]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    print(f"machine: {machine()}  [{load()}]")
    started = time.monotonic()
    lab = start_lab(workdir, templates=CWTS)
    fleet = Fleet(lab, embedded=False, leader_elect=False, controller_args=args.controller_arg)
    try:
        fleet.start()
        code = asyncio.run(bench(args, lab, fleet))
    finally:
        fleet.stop()
        lab.stop()
    print(f"\ntotal {time.monotonic() - started:.0f}s; logs: {workdir / 'logs'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
