"""Relay mode of ``choreo-controller controller``: every build plane reached through the relay (SPEC 1, 7).

Two shapes, one port (``relay.buildplanes.RelayBuildPlanes``):

* ``EmbeddedGateway`` (``--embedded-gateway``): the ``Gateway`` runs in the controller process and
  ``Gateway.kube_api`` is an in-process call. It is a *leader-only* runnable: a standby does not listen for
  agents at all, so agents can only be served by the replica that reconciles; when leadership moves the old
  leader's process exits (``LeadershipLost``) or, on SIGTERM, stops its gateway once its in-flight
  reconciles are done and before it releases the lease (agents get close 1001); the agents' reconnects -
  backoff from 200 ms - land on the new leader once it listens. The gateway also keeps
  ``status.agentConnection`` of the plane objects current, whose writes re-enqueue runs waiting for a plane.
  Given ``internal`` (``--gateway-internal-client-ca``), it also serves the internal API (``relay.internal``,
  the standalone gateway's own code) on the leader, so ``runs logs --gateway-url`` reaches it as it would a
  standalone gateway.
* ``RemoteGateway`` (``--gateway-url``): a standalone ``choreo-controller gateway`` with its internal API
  enabled; each plane object's ``KubeApi`` is ``KubeClient(RemoteRelayTransport)`` over mTLS - one shared
  connection pool - the gateway's CA pinned and the controller's client certificate presented
  (``relay.tls.agent_context``).

``relay_planes`` registers what must run (the gateway, the relayed informers' owner) with the manager and
returns the port; ``app`` wires the reconcilers to it exactly as in direct mode.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

import aiohttp

from choreo_controller.kube import KubeClient
from choreo_controller.kube.client import RELAY_LIST_LIMITS
from choreo_controller.relay.buildplanes import RelayBuildPlanes
from choreo_controller.relay.gateway import Gateway, GatewayConfig
from choreo_controller.relay.planes import CA_NAMESPACES
from choreo_controller.relay.remote import RemoteRelayTransport
from choreo_controller.relay.tls import agent_context

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from choreo_controller.contracts import Clock, KubeApi
    from choreo_controller.metrics import Metrics
    from choreo_controller.relay.buildplanes import PlaneCache
    from choreo_controller.relay.identity import PlaneRef
    from choreo_controller.relay.internal import InternalConfig
    from choreo_controller.runtime.manager import Manager

PAGE_SIZE = 100  # relayed LIST pages stay well under the relay's 3 MiB body cap


@dataclass(frozen=True)
class EmbeddedGateway:
    """``--embedded-gateway``: the agent listener in this process."""

    cert_file: str
    key_file: str
    host: str = "0.0.0.0"  # noqa: S104 - agents dial in from other clusters
    port: int = 8443
    ca_namespaces: frozenset[str] = CA_NAMESPACES
    internal: InternalConfig | None = None  # the internal API, for other processes (``runs logs``)


@dataclass(frozen=True)
class RemoteGateway:
    """``--gateway-url``: a standalone gateway's internal API (``https://host:port``)."""

    url: str
    ca_file: str
    cert_file: str
    key_file: str


RelayOptions = EmbeddedGateway | RemoteGateway


def relay_planes(
    relay: RelayOptions,
    mgr: Manager,
    control_plane: KubeApi,
    *,
    metrics: Metrics,
    clock: Clock,
    plane_caches: Mapping[str, PlaneCache],
) -> RelayBuildPlanes:
    """The build planes through ``relay``; the runnables it needs are added to ``mgr``."""
    connect: Callable[[str, PlaneRef, float], KubeClient[Any]]
    connected: Callable[[str, PlaneRef], bool] | None = None
    on_close: Callable[[], Awaitable[None]] | None = None
    if isinstance(relay, EmbeddedGateway):
        config = GatewayConfig(
            relay.cert_file, relay.key_file, relay.host, relay.port, ca_namespaces=relay.ca_namespaces
        )
        gateway = Gateway(config, control_plane=control_plane, metrics=metrics, internal=relay.internal)

        def connect(plane_id: str, ref: PlaneRef, grace: float) -> KubeClient[Any]:
            return gateway.kube_api(plane_id, ref, connect_grace=grace)

        def connected(plane_id: str, ref: PlaneRef) -> bool:
            return gateway.registry.pick(plane_id, ref) is not None

        mgr.add_runnable("relay-gateway", partial(_serve, gateway), leader_only=True)
    else:
        ssl_context = agent_context(relay.ca_file, relay.cert_file, relay.key_file)
        session = aiohttp.ClientSession()  # one connection pool to the gateway for every plane object
        on_close = session.close

        def connect(plane_id: str, ref: PlaneRef, grace: float) -> KubeClient[Any]:
            del grace  # the standalone gateway answers 503 at once when no agent is connected
            transport = RemoteRelayTransport(relay.url, plane_id, ssl_context, plane=ref, session=session)
            return KubeClient(transport, page_size=PAGE_SIZE, list_limits=RELAY_LIST_LIMITS)

    planes = RelayBuildPlanes(connect, plane_caches, clock=clock, connected=connected, on_close=on_close)
    mgr.add_runnable("relay-build-planes", planes.run)
    return planes


async def _serve(gateway: Gateway) -> NoReturn:
    await gateway.start()
    try:
        await asyncio.get_running_loop().create_future()
    finally:
        await gateway.stop()
    raise AssertionError("unreachable")  # pragma: no cover - the future above never completes
