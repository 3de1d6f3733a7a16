"""Start a local control plane and build plane as processes and print how to reach them.

    .venv/bin/python hack/planes.py [--workdir DIR]

Runs until Ctrl-C (or SIGTERM), then stops every process. Both planes boot in parallel.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localcluster import Plane, start_build_plane, start_control_plane


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path(".demo/planes"), help="state, logs, kubeconfigs")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    t0 = time.monotonic()
    print(f"starting control plane and build plane under {workdir} ...", flush=True)
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="plane-boot")
    cp_f = pool.submit(timed, start_control_plane, workdir / "control-plane")
    bp_f = pool.submit(timed, start_build_plane, workdir / "build-plane")
    (cp, cp_s), (bp, bp_s) = cp_f.result(), bp_f.result()
    total = time.monotonic() - t0
    print(f"both planes ready in {total:.1f}s (control plane {cp_s:.1f}s, build plane {bp_s:.1f}s)")
    print(f"  control plane: {cp.server}  KUBECONFIG={cp.kubeconfig}")
    print(f"  build plane:   {bp.server}  KUBECONFIG={bp.kubeconfig}")
    print(f"  logs: {cp.logdir}  {bp.logdir}")
    print("Ctrl-C stops both.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        bp.stop()
        cp.stop()
        pool.shutdown()
    return 0


def timed(start: Callable[[Path], Plane], workdir: Path) -> tuple[Plane, float]:
    t0 = time.monotonic()
    return start(workdir), time.monotonic() - t0


if __name__ == "__main__":
    sys.exit(main())
