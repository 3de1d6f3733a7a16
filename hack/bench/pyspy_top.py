#!/usr/bin/env python3
"""Summarise a py-spy ``--format raw`` recording (collapsed stacks): the functions with the most samples.

Prints two tables: *self* (samples where the function was on top of the stack: where the CPU went) and
*inclusive* (samples where it was anywhere on the stack: what it cost with everything it called). Idle
samples (the event loop waiting in ``select``/``epoll``) are counted and reported apart, so the percentages
are of busy time.

Usage: hack/bench/pyspy_top.py FILE [--top 25] [--match choreo_controller]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

#: The event loop waiting for IO (py-spy names frames ``Class.method (file:line)``).
IDLE = ("Selector.select (selectors.py", "Selector.poll (selectors.py")


def parse(path: Path) -> tuple[collections.Counter[str], collections.Counter[str], int, int]:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    busy = idle = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE):
            idle += int(count)
            continue
        busy += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    return own, inclusive, busy, idle


def main() -> int:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="inclusive table: only frames containing this text")
    args = parser.parse_args()
    own, inclusive, busy, idle = parse(args.file)
    total = busy + idle
    print(f"{total} samples: {busy} busy ({100 * busy / max(total, 1):.0f}%), {idle} idle in the event loop")
    for title, table in (("self", own), ("inclusive", inclusive)):
        print(f"\n{title} (% of busy samples)")
        rows = [(frame, n) for frame, n in table.most_common() if args.match in frame or title == "self"]
        for frame, n in rows[: args.top]:
            print(f"  {100 * n / max(busy, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
