"""The standalone gateway's internal API: KubeClient(RemoteRelayTransport) -> gateway (mTLS, its own CA)
-> agent -> fake apiserver behaves like the in-process relay, and nobody without a controller certificate
gets in."""

import ssl

import aiohttp
import pytest
from localcluster.pki import CA, write_pair
from relayharness import FakeApiserver, Pki, running_agent, running_gateway

from choreo_controller.api import resources
from choreo_controller.contracts import Forbidden, Unavailable
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
