"""Parts of hack/demo.py: timed stages with a progress heartbeat, and the choreo-controller processes.

``Stage`` prints a numbered heading, a heartbeat while the step runs (``... 12s``, every ``HEARTBEAT``
seconds, or an in-place counter on a terminal) and the step's duration. ``start_processes`` starts, in
relay mode, ``choreo-controller gateway`` (its internal API on) and ``choreo-controller agent`` against the
build plane, and the controller - reaching the build plane through the gateway, or directly with a
kubeconfig in direct mode - as ``localcluster.Proc`` children (logs under ``<workdir>/logs``), all at once,
and returns when each answers ``/readyz``. ``mint_certificates`` makes what relay mode needs.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from localcluster.binaries import HACK
from localcluster.pki import CA, write_pair
from localcluster.process import Proc, free_port, wait_until

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

    from localcluster import Plane

HEARTBEAT = 5.0


class Stopwatch:
    """Elapsed time since the demo started."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def total(self) -> str:
        return f"{time.monotonic() - self.t0:.1f}s"


class Stage:
    """``with Stage(clock, "2/5 planes"):`` - heading, heartbeat, duration."""

    def __init__(self, clock: Stopwatch, title: str, *, heartbeat: bool = True, closing: bool = True) -> None:
        self.clock, self.title, self.heartbeat, self.closing = clock, title, heartbeat, closing
        self._done = threading.Event()
        self._t0 = 0.0
        self._live = sys.stdout.isatty()

    def __enter__(self) -> Self:
        self._t0 = time.monotonic()
        print(f"\n==> [{self.clock.total():>6}] {self.title}", flush=True)
        if self.heartbeat:
            threading.Thread(target=self._beat, name="demo-heartbeat", daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        took = time.monotonic() - self._t0
        clear = "\r\x1b[K" if self._live and self.heartbeat else ""
        if kind is None and self.closing:
            print(f"{clear}    done in {took:.1f}s", flush=True)
        elif kind is not None:
            print(f"{clear}    FAILED after {took:.1f}s", flush=True)

    def _beat(self) -> None:
        step = 1.0 if self._live else HEARTBEAT
        while not self._done.wait(step):
            elapsed = time.monotonic() - self._t0
            if self._live:
                print(f"\r    ... {elapsed:.0f}s", end="", flush=True)
            else:
                print(f"    ... still working ({elapsed:.0f}s)", flush=True)


@dataclass(frozen=True)
class Mode:
    """How the controller reaches the build plane: ``relay`` (gateway + agent) or ``direct``."""

    name: str
    relay: bool


def demo_mode(cli: Path, *, direct_only: bool) -> Mode:
    """Relay mode when this checkout's controller can use a standalone gateway; else direct mode."""
    if direct_only:
        return Mode("direct", relay=False)
    text = subprocess.run(
        [str(cli), "controller", "--help"], capture_output=True, text=True, check=False
    ).stdout
    if "--gateway-url" in text:
        return Mode("relay", relay=True)
    return Mode("direct", relay=False)


def mint_certificates(pki: Path, plane_id: str) -> str:
    """hack/gen-certs.py for the gateway and the agent, plus a controllers' CA and client certificate for
    the gateway's internal API; returns the agents' CA (PEM) for the BuildPlane's clientCA."""
    subprocess.run(
        [sys.executable, str(HACK / "gen-certs.py"), "--out", str(pki), "--plane", plane_id,
         "--gateway-dns", "localhost", "--gateway-ip", "127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    controllers = CA.new("choreo-demo-controllers")
    controllers.write(pki, "controllers-ca")
    write_pair(pki, "controller", *controllers.issue("choreo-controller", client=True))
    return (pki / "agent-ca.crt").read_text()


def start_processes(
    mode: Mode, cli: Path, cp: Plane, bp: Plane, workdir: Path, metrics_port: int, plane_id: str
) -> list[Proc]:
    """Start the gateway and the agent (relay mode) and the controller together; return once all are ready."""
    logs, pki = workdir / "logs", workdir / "pki"
    env = {"PYTHONUNBUFFERED": "1"}
    probes = {name: free_port() for name in ("controller", "gateway", "agent")}
    argv = [
        str(cli), "controller", f"--kubeconfig={cp.kubeconfig}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        f"--health-probe-bind-address=127.0.0.1:{probes['controller']}",
        "--leader-elect", "--leader-election-namespace=default", "--log-level=info",
    ]  # fmt: skip
    procs: list[Proc] = []
    if mode.relay:
        agents, internal = free_port(), free_port()
        procs.append(Proc("choreo-gateway", [
            str(cli), "gateway", f"--tls-cert={pki / 'gateway.crt'}", f"--tls-key={pki / 'gateway.key'}",
            f"--listen=127.0.0.1:{agents}", f"--kubeconfig={cp.kubeconfig}",
            f"--internal-client-ca={pki / 'controllers-ca.crt'}", f"--internal-listen=127.0.0.1:{internal}",
            f"--probe-listen=127.0.0.1:{probes['gateway']}", "--log-level=info",
        ], logs, env=env))  # fmt: skip
        procs.append(Proc("choreo-agent", [
            str(cli), "agent", f"--gateway-url=wss://localhost:{agents}/v1/agent",
            f"--gateway-ca={pki / 'gateway-ca.crt'}", f"--tls-cert={pki / f'agent-{plane_id}.crt'}",
            f"--tls-key={pki / f'agent-{plane_id}.key'}", f"--kubeconfig={bp.kubeconfig}",
            f"--probe-listen=127.0.0.1:{probes['agent']}", "--name=demo-agent", "--log-level=info",
        ], logs, env=env))  # fmt: skip
        argv += [
            f"--gateway-url=https://localhost:{internal}", f"--gateway-ca={pki / 'gateway-ca.crt'}",
            f"--gateway-client-cert={pki / 'controller.crt'}",
            f"--gateway-client-key={pki / 'controller.key'}",
        ]  # fmt: skip
    else:
        argv.append(f"--build-plane-kubeconfig={bp.kubeconfig}")
    procs.append(Proc("choreo-controller", argv, logs, env=env))
    # All at once: the agent and the controller retry until the gateway answers, so the three Python
    # start-ups overlap instead of adding up.
    for proc in procs:
        proc.start()
    for proc in procs:
        _wait_ready(proc.name, probes[proc.name.removeprefix("choreo-")], procs)
    return procs


def _wait_ready(name: str, port: int, procs: list[Proc]) -> None:
    url = f"http://127.0.0.1:{port}/readyz"
    wait_until(f"{name} /readyz", lambda: _ok(url), timeout=60, procs=tuple(procs), interval=0.2)


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
        return bool(resp.status == 200)
