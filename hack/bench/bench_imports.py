#!/usr/bin/env python3
"""What importing the controller costs, module group by module group (a benchmark script, not a test).

Each step imports one more group in a fresh child process - the order the ``controller`` command loads
them - and prints the resident memory (VmRSS) and time it added, and how many modules came with it. The
last row imports ``kubernetes_asyncio.config`` the plain way, in place of the ``kube.library`` row (what
the controller did before): the package ``__init__`` pulls in the whole generated client.

Usage: hack/bench/bench_imports.py [--repeat 3]   (the median of --repeat child processes per step)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS: list[tuple[str, str]] = [
    ("interpreter + stdlib used by all", "import asyncio, json, logging, ssl, dataclasses, typing"),
    ("structlog, yaml", "import structlog, yaml"),
    ("aiohttp", "import aiohttp"),
    ("prometheus_client", "import prometheus_client"),
    ("jsonschema", "import jsonschema"),
    ("choreo_controller.contracts/api/runtime", "import choreo_controller.runtime.manager"),
    ("choreo_controller.render (cel)", "import choreo_controller.render"),
    ("choreo_controller.reconcilers", "import choreo_controller.reconcilers.workflowrun"),
    ("choreo_controller.relay", "import choreo_controller.relay.gateway"),
    ("choreo_controller.kube.config (kube.library)", "import choreo_controller.kube.config"),
    (
        "choreo_controller.app (the controller)",
        "import choreo_controller.app, choreo_controller.cli.controller",
    ),
]
# Instead of the kube.library row: the library's loaders imported the plain way (what we did before).
PLAIN = ("instead: kubernetes_asyncio.config, plain import", "import kubernetes_asyncio.config")

CHILD = """
import json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
for code in sys.argv[1:-1]:
    exec(code)
before, modules, started = rss(), len(sys.modules), time.perf_counter()
exec(sys.argv[-1])
print(json.dumps({"mib": (rss() - before) / 2**20, "s": time.perf_counter() - started,
                  "modules": len(sys.modules) - modules, "total_mib": rss() / 2**20}))
"""


def step(previous: list[str], code: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *previous, code], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    one, five, fifteen = os.getloadavg()
    print(f"imports, median of {args.repeat} fresh processes  [load {one:.2f}/{five:.2f}/{fifteen:.2f}]")
    print(f"  {'step':<48} {'+RSS MiB':>9} {'+time s':>8} {'+modules':>9} {'RSS MiB':>8}")
    done: list[str] = []
    for label, code in STEPS:
        r = step(done, code, args.repeat)
        done.append(code)
        print(f"  {label:<48} {r['mib']:9.1f} {r['s']:8.2f} {r['modules']:9.0f} {r['total_mib']:8.1f}")
    r = step(done[:-2], PLAIN[1], args.repeat)
    print(f"  {PLAIN[0]:<48} {r['mib']:9.1f} {r['s']:8.2f} {r['modules']:9.0f} {r['total_mib']:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
