#!/usr/bin/env python3
"""Benchmark: memory of one step's log through the relay at --rate lines/s, read fast and not read at all.

Setup: the gateway (as embedded in the controller) and the agent in this one process, over real TLS on
loopback; the agent's apiserver is a stand-in (``tests/relayharness.FakeApiserver``) whose pod log yields
--line-bytes lines at --rate lines/s for --seconds. Both ends are in the process, so the RSS figures
cover gateway and agent together (an upper bound for the controller's share).

Modes:
  reader   the consumer (``KubeClient.log(follow=True)``, as ``runs logs -f`` reads it) takes every line;
  stalled  the consumer takes one line, then nothing for --seconds: the agent may send only the credit
           window (256 KiB), so it stops reading the apiserver and memory stays flat.

Printed per mode: lines produced and delivered, the process RSS at start, its peak and its growth (MiB).

Usage: hack/bench/bench_relay_logs.py [--rate 1000] [--seconds 30] [--line-bytes 120]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

HACK = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(HACK), str(HACK.parent / "tests")]

from relayharness import FakeApiserver, Pki, running_agent, running_gateway  # noqa: E402

from choreo_controller.contracts import LogOptions  # noqa: E402
from choreo_controller.relay.identity import PlaneRef  # noqa: E402
from choreo_controller.relay.planes import PlaneDirectory  # noqa: E402

NS, POD = "openchoreo-ci-bench", "bench-1-step"
REF = PlaneRef("BuildPlane", "bench", "bench")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Source:
    """A pod log at ``rate`` lines/s for ``seconds``; counts what the agent read of it."""

    def __init__(self, rate: int, seconds: float, line_bytes: int) -> None:
        self.rate, self.seconds, self.line = rate, seconds, b"x" * line_bytes
        self.produced = 0

    def __call__(self) -> AsyncIterator[bytes]:
        async def lines() -> AsyncIterator[bytes]:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < self.seconds:
                due = int(elapsed * self.rate) + 1
                while self.produced < due:
                    self.produced += 1
                    yield self.line
                await asyncio.sleep(0.005)

        return lines()


async def run(mode: str, args: argparse.Namespace) -> dict[str, float]:
    source = Source(args.rate, args.seconds, args.line_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        pki = Pki(Path(tmp))
        fake = FakeApiserver(
            pods={(NS, POD): {"workflows.argoproj.io/workflow": "bench-1"}}, logs={(NS, POD): source}
        )
        directory = PlaneDirectory([pki.record("bench", REF)])
        async with (
            running_gateway(pki, directory) as gateway,
            running_agent(gateway.port, pki, pki.agent("bench"), fake),
        ):
            api = gateway.kube_api("bench", REF)
            start_rss, peak = rss_mib(), rss_mib()
            delivered = 0
            stream = api.log(NS, POD, LogOptions("main", follow=True))
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, rss_mib())
                    await asyncio.sleep(0.25)

            sampler = asyncio.create_task(sample())
            if mode == "stalled":
                await anext(stream)
                delivered = 1
                await asyncio.sleep(args.seconds)
                read_while_stalled = fake.log_lines_read
            else:
                async for _ in stream:
                    delivered += 1
                read_while_stalled = 0
            await stream.aclose()
            sampling = False
            await sampler
    return {
        "produced": source.produced,
        "delivered": delivered,
        "read_by_agent_while_stalled": read_while_stalled,
        "rss_start_mib": start_rss,
        "rss_peak_mib": peak,
        "rss_growth_mib": peak - start_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=1000, help="log lines per second (1000)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the step logs (30)")
    parser.add_argument("--line-bytes", type=int, default=120, help="bytes per line (120)")
    args = parser.parse_args()
    print(f"bench_relay_logs: {args.rate} lines/s of {args.line_bytes} B for {args.seconds:g} s, one step")
    for mode in ("reader", "stalled"):
        r = asyncio.run(run(mode, args))
        extra = (
            f", agent read {r['read_by_agent_while_stalled']:.0f} while stalled" if mode == "stalled" else ""
        )
        rss = f"RSS start {r['rss_start_mib']:.1f} MiB, peak {r['rss_peak_mib']:.1f} MiB"
        print(f"  {mode:8} produced {r['produced']:.0f}, delivered {r['delivered']:.0f}{extra}; {rss}, "
              f"growth {r['rss_growth_mib']:.1f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
