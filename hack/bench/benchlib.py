"""Shared by the end-to-end benchmarks: the two planes, the relay processes, and how they are measured.

* ``start_lab(workdir)`` - a control plane and a build plane (``hack/localcluster``) booted in parallel;
  relay certificates minted as ``make demo`` does (``demolib.mint_certificates``: gateway, agent of planeID
  ``bench``, a controllers' CA for a standalone gateway's internal API); the controller gets a kubeconfig of
  its own user ``choreo-controller`` (``system:masters``) so the apiserver's audit log can tell its requests
  from the benchmark's; optionally the control plane's audit log records every request of that user
  (``AUDIT_POLICY``: one line per request, at ``ResponseComplete``); kwok-friendly ClusterWorkflowTemplates
  (``benchruns.CWTS``) in the build plane, and a bootstrap BuildPlane vouching for the agent.
* ``Fleet`` - ``choreo-controller gateway`` (standalone, or embedded in the controller), ``agent`` and one or
  more ``controller`` replicas (leader election on unless ``leader_elect=False``) as ``localcluster.Proc``
  children, each restartable (``Proc.start``) and killable (``Proc.kill``: SIGKILL; ``Proc.stop``: SIGTERM);
  ``Controller`` reads ``/metrics`` and the process's RSS; ``tcp_connections`` counts a process's
  connections to a port.
* ``load()`` - ``os.getloadavg()`` as text, printed with every figure (2 shared cores: other work skews).
* ``py_spy(out, pid)`` / ``stop_py_spy`` - record a process with py-spy (raw collapsed stacks, for
  ``pyspy_top.py``); a process just started is attached to as soon as its interpreter can be read.

Everything is the real CLI, as an operator would run it. Logs go to ``<workdir>/logs``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

HACK = Path(__file__).resolve().parents[1]
ROOT = HACK.parent
sys.path[:0] = [str(HACK), str(HACK / "bench")]

from demolib import mint_certificates  # noqa: E402
from localcluster import Plane, bin_dir, start_build_plane, start_control_plane  # noqa: E402
from localcluster.process import Proc, free_port, http_ok, wait_until  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

CLI = Path(sys.executable).parent / "choreo-controller"
PLANE_ID = "bench"
CONTROLLER_USER = "choreo-controller"
BOOTSTRAP_NAMESPACE = "bench-system"
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  users: [{CONTROLLER_USER}]
- level: None
"""


def load() -> str:
    """The load average (1, 5, 15 min), for the record next to a figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f}"


def py_spy(out: Path | None, pid: int | None) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` of ``pid`` into ``out`` (``None`` if either is); retried while the process starts."""
    if out is None or pid is None:
        return None
    argv = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-o", str(out),
            "--format", "raw", "-r", "200", "--nonblocking"]  # fmt: skip
    deadline = time.monotonic() + 10
    while True:  # py-spy exits at once while the interpreter is not set up yet
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(0.1)
        if spy.returncode is None or time.monotonic() > deadline:
            return spy


def stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    """SIGINT: py-spy writes its file and exits."""
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)


def machine() -> str:
    """Cores, RAM, kernel, Python and the cluster versions, one line."""
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    gib = int(mem.split()[1]) / 2**20
    kube = bin_dir().parent.name
    return (
        f"{os.cpu_count()} cores, {gib:.1f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}, {kube}"
    )


@dataclass
class Lab:
    """Both planes, the relay PKI and the controller's own kubeconfig."""

    workdir: Path
    cp: Plane
    bp: Plane
    client_ca: str
    controller_kubeconfig: Path
    audit_log: Path | None = None

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def stop(self) -> None:
        for plane in (self.bp, self.cp):
            plane.stop()


def start_lab(workdir: Path, *, audit: bool = False, templates: str = "") -> Lab:
    """Boot both planes (in parallel), mint certificates, optionally turn the control plane's audit on."""
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"starting a control plane and a build plane under {workdir} ...", flush=True)
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="plane-boot") as pool:
        futures = [
            pool.submit(start_control_plane, workdir / "control-plane"),
            pool.submit(start_build_plane, workdir / "build-plane"),
        ]
        cp, bp = (future.result() for future in futures)
    try:
        client_ca = mint_certificates(workdir / "pki", PLANE_ID)
        kubeconfig = cp.user_kubeconfig(CONTROLLER_USER, ("system:masters",))
        lab = Lab(workdir, cp, bp, client_ca, kubeconfig)
        if audit:
            lab.audit_log = cp.enable_audit(AUDIT_POLICY)
        if templates:
            bp.apply(stdin=templates)
        cp.apply(stdin=bootstrap_plane(client_ca))
    except BaseException:
        bp.stop()
        cp.stop()
        raise
    return lab


def bootstrap_plane(client_ca: str, namespace: str = BOOTSTRAP_NAMESPACE) -> str:
    """A namespace and its BuildPlane ``default`` (planeID ``bench``), as JSON documents for ``apply``."""
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    return json.dumps(ns) + "\n---\n" + json.dumps(build_plane(namespace, client_ca))


def build_plane(namespace: str, client_ca: str) -> dict[str, object]:
    return {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "BuildPlane",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {"planeID": PLANE_ID, "clusterAgent": {"clientCA": {"value": client_ca}},
                 "secretStoreRef": {"name": "default"}},
    }  # fmt: skip


@dataclass
class Controller:
    """One ``choreo-controller controller`` replica."""

    proc: Proc
    metrics_port: int
    probe_port: int

    @property
    def pid(self) -> int | None:
        return self.proc.popen.pid if self.proc.popen is not None else None

    def ready(self) -> bool:
        try:
            return http_ok(f"http://127.0.0.1:{self.probe_port}/readyz")
        except OSError:
            return False

    def wait_ready(self, timeout: float = 120.0) -> None:
        wait_until(
            f"{self.proc.name} /readyz", self.ready, timeout=timeout, procs=(self.proc,), interval=0.05
        )

    def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{'name{labels}': value}`` (empty when it does not answer)."""
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                return parse_metrics(resp.read().decode())
        except OSError:
            return {}

    def rss_mib(self) -> float:
        """Resident set size of the process, MiB (``/proc/<pid>/status`` VmRSS)."""
        return rss_mib(self.pid)

    def peak_rss_mib(self) -> float:
        """The most the process has ever been resident, MiB (``VmHWM``)."""
        return rss_mib(self.pid, "VmHWM")


def rss_mib(pid: int | None, field: str = "VmRSS") -> float:
    if pid is None:
        return 0.0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith(f"{field}:")), f"{field}: 0 kB")
    return int(line.split()[1]) / 1024


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (``/proc/<pid>/stat``; this process for ``None``), 0 if gone."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tcp_connections(pid: int | None, port: int) -> int:
    """Open TCP connections of a process to a local ``port`` (its sockets in ``/proc/<pid>/net/tcp``)."""
    if pid is None:
        return 0
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # closed since the listing
                inodes.add(str(fd.readlink())[8:-1])  # "socket:[N]"
        table = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return 0
    remote = f":{port:04X}"
    rows = [row.split() for row in table]
    return sum(1 for f in rows if f[2].endswith(remote) and f[3] == "01" and f[9] in inodes)  # ESTABLISHED


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy so far, and the niced share of them (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / os.sysconf("SC_CLK_TCK"), nice / os.sysconf("SC_CLK_TCK")


#: How ``CpuMeter`` names a plane's processes; the rest of each plane is summed as "other lab".
MEASURED_PLANE_PROCS = {"kube-apiserver": "apiserver", "etcd": "etcd"}


class CpuMeter:
    """CPU seconds of every process of the lab over a window, per process, next to the whole machine's.

    Counted: both planes' apiservers and etcds (``cp``/``bp``), the controller and the agent (the fleet),
    this benchmark process, the planes' other running processes summed as ``other lab``, and whatever
    else ran on the machine (busy CPU of ``/proc/stat`` minus all the above; of it, what ran niced).
    """

    def __init__(self, lab: Lab, fleet: Fleet) -> None:
        self.pids: dict[str, int | None] = {}
        self.other: list[int] = []
        for prefix, plane in (("cp", lab.cp), ("bp", lab.bp)):
            for name, proc in plane.procs.items():
                if proc.popen is None or proc.popen.poll() is not None:
                    continue
                if name in MEASURED_PLANE_PROCS:
                    self.pids[f"{prefix} {MEASURED_PLANE_PROCS[name]}"] = proc.popen.pid
                else:
                    self.other.append(proc.popen.pid)
        self.pids.update((name, pid) for name, pid in fleet.pids().items() if pid is not None)
        self.pids["benchmark"] = None  # this process
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        out["other lab"] = sum(cpu_seconds(pid) for pid in self.other)
        out["machine"], out["niced"] = machine_cpu()
        out["wall"] = time.monotonic()
        return out

    def report(self, count: int, unit: str, cores: int | None = None) -> dict[str, float]:
        """Print CPU ms per ``unit`` (``count`` of them) since the meter was made; returns seconds used."""
        now = self._read()
        used = {name: now[name] - self._start[name] for name in now}
        wall = used.pop("wall")
        machine, niced = used.pop("machine"), used.pop("niced")
        lab = sum(used.values())
        cores = cores or os.cpu_count() or 1
        per = ", ".join(f"{name} {1000 * s / count:.2f}" for name, s in used.items())
        print(f"    CPU ms per {unit}: {per}")
        print(f"    lab total {1000 * lab / count:.2f} ms per {unit} = {lab / wall:.2f} of {cores} cores "
              f"over {wall:.1f} s; the rest of the machine {max(0.0, machine - lab) / wall:.2f} cores "
              f"(niced, all processes: {niced / wall:.2f}); machine busy {machine / wall:.2f} "
              f"of {cores}")  # fmt: skip
        return {**used, "lab": lab, "wall": wall, "machine": machine}


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@dataclass
class Fleet:
    """Gateway (standalone unless ``embedded``), agent and ``replicas`` controllers, in relay mode."""

    lab: Lab
    embedded: bool = True
    replicas: int = 1
    controller_args: Sequence[str] = ()
    leader_elect: bool = True
    log_level: str = "info"
    gateway: Proc | None = None
    agent: Proc = field(init=False)
    controllers: list[Controller] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.embedded and self.replicas != 1:
            raise ValueError("an embedded gateway listens on one port: one replica")
        lab, pki, logs = self.lab, self.lab.pki, self.lab.workdir / "logs"
        env = {"PYTHONUNBUFFERED": "1"}
        self.agent_port, self.agent_probe = free_port(), free_port()
        relay_flags: list[str]
        if self.embedded:
            relay_flags = [
                "--embedded-gateway", f"--gateway-bind-address=127.0.0.1:{self.agent_port}",
                f"--gateway-cert={pki / 'gateway.crt'}", f"--gateway-key={pki / 'gateway.key'}",
            ]  # fmt: skip
        else:
            internal, self.gateway_probe = free_port(), free_port()
            self.gateway = Proc(
                "choreo-gateway",
                [
                    str(CLI),
                    "gateway",
                    f"--tls-cert={pki / 'gateway.crt'}",
                    f"--tls-key={pki / 'gateway.key'}",
                    f"--listen=127.0.0.1:{self.agent_port}",
                    f"--kubeconfig={lab.cp.kubeconfig}",
                    f"--internal-client-ca={pki / 'controllers-ca.crt'}",
                    f"--internal-listen=127.0.0.1:{internal}",
                    f"--probe-listen=127.0.0.1:{self.gateway_probe}",
                    f"--log-level={self.log_level}",
                ],
                logs,
                env=env,
            )
            relay_flags = [
                f"--gateway-url=https://localhost:{internal}", f"--gateway-ca={pki / 'gateway-ca.crt'}",
                f"--gateway-client-cert={pki / 'controller.crt'}",
                f"--gateway-client-key={pki / 'controller.key'}",
            ]  # fmt: skip
        self.agent = Proc(
            "choreo-agent",
            [
                str(CLI),
                "agent",
                f"--gateway-url=wss://localhost:{self.agent_port}/v1/agent",
                f"--gateway-ca={pki / 'gateway-ca.crt'}",
                f"--tls-cert={pki / f'agent-{PLANE_ID}.crt'}",
                f"--tls-key={pki / f'agent-{PLANE_ID}.key'}",
                f"--kubeconfig={lab.bp.kubeconfig}",
                f"--probe-listen=127.0.0.1:{self.agent_probe}",
                "--name=bench-agent",
                f"--log-level={self.log_level}",
            ],
            logs,
            env=env,
        )
        for i in range(self.replicas):
            metrics, probe = free_port(), free_port()
            argv = [
                str(CLI), "controller", f"--kubeconfig={lab.controller_kubeconfig}",
                f"--metrics-bind-address=127.0.0.1:{metrics}",
                f"--health-probe-bind-address=127.0.0.1:{probe}",
                *(["--leader-elect", "--leader-election-namespace=default"] if self.leader_elect else []),
                f"--log-level={self.log_level}",
                *relay_flags, *self.controller_args,
            ]  # fmt: skip
            name = "choreo-controller" if self.replicas == 1 else f"choreo-controller-{i}"
            self.controllers.append(Controller(Proc(name, argv, logs, env=env), metrics, probe))

    @property
    def controller(self) -> Controller:
        return self.controllers[0]

    def procs(self) -> Iterator[Proc]:
        if self.gateway is not None:
            yield self.gateway
        yield self.agent
        yield from (c.proc for c in self.controllers)

    def pids(self) -> dict[str, int | None]:
        """The controller's and the agent's process ids (``None`` for one not running)."""
        agent = self.agent.popen.pid if self.agent.popen else None
        return {"controller": self.controller.pid, "agent": agent}

    def start(self) -> None:
        """Gateway, agent, controllers - each waited for (an embedded gateway: controller, then agent)."""
        if self.gateway is not None:
            self.start_gateway()
            self.start_agent()
        for ctl in self.controllers:
            ctl.proc.start()
        self.controller.wait_ready()
        if self.gateway is None:
            self.start_agent()

    def start_gateway(self) -> None:
        assert self.gateway is not None  # noqa: S101 - standalone only
        self.gateway.start()
        url = f"http://127.0.0.1:{self.gateway_probe}/readyz"
        wait_until("gateway /readyz", lambda: http_ok(url), timeout=60, procs=(self.gateway,), interval=0.05)

    def start_agent(self, *, wait: bool = True) -> None:
        self.agent.start()
        if wait:
            self.wait_agent()

    def agent_connected(self) -> bool:
        try:
            return http_ok(f"http://127.0.0.1:{self.agent_probe}/readyz")
        except OSError:
            return False

    def wait_agent(self, timeout: float = 60.0) -> None:
        wait_until(
            "agent connected", self.agent_connected, timeout=timeout, procs=(self.agent,), interval=0.05
        )

    def stop(self) -> None:
        for proc in reversed(list(self.procs())):
            proc.stop()


def kubectl_get_json(plane: Plane, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [str(bin_dir() / "kubectl"), f"--kubeconfig={plane.kubeconfig}", "get", *args, "-o", "json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return dict(json.loads(out.stdout))
