"""The standalone gateway's internal API: KubeClient(RemoteRelayTransport) -> gateway (mTLS, its own CA)
-> agent -> fake apiserver behaves like the in-process relay, and nobody without a controller certificate
gets in."""

import ssl

import aiohttp
import pytest
from localcluster.pki import CA, write_pair
from relayharness import FakeApiserver, Pki, running_agent, running_gateway

from choreo_controller.api import resources
from choreo_controller.contracts import Forbidden, LogOptions, NotFound, Unavailable
from choreo_controller.kube import KubeClient
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.internal import InternalConfig
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.relay.remote import RemoteRelayTransport
from choreo_controller.relay.tls import agent_context

NS = "openchoreo-ci-acme"
WF = resources.ARGO_WORKFLOW
REF = PlaneRef("BuildPlane", "acme", "p1")


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
def controller_ca(pki):
    ca = CA.new("controllers")
    ca.write(pki.dir, "controller-ca")
    return ca


@pytest.fixture
async def gateway(pki, controller_ca):
    internal = InternalConfig(
        *pki.server, client_ca_file=pki.dir / "controller-ca.crt", host="127.0.0.1", port=0
    )
    async with running_gateway(pki, PlaneDirectory([pki.record("p1", REF)]), internal=internal) as gw:
        yield gw


def controller(pki, ca, gateway, plane=REF):
    pair = write_pair(pki.dir, "controller", *ca.issue("controller", client=True))
    ctx = agent_context(pki.gateway_ca_file, *pair)
    return KubeClient(
        RemoteRelayTransport(f"https://localhost:{gateway.internal_port}", "p1", ctx, plane=plane)
    )


async def test_requests_and_watches_through_the_internal_api(pki, controller_ca, gateway):
    fake = FakeApiserver()
    async with (
        running_agent(gateway.port, pki, pki.agent("p1"), fake),
        controller(pki, controller_ca, gateway) as api,
    ):
        got = await api.get(WF, "w", NS)
        await fake.emit("ADDED", "a")
        await fake.emit("DELETED", "a")
        events = []
        async for event in api.watch(WF, NS, resource_version="0"):
            events.append((event.type, event.object["metadata"]["name"]))
            if len(events) == 2:
                break
        with pytest.raises(Forbidden, match="relay policy"):
            await api.get(resources.SECRET, "s", "kube-system")
    assert ("Echo", [("ADDED", "a"), ("DELETED", "a")]) == (got["kind"], events)


async def test_a_pods_log_through_the_internal_api_and_its_errors(pki, controller_ca, gateway):
    lines = [b"one", b"", b"three" * 30_000]

    def broken():
        async def gen():
            yield b"first line"
            raise Unavailable("kubelet gone")

        return gen()

    run = {"workflows.argoproj.io/workflow": "w"}
    pods = {(NS, "run-pod"): run, (NS, "other"): {}, (NS, "broken"): run}
    fake = FakeApiserver(
        pods=pods, logs={(NS, "run-pod"): lines, (NS, "other"): [b"nope"], (NS, "broken"): broken}
    )
    async with (
        running_agent(gateway.port, pki, pki.agent("p1"), fake),
        controller(pki, controller_ca, gateway) as api,
    ):
        got = [line async for line in api.log(NS, "run-pod", LogOptions("main"))]
        with pytest.raises(Forbidden, match="no engine's run label"):
            _ = [line async for line in api.log(NS, "other", LogOptions("main"))]
        with pytest.raises(NotFound, match='pods "gone" not found'):
            _ = [line async for line in api.log(NS, "gone", LogOptions("main"))]
        seen = []
        with pytest.raises(Unavailable, match="gateway connection lost"):
            await _collect(api.log(NS, "broken", LogOptions("main")), seen)
    assert (lines, [b"first line"]) == (got, seen), "an error after a line cuts the log short, never a line"


async def _collect(lines, into):
    async for line in lines:
        into.append(line)


async def test_no_agent_is_unavailable(pki, controller_ca, gateway):
    async with controller(pki, controller_ca, gateway) as api:
        with pytest.raises(Unavailable, match="no agent connected"):
            await api.get(WF, "w", NS)
        with pytest.raises(Unavailable):
            async for _ in api.watch(WF, NS, resource_version="0"):
                pass


@pytest.mark.parametrize(
    "who", [pytest.param("agent", id="agent-certificate"), pytest.param("none", id="no-certificate")]
)
async def test_only_controller_certificates_get_in(pki, gateway, who):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(pki.gateway_ca_file))
    if who == "agent":
        ctx.load_cert_chain(*map(str, pki.agent("p1")))
    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
            async with http.post(f"https://localhost:{gateway.internal_port}/internal/v1/planes/p1/request",
                                 json={}, ssl=ctx) as resp:  # fmt: skip
                await resp.read()


def _controller_context(pki, ca):
    pair = write_pair(pki.dir, "controller", *ca.issue("controller", client=True))
    return agent_context(pki.gateway_ca_file, *pair)


GOOD = '{"method": "GET", "path": "/apis/argoproj.io/v1alpha1/namespaces/openchoreo-ci-acme/workflows/w"'
BAD_BODIES = [
    pytest.param(GOOD + ', "timeout": NaN}', "?plane=BuildPlane/acme/p1", "finite number", id="nan-timeout"),
    pytest.param(GOOD + ', "timeout": Infinity}', "?plane=BuildPlane/acme/p1", "finite number", id="inf-timeout"),
    pytest.param(GOOD + ', "timeout": -1}', "?plane=BuildPlane/acme/p1", "finite number", id="negative-timeout"),
    pytest.param(GOOD + ', "timeout": 1e9}', "?plane=BuildPlane/acme/p1", "finite number", id="huge-timeout"),
    pytest.param(GOOD + ', "timeout": "5"}', "?plane=BuildPlane/acme/p1", "number of seconds", id="string-timeout"),
    pytest.param('{"method": ["GET"], "path": "/x"}', "?plane=BuildPlane/acme/p1", "method must be", id="unhashable-method"),
    pytest.param('{"method": "TRACE", "path": "/x"}', "?plane=BuildPlane/acme/p1", "method must be", id="unknown-method"),
    pytest.param('{"method": "GET", "path": 7}', "?plane=BuildPlane/acme/p1", "must be strings", id="path-not-a-string"),
    pytest.param(GOOD + ', "query": [["a"]]}', "?plane=BuildPlane/acme/p1", "string pairs", id="bad-query"),
    pytest.param(GOOD + ', "body": "%%%"}', "?plane=BuildPlane/acme/p1", "base64", id="bad-base64"),
    pytest.param('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", "?plane=BuildPlane/acme/p1",
                 "JSON object", id="deep-nesting-100000"),
    pytest.param('{"x": ' + "[" * 20 + "]" * 20 + "}", "?plane=BuildPlane/acme/p1", "nested deeper", id="nesting-20"),
    pytest.param(GOOD + "}", "", "?plane=", id="no-plane-no-squatter-routing"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "query", "message"), BAD_BODIES)
async def test_malformed_calls_are_400_naming_the_problem(pki, controller_ca, gateway, body, query, message):
    fake = FakeApiserver()
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake), aiohttp.ClientSession() as http:
        url = f"https://localhost:{gateway.internal_port}/internal/v1/planes/p1/request{query}"
        async with http.post(url, data=body, ssl=_controller_context(pki, controller_ca)) as resp:
            status, answer = resp.status, await resp.json()
    assert 400 == status
    assert message in answer["message"]
    assert [] == fake.calls
