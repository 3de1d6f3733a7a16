"""Process wiring for ``choreo-controller gateway`` and ``choreo-controller agent``: build, run, stop.

The caller (``cli``) connects to the apiserver with ``kube.connect`` - the relay layer may not load
``kubernetes_asyncio`` - and passes the client in. Each ``run_*`` starts its parts, serves until ``stop``
is set (the CLI sets it on SIGTERM/SIGINT), then shuts down in reverse order: the gateway closes agent
connections with 1001 so agents reconnect at once to whichever gateway takes over.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from cryptography import x509

from choreo_controller.metrics import Metrics
from choreo_controller.relay import authz
from choreo_controller.relay.agent import Agent, AgentConfig
from choreo_controller.relay.executor import Executor
from choreo_controller.relay.gateway import Gateway, GatewayConfig
from choreo_controller.relay.identity import claimed_plane
from choreo_controller.relay.tls import agent_context
from choreo_controller.runtime.endpoints import HttpServer
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from choreo_controller.contracts import KubeApi, Transport
    from choreo_controller.relay.internal import InternalConfig

log = structlog.get_logger("choreo.relay")


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """Everything ``run_gateway`` needs besides the control-plane client."""

    gateway: GatewayConfig
    probe_host: str
    probe_port: int
    internal: InternalConfig | None = None


@dataclass(frozen=True, slots=True)
class AgentOptions:
    """Everything ``run_agent`` needs besides the local apiserver transport."""

    agent: AgentConfig
    gateway_ca: str | Path
    cert_file: str | Path
    key_file: str | Path
    probe_host: str
    probe_port: int


async def run_gateway(opts: GatewayOptions, control_plane: KubeApi, stop: asyncio.Event) -> None:
    """Serve agents until ``stop`` is set."""
    metrics = Metrics()
    gateway = Gateway(opts.gateway, control_plane=control_plane, metrics=metrics, internal=opts.internal)
    await gateway.start()

    def ready() -> list[str]:
        return [] if gateway.directory.synced.is_set() else ["plane objects not listed yet"]

    probes = _probes(opts.probe_host, opts.probe_port, metrics, ready)
    try:
        await stop.wait()
    finally:
        log.info("gateway stopping")
        await gateway.stop()
        await cancel_and_wait(probes)


def agent_scope(cert_file: str | Path) -> authz.Scope:
    """The build namespaces an agent serves: those of the generation its certificate names.

    ``openchoreo://buildplane/<id>`` -> ``openchoreo-ci-*``, ``openchoreo://workflowplane/<id>`` ->
    ``workflows-*``. ``IdentityError`` if the certificate names no plane (the gateway would refuse it too).
    """
    with open(cert_file, "rb") as stream:  # noqa: PTH123 - a flag's path, read once at start
        cert = x509.load_pem_x509_certificate(stream.read())
    family, _ = claimed_plane(cert)
    return authz.SCOPES[family]


async def run_agent(opts: AgentOptions, local: Transport, stop: asyncio.Event) -> None:
    """Keep the connection to the gateway up until ``stop`` is set; ``local`` reaches this cluster."""
    metrics = Metrics()
    contexts = partial(agent_context, opts.gateway_ca, opts.cert_file, opts.key_file)
    contexts()  # fail at start, not in the reconnect loop, if the files are unusable
    scope = agent_scope(opts.cert_file)
    log.info("agent serves build namespaces", namespaces=str(scope))
    agent = Agent(opts.agent, contexts, Executor(local, scope=scope), metrics=metrics)

    def ready() -> list[str]:
        return [] if agent.connected.is_set() else ["not connected to the gateway"]

    probes = _probes(opts.probe_host, opts.probe_port, metrics, ready)
    task = asyncio.create_task(agent.run(), name="relay-agent")
    try:
        await stop.wait()
    finally:
        log.info("agent stopping")
        await cancel_and_wait(task)
        await cancel_and_wait(probes)


def _probes(host: str, port: int, metrics: Metrics, ready: Callable[[], list[str]]) -> asyncio.Task[Any]:
    server = HttpServer(metrics, health=list, ready=ready, host=host, port=port)
    return asyncio.create_task(server.run(), name="relay-probes")
