#!/usr/bin/env python3
"""Benchmark: control-plane writes (and polls) per WorkflowRun, from the apiserver's own audit log.

``--runs`` runs (50) of the bench Workflow (``benchruns.bench_workflow``: the sample Docker Workflow on
kwok-friendly templates, 3 steps of 1 s) go through the relay (embedded gateway) to a build plane where
Argo and kwok really run them, to ``Succeeded``. The control plane's audit log records every request of the
controller's own user (``choreo-controller``) at ``ResponseComplete``; status patches at level ``Request``,
so their bodies tell a phase change (conditions, ``completedAt``, ``runReference``...) from a progress-only
update (``tasks`` alone, coalesced to one per run per second). Only requests received after the agent
connected count - not from ``/readyz``: a replica answers it before it leads, and the embedded gateway
starts, and lists the plane objects, once it leads; the count ends ``--settle`` seconds after the last
run succeeded. The audit policy, the reading of the log and the per-run budget are
``localcluster.audit``'s, shared with the test that pins the budget (``tests/e2e/test_request_budget.py``).

TTL: by default the Workflow keeps the sample's ``7d``, so no TTL delete happens during the count; the
controller copies it into each run's ``spec.ttlAfterCompletion`` (in the same patch as the finalizer).
``--ttl 5s`` includes the end of life: the count then lasts until every run is gone, and adds the TTL
delete and the finalizer removal.

Counted per run: writes (create/update/patch/delete) to WorkflowRuns by (verb, subresource), status patches
split into phase changes and progress updates; Events (create/patch) listed separately, with their own
target (Event objects per run: a repeat of the same object, type and reason counts up one object);
background writes (the leader-election Lease, Workflow status, the gateway's BuildPlane
``status.agentConnection``) are not per run. Polls: GET/LIST requests (not watches) after startup, by
resource - a GET of a WorkflowRun is a read-your-writes re-read (``writer.StatusWriter.fresh``: the cache had
not caught up with the controller's own write when another event for the run arrived); a LIST of a plane
kind or of Secrets after startup would be the embedded gateway's ``relay.planes.PlaneWatcher`` relisting
(it lists once, then only watches the plane objects and their clientCA Secrets; a relist happens only when
a watch expires), reported on its own line.

Targets: WorkflowRun writes per run excluding coalesced progress updates within ``audit.BUDGET`` (plus the
TTL delete and the finalizer release with ``--ttl``); <= 1 Event object per run; 0 polls.

Usage: hack/bench/bench_writes_per_run.py [--runs 50] [--ttl 5s] [--settle 5] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import CONTROLLER_USER, Fleet, Lab, load, machine, start_lab
from benchruns import CWTS, Watcher, bench_workflow, create_runs, percentile, prepare, run_object, run_phase
from localcluster import audit

from choreo_controller.api import resources as r
from choreo_controller.kube import connect

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj

NAMESPACE = "bench-writes"
PLANE_KINDS = frozenset(
    {"buildplanes", "clusterbuildplanes", "workflowplanes", "clusterworkflowplanes", "secrets"}
)
READ_NOTES = {
    ("get", "workflowruns"): "read-your-writes: the cache lagged the controller's own write",
    **{
        ("list", kind): "embedded gateway's PlaneWatcher: a relist after a watch expired"
        for kind in PLANE_KINDS
    },
}


@dataclass
class Runs:
    """Phase of every run seen by this script's watch, and waiters."""

    phases: dict[str, str | None] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_object(self, obj: JsonObj, now: float, kind: str) -> None:
        del now
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self.gone.add(name)
        self.phases[name] = run_phase(obj)
        self.changed.set()

    async def until(self, predicate: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {within:.0f}s")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)


async def drive(args: argparse.Namespace, lab: Lab) -> datetime:
    """Create the runs, wait for them to succeed (and to be deleted, with a short TTL); the end time."""
    async with connect(lab.cp.kubeconfig) as cp:
        await prepare(cp, NAMESPACE, lab.client_ca, bench_workflow(NAMESPACE, ttl=args.ttl))
        runs = Runs()
        async with Watcher(cp, r.WORKFLOW_RUN, runs.on_object, namespace=NAMESPACE):
            started = time.monotonic()
            names = [f"run-{i:04d}" for i in range(args.runs)]
            await create_runs(cp, [run_object(NAMESPACE, n) for n in names], concurrency=16)

            def succeeded() -> bool:
                return all(runs.phases.get(n) == "Succeeded" or n in runs.gone for n in names)

            await runs.until(succeeded, max(300.0, args.runs * 3.0), "runs succeeded")
            print(f"  {args.runs} runs succeeded in {time.monotonic() - started:.1f}s  [{load()}]")
            if args.ttl is not None:
                await runs.until(lambda: runs.gone >= set(names), 600.0, "runs deleted after their TTL")
                print(f"  {args.runs} runs deleted after TTL {args.ttl} ({time.monotonic() - started:.1f}s)")
    await asyncio.sleep(args.settle)
    return datetime.now(UTC)


def report(entries: list[dict[str, Any]], n: int, *, ttl: bool) -> bool:  # noqa: C901, PLR0912, PLR0915 - one table
    writes: Counter[tuple[str, str]] = Counter()
    per_run: Counter[str] = Counter()
    events_of: Counter[str] = Counter()  # Event objects created, by the run they are about
    status: Counter[str] = Counter()
    keysets: Counter[str] = Counter()
    reads: Counter[tuple[str, str]] = Counter()
    codes: Counter[str] = Counter()
    for e in entries:
        verb, res = e["verb"], audit.resource(e)
        if verb in audit.WRITES:
            writes[verb, res] += 1
            codes[str((e.get("responseStatus") or {}).get("code"))] += 1
            if (res, verb) == ("events", "create"):
                events_of[str((e.get("objectRef") or {}).get("name", "?")).rsplit(".", 1)[0]] += 1
            if res.startswith("workflowruns"):
                name = (e.get("objectRef") or {}).get("name", "?")
                if res == "workflowruns/status":
                    kind = audit.status_kind(e)
                    status[kind] += 1
                    body = e.get("requestObject") or {}
                    keysets[
                        ",".join(sorted((body.get("status") or {}) if isinstance(body, dict) else ()))
                    ] += 1
                    if kind == "progress":
                        continue
                per_run[name] += 1
        elif verb in audit.READS:
            reads[verb, res] += 1
    print(f"\n{'verb':<8} {'resource':<28} {'total':>6} {'per run':>8}  counted")
    run_writes = event_writes = 0
    for (verb, res), count in sorted(writes.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if res.startswith("workflowruns"):
            note = "yes" if res != "workflowruns/status" else f"yes ({status['phase']} phase changes)"
            run_writes += count
        elif res == "events":
            note, event_writes = "no (Events, listed separately)", event_writes + count
        else:
            note = "no (background, not per run)"
        print(f"{verb:<8} {res:<28} {count:>6} {count / n:>8.2f}  {note}")
    print(f"\nstatus patches by the fields they carry (n={sum(keysets.values())}):")
    for keys, count in keysets.most_common():
        print(f"  {count:>5}  {{{keys}}}")
    print(f"  -> {status['phase']} phase changes, {status['progress']} progress-only (tasks) updates")
    print(f"response codes of writes: {dict(codes)}")
    counted = run_writes - status["progress"]
    spread = sorted(per_run.values())
    print(
        f"\nWorkflowRun writes per run: {run_writes / n:.2f} in all, {counted / n:.2f} excluding progress "
        f"updates (per run min {spread[0] if spread else 0}, p50 {percentile(spread, 0.5):.0f}, "
        f"max {spread[-1] if spread else 0}); Events {event_writes / n:.2f} per run  [{load()}]"
    )
    polls = sum(reads.values())
    relists = sum(v for (_, res), v in reads.items() if res in PLANE_KINDS)
    print(f"polls (GET/LIST after startup, watches excluded): {polls}")
    for (verb, res), count in sorted(reads.items()):
        print(f"  {verb:<6} {res:<28} {count:>5}  {READ_NOTES.get((verb, res), '')}")
    target = audit.RUN_WRITES + (2 if ttl else 0)  # with a TTL: its delete and the finalizer's release
    met_writes = bool(spread) and max(spread) <= target
    print(f"\ntarget <= {target} writes per run excluding progress updates: "
          f"max {spread[-1] if spread else 0} -> {'MET' if met_writes else 'MISSED'}")  # fmt: skip
    most = max([events_of[f"run-{i:04d}"] for i in range(n)], default=0)
    met_events = most <= 1
    print(f"target <= 1 Event object per run: {sum(events_of.values()) / n:.2f} per run, "
          f"max {most} -> {'MET' if met_events else 'MISSED'}")  # fmt: skip
    print(f"target 0 polls: {polls - relists} of runs and their objects -> "
          f"{'MET' if polls == relists else 'MISSED'}; {relists} relists of plane objects by the gateway -> "
          f"{'MET' if relists == 0 else 'MISSED (strictly)'}")  # fmt: skip
    return met_writes and met_events and polls == relists


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--ttl", help="the Workflow's ttlAfterCompletion (default: the sample's 7d)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds counted after the last run")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-writes-"))
    print(f"machine: {machine()}  [{load()}]")
    lab = start_lab(workdir, templates=CWTS)
    lab.audit_log = lab.cp.enable_audit(audit.policy(CONTROLLER_USER, r.GROUP))
    fleet = Fleet(lab)
    try:
        fleet.controller.proc.start()
        fleet.controller.wait_ready()
        fleet.start_agent()  # waits until it is connected: the leader's gateway has listed its plane objects
        ready_at = datetime.now(UTC)
        print(f"controller ready (relay, embedded gateway); {args.runs} runs, TTL {args.ttl or '7d'}")
        until = asyncio.run(drive(args, lab))
        entries = audit.entries(lab.audit_log, CONTROLLER_USER, ready_at, until)
        seconds = (until - ready_at).total_seconds()
        print(f"audit: {len(entries)} requests of {CONTROLLER_USER} in {seconds:.0f}s")
        ok = report(entries, args.runs, ttl=args.ttl is not None)
    finally:
        fleet.stop()
        lab.stop()
    print(f"\nlogs: {workdir / 'logs'}; audit log: {lab.audit_log}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
