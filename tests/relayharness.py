"""Real relay gateways and agents on 127.0.0.1 with throwaway PKI, for the relay tests.

* ``Pki`` - a gateway CA and server certificate, one CA per plane, agent certificates on demand (any EKU,
  SAN or validity, for the handshake matrix).
* ``running_gateway`` / ``running_agent`` - async context managers that start a real ``Gateway`` (TLS,
  websockets) and ``Agent`` and stop them, leaving no task behind.
* ``FakeApiserver`` - the agent's ``contracts.Transport`` seam when no cluster is needed: records every
  call, answers from a handler, and serves watches from an event log it can append to (``emit``), resuming
  from a resourceVersion like the apiserver does; pods (``pods[(ns, name)] = labels``) are listed by
  ``metadata.name`` and their logs (``logs[(ns, name)]``: lines, or a function returning an async iterator
  of lines) are streamed, counting what was read (``log_lines_read``).
* ``Recording`` - wraps a real transport and records what reached it ("was this served?").
* ``key_identified_ca`` / ``lookalike`` - a plane CA with a subject key identifier, and a CA with another
  key that copies its subject (and, by default, its key identifier): the CA-collision attack.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from localcluster.pki import CA, write_pair

from choreo_controller.contracts import ApiResponse, Gone
from choreo_controller.relay import authz, protocol
from choreo_controller.relay.agent import Agent, AgentConfig
from choreo_controller.relay.executor import Executor
from choreo_controller.relay.gateway import Gateway, GatewayConfig
from choreo_controller.relay.identity import URI_PREFIX, PlaneRecord, PlaneRef
from choreo_controller.relay.tls import agent_context

if TYPE_CHECKING:
    from pathlib import Path


FAST = {"heartbeat": 0.3, "dead_after": 2.0}  # short, yet tolerant of a loaded 2-core CI machine
JSON, MERGE, APPLY = "application/json", "application/merge-patch+json", "application/apply-patch+yaml"


class Pki:
    def __init__(self, directory: Path):
        self.dir = directory
        self.gateway_ca = CA.new("relay-gateway-ca")
        self.gateway_ca.write(directory, "gateway-ca")
        cert, key = self.gateway_ca.issue("gateway", dns=("localhost",), ips=("127.0.0.1",), server=True)
        self.server = write_pair(directory, "gateway", cert, key)
        self._plane_cas: dict[str, CA] = {}
        self._n = 0

    @property
    def gateway_ca_file(self) -> Path:
        return self.dir / "gateway-ca.crt"

    def plane_ca(self, plane_id: str) -> CA:
        if plane_id not in self._plane_cas:
            self._plane_cas[plane_id] = CA.new(f"{plane_id}-agent-ca")
        return self._plane_cas[plane_id]

    def agent(self, plane_id: str, *, ca: CA | None = None, uris=None, client=True, server=False, **kw):
        """An agent certificate (defaults: from the plane's CA, URI SAN naming ``plane_id``, clientAuth)."""
        self._n += 1
        cert, key = (ca or self.plane_ca(plane_id)).issue(
            f"agent-{plane_id}",
            uris=tuple(uris) if uris is not None else (URI_PREFIX + plane_id,),
            client=client,
            server=server,
            **kw,
        )
        return write_pair(self.dir, f"agent-{self._n}", cert, key)

    def context(self, pair):
        return agent_context(self.gateway_ca_file, *pair)

    def record(self, plane_id: str, ref: PlaneRef | None = None, ca: CA | None = None) -> PlaneRecord:
        ref = ref or PlaneRef("BuildPlane", "acme", plane_id)
        return PlaneRecord(ref, plane_id, ((ca or self.plane_ca(plane_id)).cert,))


def _resigned(template: x509.Certificate, key, key_id: bytes) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(template.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
    )
    for ext in template.extensions:
        if not isinstance(ext.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier(key_id), critical=False)
    return builder.sign(key, hashes.SHA256())


def key_identified_ca(common_name: str) -> CA:
    """A CA like ``CA.new``'s, with a subject key identifier (which OpenSSL matches against a leaf's AKID)."""
    plain = CA.new(common_name)
    key_id = x509.SubjectKeyIdentifier.from_public_key(plain.key.public_key()).digest
    return CA(plain.key, _resigned(plain.cert, plain.key, key_id))


def lookalike(victim: CA, *, copy_key_id: bool = True) -> CA:
    """A CA with its own key that copies ``victim``'s subject (and key identifier, unless told not to)."""
    key = ec.generate_private_key(ec.SECP256R1())
    own = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    victim_id = victim.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    return CA(key, _resigned(victim.cert, key, victim_id if copy_key_id else own))


def days(n: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n)


@contextlib.asynccontextmanager
async def running_gateway(
    pki: Pki, directory=None, *, port=0, metrics=None, control_plane=None, internal=None, **config
):
    gateway = Gateway(
        GatewayConfig(*pki.server, host="127.0.0.1", port=port, **config),
        directory=directory,
        metrics=metrics,
        control_plane=control_plane,
        internal=internal,
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


@contextlib.asynccontextmanager
async def running_agent(
    port: int, pki: Pki, pair, transport, *, wait=True, name="agent", ssl_context=None, scope=None, **config
):
    agent = Agent(
        AgentConfig(f"wss://localhost:{port}/v1/agent", name=name, **config),
        ssl_context or pki.context(pair),
        Executor(transport, scope=scope or authz.BUILD_PLANE_SCOPE),
    )
    task = asyncio.create_task(agent.run(), name=f"test-agent-{name}")
    try:
        if wait:
            await asyncio.wait_for(agent.connected.wait(), 10)
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class FakeApiserver:
    """``contracts.Transport`` with canned answers and a replayable watch log (all objects in one log)."""

    name: str = "fake"
    handler: object = None
    calls: list = field(default_factory=list)
    log: list = field(default_factory=list)  # (rv, line)
    compacted: int = 0
    open_streams: int = 0
    pods: dict = field(default_factory=dict)  # (namespace, name) -> labels
    logs: dict = field(default_factory=dict)  # (namespace, name) -> [lines] | () -> async iterator of lines
    log_lines_read: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def request(self, req):
        self.calls.append(req)
        selected = dict(req.query).get("fieldSelector", "")
        if req.path.endswith("/pods") and selected.startswith("metadata.name="):
            namespace, name = req.path.split("/")[4], selected.partition("=")[2]
            items = [{"metadata": {"name": name, "namespace": namespace, "labels": labels}}
                     for (ns, pod), labels in self.pods.items() if (ns, pod) == (namespace, name)]  # fmt: skip
            return ApiResponse(200, json.dumps({"kind": "PodList", "items": items}).encode())
        if self.handler is not None:
            return await self.handler(req)
        body = {"kind": "Echo", "served_by": self.name, "method": req.method, "path": req.path}
        return ApiResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    async def emit(self, kind: str, name: str):
        rv = len(self.log) + 1
        return await self.emit_object(
            kind, {"kind": "Workflow", "metadata": {"name": name, "resourceVersion": str(rv)}}
        )

    async def emit_object(self, kind: str, obj):
        rv = len(self.log) + 1
        self.log.append((rv, json.dumps({"type": kind, "object": obj}).encode()))
        async with self._changed:
            self._changed.notify_all()
        return rv

    async def stream(self, req):
        self.calls.append(req)
        if req.path.endswith("/log"):
            parts = req.path.split("/")
            source = self.logs.get((parts[4], parts[6]), [])
            self.open_streams += 1
            try:
                async for line in source() if callable(source) else _aiter(source):
                    self.log_lines_read += 1
                    yield line
            finally:
                self.open_streams -= 1
            return
        start = int(dict(req.query).get("resourceVersion") or 0)
        if start < self.compacted:
            raise Gone("too old resource version", status=410, reason="Expired")
        position = start
        self.open_streams += 1
        try:
            while True:
                for rv, line in self.log[position:]:
                    position = rv
                    yield line
                async with self._changed:
                    await self._changed.wait_for(lambda seen=position: len(self.log) > seen)
        finally:
            self.open_streams -= 1

    async def close(self):
        pass


async def _aiter(items):
    for item in items:
        yield item


class Blackhole:
    """A TCP proxy on 127.0.0.1 that can stop forwarding without closing anything (no FIN, no RST)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.forwarding = True
        self._server = None
        self._tasks = set()
        self._writers = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def blackhole(self):
        self.forwarding = False

    async def _accept(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)

    async def _pump(self, src, dst):
        with contextlib.suppress(ConnectionError):
            while True:
                data = await src.read(65536)
                if not data:
                    break
                if not self.forwarding:
                    continue  # swallow: the peer keeps waiting, as behind a dead link
                dst.write(data)
                await dst.drain()

    async def stop(self):
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


class Recording:
    """Passes calls to ``inner`` and remembers them: what is here reached the apiserver."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = []

    async def request(self, req):
        self.calls.append(req)
        return await self.inner.request(req)

    async def stream(self, req):
        self.calls.append(req)
        async for line in self.inner.stream(req):
            yield line

    async def close(self):
        pass


def allowed_requests(ns):
    """What the engine does in a build plane, in an order that works against an empty namespace."""
    wf = f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
    es = f"/apis/external-secrets.io/v1beta1/namespaces/{ns}/externalsecrets"
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w", "namespace": ns},
                "spec": {"entrypoint": "main", "suspend": True,
                         "templates": [{"name": "main", "suspend": {}}]}}  # fmt: skip
    secret = {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
              "metadata": {"name": "e", "namespace": ns},
              "spec": {"secretStoreRef": {"name": "s", "kind": "ClusterSecretStore"}, "target": {"name": "t"},
                       "data": [{"secretKey": "k", "remoteRef": {"key": "k"}}]}}  # fmt: skip
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "wf", "namespace": ns},
            "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                       "verbs": ["create", "patch"]}]}  # fmt: skip
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "wf", "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "wf"},
               "subjects": [{"kind": "ServiceAccount", "name": "workflow-sa", "namespace": ns}]}  # fmt: skip
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "workflow-sa", "namespace": ns}}
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": {"openchoreo.dev/managed-by": "choreo-controller"}}}  # fmt: skip
    b = lambda o: json.dumps(o).encode()  # noqa: E731
    return [
        ("get", "GET", f"/api/v1/namespaces/{ns}", (), None, None, 404),
        ("create", "POST", "/api/v1/namespaces", (), JSON, b(namespace), 201),
        ("create", "POST", f"/api/v1/namespaces/{ns}/serviceaccounts", (), JSON, b(sa), 201),
        ("get", "GET", f"/api/v1/namespaces/{ns}/serviceaccounts/workflow-sa", (), None, None, 200),
        ("create", "POST", f"{rbac}/roles", (), JSON, b(role), 201),
        ("get", "GET", f"{rbac}/roles/wf", (), None, None, 200),
        ("create", "POST", f"{rbac}/rolebindings", (), JSON, b(binding), 201),
        ("get", "GET", f"{rbac}/rolebindings/wf", (), None, None, 200),
        ("create", "POST", es, (), JSON, b(secret), 201),
        ("get", "GET", f"{es}/e", (), None, None, 200),
        ("list", "GET", es, (("limit", "10"),), None, None, 200),
        ("delete", "DELETE", f"{es}/e", (), None, None, 200),
        ("create", "POST", wf, (), JSON, b(workflow), 201),
        ("get", "GET", f"{wf}/w", (), None, None, 200),
        ("list", "GET", wf, (("labelSelector", "!missing"),), None, None, 200),
        ("patch", "PATCH", f"{wf}/w", (), MERGE, b({"metadata": {"annotations": {"a": "b"}}}), 200),
        ("delete", "DELETE", f"{wf}/w", (), JSON, b({"propagationPolicy": "Background"}), 200),
        *_extra_requests(ns),
        # what people read of a run (runs logs, runs get): its pods by their engine's label, one pod's Events
        ("list", "GET", f"/api/v1/namespaces/{ns}/pods", (("labelSelector", "workflows.argoproj.io/workflow=w"),),
         None, None, 200),
        ("list", "GET", f"/api/v1/namespaces/{ns}/events", (("fieldSelector", "involvedObject.name=w-1"),),
         None, None, 200),
    ]  # fmt: skip


def _extra_requests(ns):
    """The extra kinds a Workflow may render (``api.buildkinds``): create, read, find by label, delete."""
    selector = (("labelSelector", "openchoreo.dev/workflowrun-uid=u"),)
    out = []
    for plural, kind, name, extra in (
        ("configmaps", "ConfigMap", "c", {"data": {"k": "v"}}),
        ("secrets", "Secret", "s", {"stringData": {"k": "v"}}),
        ("serviceaccounts", "ServiceAccount", "builder", {}),
        ("persistentvolumeclaims", "PersistentVolumeClaim", "p",
         {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}}),
    ):  # fmt: skip
        obj = {"apiVersion": "v1", "kind": kind, **extra,
               "metadata": {"name": name, "namespace": ns, "labels": {"openchoreo.dev/workflowrun-uid": "u"}}}  # fmt: skip
        collection = f"/api/v1/namespaces/{ns}/{plural}"
        out += [
            ("create", "POST", collection, (), JSON, json.dumps(obj).encode(), 201),
            ("get", "GET", f"{collection}/{name}", (), None, None, 200),
            ("list", "GET", collection, selector, None, None, 200),
            ("list", "GET", f"/api/v1/{plural}", selector, None, None, 200),
            ("delete", "DELETE", f"{collection}/{name}", (), None, None, 200),
        ]
    return out


async def send(session, requests, headers=()):
    async def one(verb, method, path, query, ctype, body):
        msg = protocol.Request(session.next_id(), verb, method, path, query, headers, ctype, body, 30.0)
        return await session.request(msg, 35.0)

    responses = []
    for start in range(0, len(requests), 200):
        responses += await asyncio.gather(*(one(*r) for r in requests[start : start + 200]))
    return responses
