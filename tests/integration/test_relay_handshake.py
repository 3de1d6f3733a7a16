"""Issue 6 acceptance: the handshake matrix. Real TLS and websockets on 127.0.0.1; the accepted agent serves a
request against the real build plane. Every rejected certificate is refused before anything is served: the
agent never gets a session, the apiserver sees no call, and the plane stays unreachable."""

import datetime as dt
import ssl
import uuid

import aiohttp
import pytest
from localcluster.pki import CA, cert_pem
from relayharness import Pki, Recording, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.contracts import Unavailable
from choreo_controller.relay import protocol
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

pytestmark = pytest.mark.cluster
NOW = dt.datetime.now(dt.UTC)
REF_A = PlaneRef("BuildPlane", "acme", "plane-a")


async def attempt(port, ctx):
    """Dial like an agent; say where it ended: ``tls``, ``http <status>`` or ``upgraded``."""
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(
                f"wss://127.0.0.1:{port}/v1/agent", ssl=ctx, protocols=(protocol.SUBPROTOCOL,)
            )
        except aiohttp.WSServerHandshakeError as exc:
            return f"http {exc.status}"
        except (aiohttp.ClientError, ssl.SSLError, ConnectionError):
            return "tls"
        await ws.close()
        return "upgraded"


def no_certificate_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(pki.gateway_ca_file))
    return ctx


CASES = [
    pytest.param("no-client-cert", "tls", id="no-client-certificate"),
    pytest.param("unknown-ca", "tls", id="unknown-ca"),
    pytest.param("expired", "tls", id="expired"),
    pytest.param("not-yet-valid", "tls", id="not-yet-valid"),
    pytest.param("server-auth-only", "tls", id="server-auth-only-eku"),
    pytest.param("a-claims-b", "http 403", id="plane-a-claims-plane-b"),
    pytest.param("system-store-ca", "tls", id="ca-known-only-to-the-system-store"),
    pytest.param("no-plane-uri", "http 403", id="no-plane-uri-san"),
]


@pytest.fixture
def world(tmp_path, monkeypatch):
    """PKI for two planes, plus a CA that only the (faked) system trust store knows."""
    pki = Pki(tmp_path)
    system_ca = CA.new("system-store-ca")
    bundle = tmp_path / "system-roots.pem"
    bundle.write_bytes(cert_pem(system_ca.cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    trusting = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trusting.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    assert any(c["subject"] == ((("commonName", "system-store-ca"),),) for c in trusting.get_ca_certs())
    a = pki.plane_ca("plane-a")
    certs = {
        "unknown-ca": pki.agent("plane-a", ca=CA.new("stranger")),
        "expired": pki.agent(
            "plane-a", not_before=NOW - dt.timedelta(days=2), not_after=NOW - dt.timedelta(hours=1)
        ),
        "not-yet-valid": pki.agent("plane-a", not_before=NOW + dt.timedelta(hours=1)),
        "server-auth-only": pki.agent("plane-a", client=False, server=True),
        "a-claims-b": pki.agent("plane-b", ca=a),
        "system-store-ca": pki.agent("plane-a", ca=system_ca),
        "no-plane-uri": pki.agent("plane-a", uris=("spiffe://cluster/agent",)),
        "valid": pki.agent("plane-a"),
    }
    directory = PlaneDirectory([pki.record("plane-a", REF_A), pki.record("plane-b")])
    return pki, certs, directory


@pytest.fixture
async def build_api(build_plane):
    async with kube.connect(build_plane.kubeconfig) as api:
        yield api


@pytest.mark.parametrize(("case", "layer"), CASES)
async def test_rejected_before_anything_is_served(world, build_api, case, layer):
    pki, certs, directory = world
    served = Recording(build_api.transport)
    async with running_gateway(pki, directory) as gateway:
        ctx = no_certificate_context(pki) if case == "no-client-cert" else pki.context(certs[case])
        assert layer == await attempt(gateway.port, ctx)
        async with running_agent(gateway.port, pki, None, served, wait=False, ssl_context=ctx) as agent:
            await async_wait_for("two refused attempts", lambda: _attempts(agent, 2), within=10)
            assert (False, [], []) == (agent.connected.is_set(), gateway.registry.sessions(), served.calls)
        for plane in ("plane-a", "plane-b"):
            with pytest.raises(Unavailable, match="no agent connected"):
                await gateway.kube_api(plane).get(resources.ARGO_WORKFLOW, "w", "openchoreo-ci-x")


async def _attempts(agent, n):
    return agent._backoff.attempts >= n


async def test_a_valid_agent_is_accepted_and_serves(world, build_api):
    pki, certs, directory = world
    served = Recording(build_api.transport)
    namespace = f"openchoreo-ci-hs-{uuid.uuid4().hex[:6]}"
    async with running_gateway(pki, directory) as gateway:
        assert "upgraded" == await attempt(gateway.port, pki.context(certs["valid"]))
        async with running_agent(gateway.port, pki, certs["valid"], served):
            api = gateway.kube_api("plane-a", REF_A)
            created = await api.create(resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                                             "metadata": {"name": namespace}})  # fmt: skip
            fetched = await api.get(resources.NAMESPACE, namespace)
    assert (namespace, created["metadata"]["uid"]) == (
        fetched["metadata"]["name"],
        fetched["metadata"]["uid"],
    )
    assert ["POST", "GET"] == [c.method for c in served.calls]
    await build_api.delete(resources.NAMESPACE, namespace)


async def test_server_context_never_loads_system_roots(world):
    pki, _, directory = world
    async with running_gateway(pki, directory) as gateway:
        trusted = {
            dict(x[0] for x in c["subject"])["commonName"] for c in gateway._trust.current.get_ca_certs()
        }
    assert {"plane-a-agent-ca", "plane-b-agent-ca"} == trusted
