#!/usr/bin/env python3
"""Benchmark: the build plane's warm start (binaries built) and memory, with Tekton's share.

Starts ``--rounds`` build planes one after the other, exactly as the test session and the demo do
(``localcluster.start_build_plane``), and prints for each the time until it returned (everything ready),
then, over ``--settle`` seconds idle, every process's RSS (VmRSS) and CPU share (utime + stime), and the
sum of Tekton's RSS. Then, on the last plane, one PipelineRun of three tasks (embedded specs, kwok's
default 1 s per pod) from create to Succeeded. ``--without-tekton`` starts the same plane without Tekton
(its manifests and processes left out, nothing else changed), for the comparison.

Usage: hack/bench/bench_build_plane.py [--rounds 3] [--settle 10] [--without-tekton] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from benchlib import cpu_seconds, load, machine, rss_mib
from localcluster import Plane, start_build_plane, tekton

PIPELINE_RUN = {
    "apiVersion": "tekton.dev/v1",
    "kind": "PipelineRun",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {
        "pipelineSpec": {
            "tasks": [
                {
                    "name": name,
                    **({"runAfter": [after]} if after else {}),
                    "taskSpec": {"steps": [{"name": "run", "image": "busybox:1.36", "command": ["true"]}]},
                }
                for name, after in (("checkout", None), ("build", "checkout"), ("publish", "build"))
            ]
        }
    },
}


def _pipeline_run_seconds(plane: Plane) -> float:
    started = time.monotonic()
    plane.apply(stdin=json.dumps(PIPELINE_RUN))
    while True:
        out = plane.kubectl(
            "get",
            "pipelinerun",
            "bench",
            "-o",
            "jsonpath={.status.conditions[?(@.type=='Succeeded')].status}",
        ).stdout
        if out in {"True", "False"}:
            if out != "True":
                sys.exit("the PipelineRun failed")
            return time.monotonic() - started
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--without-tekton", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.without_tekton:  # its processes are defined, never started; nothing else changes
            stack.enter_context(mock.patch.object(tekton, "install"))
        _bench(args)


def _bench(args: argparse.Namespace) -> None:
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-build-plane-"))
    mode = "without Tekton" if args.without_tekton else "with Tekton"
    print(f"build plane, {mode}; {machine()}")
    starts = []
    for round_ in range(1, args.rounds + 1):
        began = time.monotonic()
        plane = start_build_plane(workdir / f"round-{round_}")
        try:
            starts.append(time.monotonic() - began)
            print(f"round {round_}: ready in {starts[-1]:.1f} s ({load()})")
            if round_ < args.rounds:
                continue
            pids = {name: proc.popen.pid for name, proc in plane.procs.items() if proc.popen}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            time.sleep(args.settle)
            for name, pid in pids.items():
                cpu = (cpu_seconds(pid) - cpu_before[name]) / args.settle
                print(f"  {name:<24} RSS {rss_mib(pid):7.1f} MiB  idle CPU {cpu:6.1%}")
            rss = {name: rss_mib(pid) for name, pid in pids.items()}
            tekton_mib = sum(rss.get(name, 0.0) for name in tekton.BINARIES)
            print(f"  RSS total {sum(rss.values()):.1f} MiB, of which Tekton {tekton_mib:.1f} MiB")
            if not args.without_tekton:
                seconds = _pipeline_run_seconds(plane)
                print(f"  3-task PipelineRun created -> Succeeded: {seconds:.1f} s ({load()})")
        finally:
            plane.stop()
    median, low, high = statistics.median(starts), min(starts), max(starts)
    print(f"warm start: median {median:.1f} s, min {low:.1f} s, max {high:.1f} s")


if __name__ == "__main__":
    main()
