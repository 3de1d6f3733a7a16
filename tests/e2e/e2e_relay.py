"""Relay mode for the end-to-end suites: the same controller, the build plane reached only through the relay.

* ``RelayPki`` - certificates minted by ``hack/gen-certs.py``, as an operator would: the gateway's CA and
  server certificate (``localhost``/``127.0.0.1``), the agents' CA (a plane's ``clientCA``) and two agent
  certificates of planeID ``default``: one of a BuildPlane (URI SAN ``openchoreo://buildplane/default``),
  one of a WorkflowPlane (``openchoreo://workflowplane/default``, ``--generation 1.x``).
  Plus a controllers' CA and a client certificate from it, for the gateway's internal API.
* ``RelayController`` (mode ``relay``) - ``choreo-controller controller --embedded-gateway`` with *no* build-plane
  kubeconfig, and ``choreo-controller agent`` dialling it from the build plane's side, running as the
  least-privilege ServiceAccount of ``manifests/build-plane`` (a TokenRequest token); both CLI child
  processes, restartable and killable on their own. The embedded gateway also serves its internal API
  (``--gateway-internal-client-ca``: the controllers' CA of ``RelayPki``) for the CLI's ``runs logs``. A
  bootstrap BuildPlane (namespace ``e2e-relay``) vouches for the agent from the start; every test's own
  BuildPlane ``default`` (planeID ``default``, the same clientCA) joins that trust group, so one agent and
  one relayed Argo informer serve every test. A
  second agent, of the 1.x identity, serves the WorkflowPlane kinds the same way (bootstrap WorkflowPlane,
  ``workflows-*`` namespaces): one controller serves both generations at once.
* ``StandaloneRelayController`` (mode ``remote``) - the same, with ``choreo-controller gateway`` as its own
  process and the controller reaching it through its internal API (``--gateway-url``).

The two modes never run at once (both would reconcile every run): ``conftest.Engines`` stops one before
starting the other, and orders the tests so that happens once.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from e2e_support import REPO, Controller, http_ok
from localcluster.pki import CA, write_pair
from localcluster.process import Proc, free_port, wait_until

from choreo_controller.api import resources as r

GEN_CERTS = REPO / "hack" / "gen-certs.py"
AGENT_MANIFESTS = [REPO / "manifests" / "build-plane" / f for f in ("namespace.yaml", "serviceaccount.yaml",
                   "clusterrole.yaml", "clusterrolebinding.yaml")]  # fmt: skip
AGENT_NAMESPACE, AGENT_SA = "openchoreo-build-plane", "choreo-relay-agent"
BOOTSTRAP_NAMESPACE = "e2e-relay"
PLANE_ID = "default"


class RelayPki:
    """``hack/gen-certs.py --out DIR --plane default`` and the file names it writes."""

    def __init__(self, directory: Path) -> None:
        subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, str(GEN_CERTS), "--out", str(directory), "--plane", PLANE_ID,
             "--gateway-dns", "localhost", "--gateway-ip", "127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(  # noqa: S603 - the same CA, an agent of the 1.x plane kinds
            [sys.executable, str(GEN_CERTS), "--out", str(directory), "--reuse", "--plane", PLANE_ID,
             "--generation", "1.x"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        self.dir = directory
        self.client_ca = (directory / "agent-ca.crt").read_text()
        controllers = CA.new("e2e-controllers")  # a CA of its own for the internal API: never the agents'
        controllers.write(directory, "controllers")
        write_pair(directory, "controller", *controllers.issue("controller", client=True))

    def __getitem__(self, stem: str) -> str:
        return str(self.dir / stem)


class RelayController(Controller):
    """The controller with its gateway embedded, plus the build plane's agent; see the module docstring."""

    mode = "relay"

    def __init__(self, control_plane, build_plane, logdir: Path) -> None:
        self.pki = RelayPki(logdir / "pki")
        self.gateway_port = free_port()
        flags = self._build_plane_flags(control_plane, logdir)
        super().__init__(control_plane, build_plane, logdir, build_planes=flags)
        self.client_ca = self.pki.client_ca
        agent_kubeconfig = _agent_kubeconfig(build_plane, logdir / "agent.kubeconfig")
        self.agent_port, self.agent = self._agent("e2e-agent", "agent-default", agent_kubeconfig, logdir)
        self.agent_1x_port, self.agent_1x = self._agent(
            "e2e-agent-1x", "agent-wp-default", agent_kubeconfig, logdir
        )
        control_plane.apply(stdin=_bootstrap(self.client_ca))

    def _agent(self, name: str, stem: str, kubeconfig: Path, logdir: Path) -> tuple[int, Proc]:
        port = free_port()
        return port, Proc(f"choreo-{name}", [
            str(Path(sys.executable).parent / "choreo-controller"), "agent",
            f"--gateway-url=wss://localhost:{self.gateway_port}/v1/agent",
            f"--gateway-ca={self.pki['gateway-ca.crt']}",
            f"--tls-cert={self.pki[stem + '.crt']}", f"--tls-key={self.pki[stem + '.key']}",
            f"--kubeconfig={kubeconfig}", f"--probe-listen=127.0.0.1:{port}",
            f"--name={name}", "--log-level=debug",
        ], logdir, env={"PYTHONUNBUFFERED": "1"})  # fmt: skip

    def _build_plane_flags(self, control_plane, logdir: Path) -> list[str]:
        del control_plane, logdir
        self.internal_port = free_port()
        return [
            "--embedded-gateway", f"--gateway-bind-address=127.0.0.1:{self.gateway_port}",
            f"--gateway-cert={self.pki['gateway.crt']}", f"--gateway-key={self.pki['gateway.key']}",
            f"--gateway-internal-client-ca={self.pki['controllers.crt']}",
            f"--gateway-internal-bind-address=127.0.0.1:{self.internal_port}",
        ]  # fmt: skip

    @property
    def running(self) -> bool:
        return self.proc.running and self.agent.running and self.agent_1x.running

    def start(self, *, wait: bool = True) -> None:
        if not self.proc.running:
            super().start(wait=wait)
        for agent in (self.agent, self.agent_1x):
            if not agent.running:
                agent.start()
        if wait:
            self.wait_agent()

    def stop(self) -> None:
        self.agent.stop()
        self.agent_1x.stop()
        super().stop()

    def wait_agent(self, timeout: float = 60.0) -> None:
        wait_until(
            "both agents connected to the gateway",
            lambda: self.agent_connected() and self.agent_connected(self.agent_1x_port),
            timeout=timeout,
            procs=(self.proc, self.agent, self.agent_1x),
            interval=0.05,
        )

    def agent_connected(self, port: int | None = None) -> bool:
        """An agent's ``/readyz`` (the 0.17 one's by default): connected (TLS, identity and hello done)."""
        try:
            return http_ok(f"http://127.0.0.1:{port or self.agent_port}/readyz")
        except OSError:
            return False

    async def agent_back(self, within: float = 60.0) -> float:
        """Seconds until the agent is connected again (polled every 20 ms, off the event loop)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            self.agent.check_alive()
            if await asyncio.to_thread(self.agent_connected):
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"agent not connected {within:.0f}s later\n{self.agent.tail(30)}")

    async def restarted(self, within: float = 60.0) -> None:
        await super().restarted(within)
        await self.agent_back(within)

    def tails(self, lines: int = 60) -> list[tuple[str, str]]:
        return [
            *super().tails(lines),
            ("agent log (tail)", self.agent.tail(lines)),
            ("1.x agent log (tail)", self.agent_1x.tail(lines)),
        ]


class StandaloneRelayController(RelayController):
    """Relay mode with ``choreo-controller gateway`` as its own process (mode ``remote``).

    The gateway listens for agents on the same port the embedded one would (so the agent is the same), and
    serves its internal API to the controller (``--gateway-url``), whose client certificate comes from a CA
    of its own - never the agents' CA.
    """

    mode = "remote"

    def _build_plane_flags(self, control_plane, logdir: Path) -> list[str]:
        self.internal_port, self.gateway_probe = free_port(), free_port()
        self.gateway = Proc("choreo-gateway", [
            str(Path(sys.executable).parent / "choreo-controller"), "gateway",
            f"--tls-cert={self.pki['gateway.crt']}", f"--tls-key={self.pki['gateway.key']}",
            f"--listen=127.0.0.1:{self.gateway_port}", f"--kubeconfig={control_plane.kubeconfig}",
            f"--internal-client-ca={self.pki['controllers.crt']}",
            f"--internal-listen=127.0.0.1:{self.internal_port}",
            f"--probe-listen=127.0.0.1:{self.gateway_probe}", "--log-level=debug",
        ], logdir, env={"PYTHONUNBUFFERED": "1"})  # fmt: skip
        return [
            f"--gateway-url=https://localhost:{self.internal_port}", f"--gateway-ca={self.pki['gateway-ca.crt']}",
            f"--gateway-client-cert={self.pki['controller.crt']}",
            f"--gateway-client-key={self.pki['controller.key']}",
        ]  # fmt: skip

    @property
    def running(self) -> bool:
        return self.gateway.running and super().running

    def start(self, *, wait: bool = True) -> None:
        if not self.gateway.running:
            self.start_gateway()
        super().start(wait=wait)

    def start_gateway(self) -> None:
        self.gateway.start()
        wait_until(
            "gateway /readyz",
            lambda: http_ok(f"http://127.0.0.1:{self.gateway_probe}/readyz"),
            timeout=60,
            procs=(self.gateway,),
            interval=0.05,
        )

    def stop(self) -> None:
        super().stop()
        self.gateway.stop()

    def tails(self, lines: int = 60) -> list[tuple[str, str]]:
        return [*super().tails(lines), ("gateway log (tail)", self.gateway.tail(lines))]


def _agent_kubeconfig(build_plane, path: Path) -> Path:
    """A kubeconfig for the agent's ServiceAccount (``manifests/build-plane``), with a 24 h token."""
    build_plane.apply(*AGENT_MANIFESTS)
    token = build_plane.kubectl(
        "create", "token", AGENT_SA, "-n", AGENT_NAMESPACE, "--duration=24h"
    ).stdout.strip()
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "agent",
        "clusters": [{"name": "bp", "cluster": {"server": build_plane.server,
                                                "certificate-authority": str(build_plane.pki / "serving-ca.crt")}}],
        "users": [{"name": "agent", "user": {"token": token}}],
        "contexts": [{"name": "agent", "context": {"cluster": "bp", "user": "agent"}}],
    }))  # fmt: skip
    return path


def _bootstrap(client_ca: str) -> str:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BOOTSTRAP_NAMESPACE}}
    docs = [namespace] + [
        {
            "apiVersion": r.API_VERSION,
            "kind": kind,
            "metadata": {"name": "default", "namespace": BOOTSTRAP_NAMESPACE},
            "spec": {"planeID": PLANE_ID, "clusterAgent": {"clientCA": {"value": client_ca}}},
        }
        for kind in ("BuildPlane", "WorkflowPlane")
    ]
    return "\n---\n".join(json.dumps(doc) for doc in docs)
