"""The gateway: agents dial in over mTLS websockets; the controller reaches build planes through them.

``Gateway`` owns the agent listener (aiohttp, TLS with client certificates required), the ``Registry`` of
live sessions and, given a control-plane ``KubeApi``, the ``PlaneWatcher`` that learns planeIDs and
clientCAs and the ``ConnectionStatusWriter`` that keeps ``status.agentConnection`` current.
``kube_api(plane_id)`` returns a ``KubeClient(RelayTransport)`` - the build plane as a ``contracts.KubeApi``.

A connection is admitted in this order, and nothing is served before the last step:
1. TLS: a client certificate chaining to a current plane's clientCA (``tls.PlaneTrust``: a CA that collides
   with a more trusted plane's CA is not loaded), in date, with the clientAuth EKU;
2. identity (``identity.authenticate``): its URI SAN planeID must be the planeID of a plane object whose
   own clientCA issued it - else HTTP 403 before the websocket upgrade;
3. the websocket upgrade with subprotocol ``choreo.relay.v2`` or ``choreo.relay.v1`` (the session's protocol
   version: version 1 has no log streams) - else HTTP 400;
4. the agent's ``hello`` within ``dead_after``; the session is registered and the gateway answers ``hello``.

Liveness: both ends send ``ping`` every ``heartbeat`` seconds (5) and treat ``dead_after`` seconds (12: two
missed pings) of silence as a dead peer - a blackholed connection is dropped within 12 s (SPEC: <= 15 s),
without waiting for TCP. A session
also ends when its certificate expires or when the plane objects that vouched for it stop doing so
(clientCA rotated or object deleted); each end fails the session's in-flight requests at once.

HA. *Embedded* (``controller --embedded-gateway``, wired in ``app_relay``): the gateway is a leader-only
runnable of the controller's manager - only the leader listens for agents at all, so agents are only ever
connected to the replica that reconciles. A standby's agent port is closed: agents that dial it (a Service
in front of every replica) are refused and retry with their backoff until they reach the leader. When
leadership moves, the old leader exits (``LeadershipLost``) or, on SIGTERM, stops its gateway once its
in-flight reconciles are done and before it releases the lease (agents see close 1001); the agents
reconnect - backoff from 200 ms - to the new leader once it leads, whose relayed requests wait
``connect_grace`` and relayed watches ``resume_within`` for them. *Standalone*
(``choreo-controller gateway``): one replica (Deployment strategy Recreate) in front of the agents;
controllers call its internal mTLS API (``relay.internal``) through ``RemoteRelayTransport``; a gateway
restart costs the agents the same reconnect and the controllers' calls a retry. Several active gateway
replicas would need the controller to find the replica an agent is connected to; that is not built (see
THREAT_MODEL.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import WSMsgType, web

from choreo_controller.kube.client import RELAY_LIST_LIMITS, KubeClient
from choreo_controller.relay import internal, protocol
from choreo_controller.relay.identity import IdentityError, authenticate, reauthorize
from choreo_controller.relay.planes import CA_NAMESPACES, PlaneDirectory, PlaneWatcher
from choreo_controller.relay.registry import Registry
from choreo_controller.relay.sender import FrameSender
from choreo_controller.relay.session import AgentSession
from choreo_controller.relay.status import ConnectionStatusWriter
from choreo_controller.relay.tls import PlaneTrust, server_context
from choreo_controller.relay.transport import RelayTransport
from choreo_controller.runtime.listener import Listener, ListenerLimits
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from pathlib import Path

    from choreo_controller.contracts import KubeApi
    from choreo_controller.metrics import Metrics
    from choreo_controller.relay.identity import AgentIdentity, PlaneRef
    from choreo_controller.relay.internal import InternalConfig

log = structlog.get_logger("choreo.relay.gateway")
AGENT_PATH = "/v1/agent"
CLOSE_TIMEOUT = 2.0
YIELD_EVERY = 8  # frames read back to back before the reader lets other tasks run


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Where the agent listener binds and how it judges liveness."""

    cert_file: str | Path
    key_file: str | Path
    host: str = "0.0.0.0"  # noqa: S104 - agents dial in from other clusters
    port: int = 8443
    heartbeat: float = 5.0
    dead_after: float = 12.0
    ca_namespaces: frozenset[str] = CA_NAMESPACES
    # Unauthenticated sockets: 10 s for TLS + the upgrade request, 32 per address; a quarter of the places
    # is kept for addresses whose agents authenticated before. An agent's own session leaves those counts.
    limits: ListenerLimits = field(
        default_factory=lambda: ListenerLimits(max_connections=1024, per_source=32, reserved=256)
    )


class Gateway:
    """The agent listener plus everything that decides who may connect and what the control plane sees."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        control_plane: KubeApi | None = None,
        directory: PlaneDirectory | None = None,
        metrics: Metrics | None = None,
        internal: InternalConfig | None = None,
    ) -> None:
        self.config = config
        self.directory = directory or PlaneDirectory()
        self.registry = Registry(metrics)
        self._metrics = metrics
        self._trust = PlaneTrust(config.cert_file, config.key_file, config.ca_namespaces)
        self._listener = Listener(config.limits, ssl_context=self._trust.listener)
        self._internal_listener: Listener | None = None
        self._control_plane = control_plane
        self._runner: web.AppRunner | None = None
        self._internal = internal
        self._internal_runner: web.AppRunner | None = None
        self.internal_port = internal.port if internal else 0
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: ConnectionStatusWriter | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._sockets: dict[AgentSession, web.WebSocketResponse] = {}
        self.port = config.port
        self.directory.subscribe(self._planes_changed)

    async def start(self) -> None:
        """Start watching planes (if given a control plane) and listening for agents."""
        self._trust.update(self.directory.records())
        if self._control_plane is not None:
            watcher = PlaneWatcher(
                self._control_plane, self.directory, ca_namespaces=self.config.ca_namespaces
            )
            self._writer = ConnectionStatusWriter(self._control_plane, self.registry, self.directory)
            self._tasks += [
                asyncio.create_task(watcher.run(), name="relay-plane-watcher"),
                asyncio.create_task(self._writer.run(), name="relay-status-writer"),
            ]
        app = web.Application(middlewares=[self._listener.middleware])
        app.router.add_get(AGENT_PATH, self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=self.config.limits.idle_timeout
        )
        await self._runner.setup()
        self.port = await self._listener.start(self._runner, self.config.host, self.port)
        log.info("gateway listening", port=self.port)
        if self._internal is not None:
            await self._start_internal(self._internal)

    async def _start_internal(self, config: InternalConfig) -> None:
        ctx = server_context(config.cert_file, config.key_file, config.client_ca_file)
        listener = Listener(config.limits, ssl_context=ctx)
        # handler_cancellation: a controller that hangs up on a watch stops the relayed watch with it.
        runner = web.AppRunner(
            internal.application(self.transport, listener),
            access_log=None,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            keepalive_timeout=config.limits.idle_timeout,
        )
        await runner.setup()
        self.internal_port = await listener.start(runner, config.host, self.internal_port)
        self._internal_runner, self._internal_listener = runner, listener
        log.info("gateway internal API listening", port=self.internal_port)

    async def stop(self) -> None:
        """Close agent connections and the listener, record the disconnects, stop background tasks."""
        if self._internal_listener is not None:
            await self._internal_listener.stop()
        if self._internal_runner is not None:
            await self._internal_runner.cleanup()
            self._internal_runner = None
        for session, ws in list(self._sockets.items()):
            session.shutdown("gateway stopping")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"gateway stopping"), CLOSE_TIMEOUT)
        if self._connections:
            await asyncio.wait(self._connections, timeout=CLOSE_TIMEOUT)
        await self._listener.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._writer is not None:
            with contextlib.suppress(Exception):  # best effort: the next gateway writes the truth anyway
                await asyncio.wait_for(self._writer.flush(), CLOSE_TIMEOUT)
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()

    def transport(self, plane_id: str, plane: PlaneRef | None = None, **options: Any) -> RelayTransport:
        """A transport to ``plane_id`` (served only by agents vouched for by ``plane``, if given)."""
        return RelayTransport(self.registry, plane_id, plane=plane, metrics=self._metrics, **options)

    def kube_api(
        self, plane_id: str, plane: PlaneRef | None = None, **options: Any
    ) -> KubeClient[RelayTransport]:
        """The build plane as a ``KubeApi``; pages of 100 keep LIST responses under the 3 MiB body cap.

        An agent is not trusted with the controller's memory: LISTs are bounded by ``RELAY_LIST_LIMITS``.
        """
        return KubeClient(
            self.transport(plane_id, plane, **options), page_size=100, list_limits=RELAY_LIST_LIMITS
        )

    def _planes_changed(self) -> None:
        for record in self._trust.update(self.directory.records()):
            if record.problem and record.anchors:
                log.warning(
                    "plane clientCA not trusted at TLS", plane=str(record.ref), problem=record.problem
                )
        now = dt.datetime.now(dt.UTC)
        for session, ws in list(self._sockets.items()):
            identity = reauthorize(session.identity, self.directory.records(), now)
            if identity.refs != session.identity.refs:
                self.registry.rebind(session, identity)
            if not identity.refs:
                log.warning(
                    "agent no longer vouched for by any plane; closing",
                    plane=session.plane_id,
                    session=session.id,
                )
                session.shutdown("plane objects no longer trust the certificate")
                task = asyncio.get_running_loop().create_task(
                    ws.close(code=1008, message=b"identity revoked")
                )
                self._connections.add(task)
                task.add_done_callback(self._connections.discard)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            identity = authenticate(der, self.directory.records(), dt.datetime.now(dt.UTC))
        except IdentityError as exc:
            log.warning("agent rejected", peer=request.remote, reason=str(exc))
            return web.Response(status=403, text="agent identity rejected\n")
        self._listener.promote(request.transport)
        ws = web.WebSocketResponse(
            protocols=protocol.SUBPROTOCOLS,  # aiohttp takes the first the agent offers that is listed here
            max_msg_size=protocol.MAX_FRAME,
            timeout=CLOSE_TIMEOUT,
            autoping=True,
        )
        chosen = ws.can_prepare(request)
        if not chosen.ok or chosen.protocol not in protocol.VERSION_OF:
            wanted = " or ".join(protocol.SUBPROTOCOLS)
            return web.Response(status=400, text=f"websocket subprotocol {wanted} required\n")
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve(ws, identity, protocol.VERSION_OF[chosen.protocol])
        finally:
            if task is not None:
                self._connections.discard(task)
        return ws

    async def _serve(self, ws: web.WebSocketResponse, identity: AgentIdentity, version: int) -> None:
        try:
            first = await ws.receive(timeout=self.config.dead_after)
            hello = protocol.decode(first.data) if first.type == WSMsgType.TEXT else None
        except (TimeoutError, protocol.ProtocolError):
            hello = None
        if not isinstance(hello, protocol.Hello):
            log.warning("agent sent no hello; closing", plane=identity.plane_id)
            await ws.close(code=1002, message=b"hello expected")
            return
        session = AgentSession(identity, hello.name, FrameSender(ws.send_str).send, version=version)
        self._sockets[session] = ws
        self.registry.add(session)
        started = time.monotonic()
        log.info(
            "agent connected",
            plane=session.plane_id,
            session=session.id,
            agent=session.agent_name,
            protocol=version,
            subject=identity.subject,
            serial=identity.serial,
            planes=sorted(map(str, identity.refs)),
        )
        heartbeat = asyncio.create_task(self._heartbeat(session), name=f"relay-heartbeat-{session.id}")
        reason = "closed by agent"
        try:
            await session.send(protocol.Hello(session.plane_id))
            reason = await self._read(ws, session)
        finally:
            heartbeat.cancel()
            session.shutdown(reason)
            self._sockets.pop(session, None)
            self.registry.remove(session)
            await cancel_and_wait(heartbeat)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), CLOSE_TIMEOUT)
            seconds = round(time.monotonic() - started, 1)
            log.info("agent disconnected", plane=session.plane_id, session=session.id,
                     reason=session.close_reason, seconds=seconds)  # fmt: skip

    async def _read(self, ws: web.WebSocketResponse, session: AgentSession) -> str:
        count = 0
        while True:
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # buffered frames are read without suspending; let the callers run
            try:
                msg = await ws.receive(timeout=self.config.dead_after)
            except TimeoutError:
                return f"no frame for {self.config.dead_after:.0f}s (dead peer)"
            if msg.type in {WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED}:
                return "closed by agent"
            if msg.type == WSMsgType.ERROR:
                return f"websocket error: {type(ws.exception()).__name__}"
            if msg.type != WSMsgType.TEXT:
                return "binary frame"
            try:
                session.dispatch(protocol.decode(msg.data))
            except protocol.ProtocolError as exc:
                log.warning(
                    "bad frame from agent", plane=session.plane_id, session=session.id, error=str(exc)[:200]
                )
            await session.relieve(self.config.heartbeat)  # back-pressure: stop reading while watches are full

    async def _heartbeat(self, session: AgentSession) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat)
            if dt.datetime.now(dt.UTC) >= session.identity.not_after:
                log.info("agent certificate expired; closing", plane=session.plane_id, session=session.id)
                session.shutdown("certificate expired")
                ws = self._sockets.get(session)
                if ws is not None:
                    await ws.close(code=1008, message=b"certificate expired")
                return
            with contextlib.suppress(Exception):
                await session.send(protocol.Ping())
