#!/usr/bin/env python3
"""Benchmark: status lag - an Argo Workflow's phase change -> the WorkflowRun's status showing it.

Measured from the outside, the way a user would see it: one watch on the build plane (Argo Workflows in
the run namespace's build namespace) and one on the control plane (WorkflowRuns), in this process, on one
clock. For every run and phase (Running, Succeeded) the lag is the time between the first build-plane
event showing the phase and the first control-plane event whose conditions show it. OpenChoreo's
controller polls the build plane every 20 s instead of watching, so its lag is uniform in 0-20 s
(p50 ~10 s, p99 ~19.8 s); the target here is p99 <= 1 s at the controller's default flags.

The controller runs as a child process through the CLI (``choreo-controller controller``): direct mode
(a build-plane kubeconfig), or with ``--relay`` through the relay as in production (embedded gateway, an
agent process; ``benchlib.Fleet``). Without kubeconfigs the script boots its own control plane and build
plane (hack/localcluster); relay mode always does.

Usage: hack/bench/bench_status_lag.py [--runs 60] [--concurrency 10] [--relay]
           [--control-plane-kubeconfig CP --build-plane-kubeconfig BP] [--workers N]
           [--controller-arg=--kube-api-qps=500 ...] [--slowest 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack"))

from benchlib import PLANE_ID, Fleet, load, machine, start_lab  # noqa: E402
from benchruns import CWTS, bench_workflow, run_phase  # noqa: E402
from localcluster import start_build_plane, start_control_plane  # noqa: E402
from localcluster.process import free_port  # noqa: E402

from choreo_controller.api import planes  # noqa: E402
from choreo_controller.api import resources as r  # noqa: E402
from choreo_controller.kube import connect  # noqa: E402

OPENCHOREO_POLL = 20.0
PHASES = ("Running", "Succeeded")


class Recorder:
    """First time each (run, phase) was seen on each side."""

    def __init__(self) -> None:
        self.build: dict[tuple[str, str], float] = {}
        self.control: dict[tuple[str, str], float] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.created: dict[str, float] = {}

    def finished(self, name: str) -> asyncio.Event:
        """Set once the run's status shows a terminal phase."""
        return self.done.setdefault(name, asyncio.Event())

    async def follow(self, api: Any, res: Any, namespace: str, phase_of: Any, into: dict[Any, float]) -> None:
        listed = await api.list(res, namespace)
        rv = listed.resource_version
        while True:
            async for event in api.watch(res, namespace, resource_version=rv, timeout_seconds=600):
                if event.type == "BOOKMARK":
                    continue
                rv = event.object["metadata"]["resourceVersion"]
                phase = phase_of(event.object)
                key = (event.object["metadata"]["name"], phase)
                if phase is not None and key not in into:
                    into[key] = time.monotonic()
                    if into is self.control and phase in {"Succeeded", "Failed"}:
                        self.finished(key[0]).set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(rec: Recorder, slowest: int = 0) -> None:
    all_lags: list[float] = []
    print(f"\n{'phase':<10} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}   (seconds)")
    for phase in PHASES:
        lags = [rec.control[k] - t for k, t in rec.build.items() if k[1] == phase and k in rec.control]
        all_lags += lags
        if lags:
            print(
                f"{phase:<10} {len(lags):>4} {percentile(lags, 0.5):>8.3f} {percentile(lags, 0.9):>8.3f} "
                f"{percentile(lags, 0.99):>8.3f} {max(lags):>8.3f}"
            )
    if all_lags:
        p50, p90, p99 = (percentile(all_lags, q) for q in (0.5, 0.9, 0.99))
        mean = statistics.mean(all_lags)
        print(
            f"{'all':<10} {len(all_lags):>4} {p50:>8.3f} {p90:>8.3f} {p99:>8.3f} {max(all_lags):>8.3f}"
            f"   mean {mean:.3f}"
        )
    poll = OPENCHOREO_POLL
    print(
        f"{'OpenChoreo':<10} {'':>4} {poll / 2:>8.3f} {poll * 0.9:>8.3f} {poll * 0.99:>8.3f} {poll:>8.3f}   "
        f"(polls every {poll:.0f} s: lag ~U(0, {poll:.0f} s))"
    )
    verdict = "MET" if all_lags and percentile(all_lags, 0.99) <= 1.0 else "MISSED"
    print(f"target p99 <= 1 s: {verdict}  [{load()}]")
    if slowest:
        _print_slowest(rec, slowest)


def _print_slowest(rec: Recorder, n: int) -> None:
    """The slowest samples, with wall-clock (UTC) times to find them in the controller's log."""
    to_wall = time.time() - time.monotonic()
    lags = sorted(((rec.control[k] - t, k) for k, t in rec.build.items() if k in rec.control), reverse=True)
    print(f"\nslowest {n} (run, phase, lag s, created -> build-plane event -> control-plane event, UTC):")
    for lag, (name, phase) in lags[:n]:
        times = (rec.created.get(name), rec.build[name, phase], rec.control[name, phase])
        shown = " -> ".join(_utc(t + to_wall) if t is not None else "?" for t in times)
        print(f"  {name} {phase:<10} {lag:6.3f}  {shown}")


def _utc(wall: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(wall)) + f".{int(wall % 1 * 1000):03d}"


async def bench(
    cp_path: Path, bp_path: Path, runs: int, concurrency: int, client_ca: dict[str, Any]
) -> Recorder:
    namespace = f"bench-{secrets.token_hex(3)}"
    build_ns = planes.build_namespace("BuildPlane", namespace)
    rec = Recorder()
    async with connect(cp_path) as cp, connect(bp_path) as bp:
        await cp.create(
            r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        await cp.create(r.BUILD_PLANE, {
            "apiVersion": r.API_VERSION, "kind": "BuildPlane",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"planeID": PLANE_ID if client_ca.get("value") != "direct" else "default",
                     "clusterAgent": {"clientCA": client_ca}, "secretStoreRef": {"name": "store"}},
        })  # fmt: skip
        await cp.create(r.WORKFLOW, bench_workflow(namespace))
        watchers = [
            asyncio.create_task(rec.follow(bp, r.ARGO_WORKFLOW, build_ns, _argo_phase, rec.build)),
            asyncio.create_task(rec.follow(cp, r.WORKFLOW_RUN, namespace, run_phase, rec.control)),
        ]
        limit = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            name = f"lag-{i:03d}"
            async with limit:
                rec.created[name] = time.monotonic()
                await cp.create(r.WORKFLOW_RUN, {
                    "apiVersion": r.API_VERSION, "kind": "WorkflowRun",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"workflow": {"name": "docker", "parameters": {"repository": {"url": "https://x/y"}}}},
                })  # fmt: skip
                await rec.finished(name).wait()

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(runs)))
        print(f"{runs} runs in {time.monotonic() - started:.1f} s ({concurrency} at a time)")
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    return rec


def _argo_phase(argo: dict[str, Any]) -> str | None:
    phase = (argo.get("status") or {}).get("phase")
    return phase if phase in {"Running", "Succeeded", "Failed", "Error"} else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, help="controller --workers (default: the controller's)")
    parser.add_argument("--relay", action="store_true", help="through the relay (embedded gateway + agent)")
    parser.add_argument("--slowest", type=int, default=5, help="list the N slowest samples (0: none)")
    parser.add_argument("--controller-arg", action="append", default=[], help="extra controller flag")
    parser.add_argument("--control-plane-kubeconfig", type=Path)
    parser.add_argument("--build-plane-kubeconfig", type=Path)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-status-lag-"))
    flags = [*([f"--workers={args.workers}"] if args.workers else []), *args.controller_arg]
    print(f"machine: {machine()}  [{load()}]")
    mode = "relay (embedded gateway)" if args.relay else "direct"
    print(f"{mode}; controller flags: {' '.join(flags) or '(defaults)'}", flush=True)
    if args.relay:
        return _relay(args, workdir, flags)
    planes = []
    cp_path, bp_path = args.control_plane_kubeconfig, args.build_plane_kubeconfig
    if cp_path is None or bp_path is None:
        print(f"starting a control plane and a build plane under {workdir} ...", flush=True)
        planes = [start_control_plane(workdir / "cp"), start_build_plane(workdir / "bp")]
        cp_path, bp_path = planes[0].kubeconfig, planes[1].kubeconfig
    _apply(bp_path, CWTS)
    port = free_port()
    log = (workdir / "controller.log").open("wb")
    controller = subprocess.Popen(
        [str(Path(sys.executable).parent / "choreo-controller"), "controller", f"--kubeconfig={cp_path}",
         f"--build-plane-kubeconfig={bp_path}", f"--metrics-bind-address=127.0.0.1:{port}",
         "--health-probe-bind-address=0", *flags],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        _wait_ready(port)
        rec = asyncio.run(bench(cp_path, bp_path, args.runs, args.concurrency, {"value": "direct"}))
        _report(rec, port, args.slowest)
    finally:
        controller.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            controller.wait(15)
        log.close()
        for plane in planes:
            plane.stop()
    return 0


def _relay(args: argparse.Namespace, workdir: Path, flags: list[str]) -> int:
    lab = start_lab(workdir, templates=CWTS)
    fleet = Fleet(lab, controller_args=flags, leader_elect=False)
    try:
        fleet.start()
        ca = {"value": lab.client_ca}
        rec = asyncio.run(bench(lab.cp.kubeconfig, lab.bp.kubeconfig, args.runs, args.concurrency, ca))
        _report(rec, fleet.controller.metrics_port, args.slowest)
    finally:
        fleet.stop()
        lab.stop()
    print(f"logs: {workdir / 'logs'}")
    return 0


def _report(rec: Recorder, port: int, slowest: int) -> None:
    report(rec, slowest)
    print("\ncontroller's own view (choreo_status_lag_seconds, informer event -> status write):")
    for line in _metrics(port).splitlines():
        if line.startswith(("choreo_status_lag_seconds_count", "choreo_status_lag_seconds_sum")):
            print("  " + line)


def _apply(kubeconfig: Path, text: str) -> None:
    from localcluster.binaries import bin_dir  # noqa: PLC0415

    subprocess.run(
        [str(bin_dir() / "kubectl"), f"--kubeconfig={kubeconfig}", "apply", "--server-side", "-f", "-"],
        input=text, text=True, check=True, capture_output=True,
    )  # fmt: skip


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp,
        ):
            if resp.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit("controller did not become ready")


if __name__ == "__main__":
    sys.exit(main())
