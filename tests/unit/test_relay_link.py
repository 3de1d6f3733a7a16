"""Gateway <-> agent over real TLS websockets on 127.0.0.1; the agent's apiserver is the transport seam (fake).

Production liveness settings everywhere, except the tests of liveness itself (dead peers, expiring
certificates), which shorten them (``FAST``) so they take a second or two, not twelve; the integration tests
run those paths with the production settings against real clusters.
"""

import asyncio
import datetime as dt
import json
import ssl
import time

import pytest
import structlog
from relayharness import FAST, Blackhole, FakeApiserver, Pki, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller.api import resources
from choreo_controller.contracts import ApiRequest, ApiResponse, BadRequest, Gone, Unavailable
from choreo_controller.metrics import Metrics
from choreo_controller.relay import protocol, session
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.relay.tls import agent_context

NS = "openchoreo-ci-acme"
WF = resources.ARGO_WORKFLOW
REF = PlaneRef("BuildPlane", "acme", "p1")


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
def directory(pki):
    return PlaneDirectory([pki.record("p1", REF)])


@pytest.fixture
async def gateway(pki, directory):
    async with running_gateway(pki, directory) as gw:
        yield gw


async def test_many_concurrent_requests_share_one_connection(pki, gateway):
    async def slow_echo(req):
        await asyncio.sleep(0.001 * (hash(req.path) % 20))
        return ApiResponse(200, json.dumps({"path": req.path}).encode())

    fake = FakeApiserver(handler=slow_echo)
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        api = gateway.kube_api("p1", REF)
        names = [f"w{i}" for i in range(200)]
        got = await asyncio.gather(*(api.get(WF, n, NS) for n in names))
    assert [WF.path(NS, n) for n in names] == [g["path"] for g in got]
    assert 1 == len(gateway.registry.sessions("p1"))


async def test_no_agent_is_unavailable_at_once(gateway):
    started = time.monotonic()
    with pytest.raises(Unavailable, match="no agent connected for plane p1"):
        await gateway.kube_api("p1").get(WF, "w", NS)
    assert time.monotonic() - started < 0.5


async def test_in_flight_requests_fail_fast_when_the_agent_goes(pki, gateway):
    arrived, never = asyncio.Event(), asyncio.Event()

    async def hang(req):
        arrived.set()
        await never.wait()

    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver(handler=hang)):
        pending = asyncio.create_task(gateway.kube_api("p1").get(WF, "w", NS))
        await asyncio.wait_for(arrived.wait(), 5)
    started = time.monotonic()
    with pytest.raises(Unavailable, match="connection to plane p1 lost"):
        await pending
    assert time.monotonic() - started < 1.0


async def test_a_request_without_answer_times_out_as_unavailable(pki, gateway):
    never = asyncio.Event()

    async def hang(req):
        await never.wait()

    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver(handler=hang)):
        transport = gateway.transport("p1", request_timeout=0.3, response_slack=0.0)
        with pytest.raises(Unavailable, match="no response within"):
            await transport.request(ApiRequest("GET", WF.path(NS, "w")))


async def test_agents_of_a_plane_take_turns(pki, gateway):
    one, two = FakeApiserver(name="one"), FakeApiserver(name="two")
    async with (
        running_agent(gateway.port, pki, pki.agent("p1"), one, name="one"),
        running_agent(gateway.port, pki, pki.agent("p1"), two, name="two"),
    ):
        api = gateway.kube_api("p1", REF)
        served = [(await api.get(WF, "w", NS))["served_by"] for _ in range(10)]
    assert {"one": 5, "two": 5} == {n: served.count(n) for n in ("one", "two")}


async def test_traffic_for_a_plane_object_goes_only_to_agents_its_ca_issued(pki, directory, gateway):
    squatter = PlaneRef("BuildPlane", "evil", "p1")
    directory.replace([*directory.records(), pki.record("p1", squatter, ca=pki.plane_ca("evil"))])
    async with running_agent(gateway.port, pki, pki.agent("p1", ca=pki.plane_ca("evil")), FakeApiserver()):
        with pytest.raises(Unavailable, match="no agent"):
            await gateway.kube_api("p1", REF).get(WF, "w", NS)
        assert "Echo" == (await gateway.kube_api("p1", squatter).get(WF, "w", NS))["kind"]


async def test_a_malformed_request_is_answered_with_400(pki, gateway):
    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver()):
        agent_session = gateway.registry.pick("p1")
        bad = protocol.Request(agent_session.next_id(), "exec", "GET", WF.path(NS, "w"))  # type: ignore[arg-type]
        resp = await agent_session.request(bad, 5)
    assert (400, "BadRequest") == (resp.status, json.loads(resp.body)["reason"])


async def test_an_oversized_response_is_refused_not_truncated(pki, gateway):
    async def huge(req):
        return ApiResponse(200, b"x" * (protocol.MAX_BODY + 1))

    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver(handler=huge)):
        with pytest.raises(BadRequest, match="exceeds"):
            await gateway.kube_api("p1").get(WF, "w", NS)


async def read(events, n):
    return [(e.type, e.object["metadata"]["name"]) async for e in _take(events, n)]


async def _take(events, n):
    for _ in range(n):
        yield await asyncio.wait_for(anext(events), 10)


async def test_watch_resumes_from_the_last_resource_version_after_an_agent_restart(pki, gateway):
    fake = FakeApiserver()
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        events = gateway.kube_api("p1", REF, resume_within=10).watch(WF, NS, resource_version="0")
        for name in ("a", "b", "c"):
            await fake.emit("ADDED", name)
        first = await read(events, 3)
    await fake.emit("MODIFIED", "b")  # while no agent is connected
    await fake.emit("DELETED", "a")
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        second = await read(events, 2)
        await events.aclose()
    assert [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")] == first
    assert [("MODIFIED", "b"), ("DELETED", "a")] == second
    resumed = [dict(c.query)["resourceVersion"] for c in fake.calls if dict(c.query).get("watch")]
    assert ["0", "3"] == resumed


async def test_a_slow_watch_consumer_costs_a_rewatch_not_an_event(pki, gateway, monkeypatch):
    monkeypatch.setattr(session, "WATCH_BUFFER", 3)
    fake = FakeApiserver()
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        events = gateway.kube_api("p1").watch(WF, NS, resource_version="0")
        await fake.emit("ADDED", "w0")
        got = await read(events, 1)
        for i in range(1, 10):
            await fake.emit("ADDED", f"w{i}")
        await async_wait_for("the watch to overflow", lambda: _overflowed(gateway), within=5)
        got += await read(events, 9)
        await events.aclose()
    assert [("ADDED", f"w{i}") for i in range(10)] == got
    assert len([c for c in fake.calls if dict(c.query).get("watch")]) >= 2


async def _overflowed(gateway):
    return not gateway.registry.pick("p1")._watches


async def test_a_compacted_resource_version_is_gone(pki, gateway):
    fake = FakeApiserver(compacted=10)
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        with pytest.raises(Gone):
            async for _ in gateway.kube_api("p1").watch(WF, NS, resource_version="5"):
                pass


async def test_closing_a_watch_stops_it_in_the_agent(pki, gateway):
    fake = FakeApiserver()
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake) as agent:
        events = gateway.kube_api("p1").watch(WF, NS, resource_version="0")
        await fake.emit("ADDED", "a")
        await read(events, 1)
        await events.aclose()

        async def stream_closed():
            return fake.open_streams == 0

        await async_wait_for("the agent to close its apiserver watch", stream_closed, within=5)
        assert agent.connected.is_set()


async def test_a_blackholed_link_is_detected_on_both_sides(pki, directory):
    async with running_gateway(pki, directory, **FAST) as gateway:
        elapsed = await _blackhole(pki, gateway)
    assert elapsed <= FAST["dead_after"] + 0.5


async def _blackhole(pki, gateway):
    proxy = Blackhole(gateway.port)
    port = await proxy.start()
    try:
        async with running_agent(port, pki, pki.agent("p1"), FakeApiserver(), **FAST) as agent:
            assert 1 == len(gateway.registry.sessions("p1"))
            proxy.blackhole()
            started = time.monotonic()

            async def both_noticed():
                return not gateway.registry.sessions("p1") and not agent.connected.is_set()

            await async_wait_for("both ends to drop the dead link", both_noticed, within=5, interval=0.02)
            elapsed = time.monotonic() - started
    finally:
        await proxy.stop()
    return elapsed


async def test_agent_comes_back_after_a_gateway_restart(pki, directory):
    async with running_gateway(pki, directory) as first:
        port = first.port
        async with running_agent(port, pki, pki.agent("p1"), FakeApiserver()) as agent:
            await first.stop()
            async with running_gateway(pki, directory, port=port) as second:
                await async_wait_for("the agent to reconnect", lambda: _registered(second), within=5)
                assert "Echo" == (await second.kube_api("p1").get(WF, "w", NS))["kind"]
            assert 2 == agent.connections


async def _registered(gateway):
    return bool(gateway.registry.sessions("p1"))


async def test_deleting_the_plane_object_closes_its_agents(pki, directory, gateway):
    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver()) as agent:
        directory.replace([])

        async def gone():
            return not agent.connected.is_set() and not gateway.registry.sessions()

        await async_wait_for("the session to be closed", gone, within=5)


async def test_a_plane_added_later_is_trusted_without_a_restart(pki):
    directory = PlaneDirectory()
    async with (
        running_gateway(pki, directory) as gateway,
        running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver(), wait=False) as agent,
    ):
        await async_wait_for("refused attempts", lambda: _refused(agent, 2), within=5)
        assert not agent.connected.is_set()
        directory.replace([pki.record("p1", REF)])
        await asyncio.wait_for(agent.connected.wait(), 10)


async def _refused(agent, attempts):
    return agent._backoff.attempts >= attempts


async def test_the_agent_trusts_only_the_pinned_gateway_ca(pki, tmp_path, directory):
    impostor = Pki(tmp_path / "impostor")  # same host names, another CA
    async with running_gateway(impostor, directory) as gateway:
        pair = pki.agent("p1")
        with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.open_connection(
                "127.0.0.1",
                gateway.port,
                ssl=agent_context(pki.gateway_ca_file, *pair),
                server_hostname="localhost",
            )
        async with running_agent(gateway.port, pki, pair, FakeApiserver(), wait=False) as agent:
            await async_wait_for("refused attempts", lambda: _refused(agent, 2), within=5)
            assert (False, []) == (agent.connected.is_set(), gateway.registry.sessions())


async def test_registry_counts_connections(pki, directory):
    metrics = Metrics(process_collectors=False)
    async with running_gateway(pki, directory, metrics=metrics) as gateway:
        for _ in range(2):
            async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver()):
                assert 1.0 == metrics.registry.get_sample_value("choreo_relay_connections", {"plane": "p1"})
                await gateway.kube_api("p1").get(WF, "w", NS)
            await async_wait_for("the disconnect", lambda: _gone(gateway), within=5)
    samples = {
        name: metrics.registry.get_sample_value(name, {"plane": "p1"})
        for name in (
            "choreo_relay_connections",
            "choreo_relay_request_seconds_count",
            "choreo_relay_reconnects_total",
        )
    }
    expected = {
        "choreo_relay_connections": 0.0,
        "choreo_relay_request_seconds_count": 2.0,
        "choreo_relay_reconnects_total": 1.0,
    }
    assert expected == samples


async def _gone(gateway):
    return not gateway.registry.sessions()


async def test_a_session_ends_when_its_certificate_expires(pki, directory):
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    pair = pki.agent("p1", not_after=soon)
    async with (
        running_gateway(pki, directory, **FAST) as gateway,
        running_agent(gateway.port, pki, pair, FakeApiserver(), **FAST) as agent,
    ):

        async def closed():
            return not gateway.registry.sessions() and not agent.connected.is_set()

        await async_wait_for("the expired session to close", closed, within=10)
        # and it cannot come back with that certificate
        await async_wait_for("refused attempts", lambda: _refused(agent, 2), within=10)
        assert not gateway.registry.sessions()


async def test_payloads_never_reach_the_logs(pki, gateway):
    secret = "s3cr3t-value-never-logged"
    body = json.dumps({"metadata": {"name": "kube-system"}, "data": {"token": secret}}).encode()
    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver()):
        agent_session = gateway.registry.pick("p1")
        with structlog.testing.capture_logs() as logs:
            denied = protocol.Request(agent_session.next_id(), "create", "POST", "/api/v1/namespaces", (),
                                      (("Impersonate-User", secret),), "application/json", body)  # fmt: skip
            resp = await agent_session.request(denied, 5)
    assert 403 == resp.status
    assert any(entry["event"] == "request denied" for entry in logs)
    assert secret not in repr(logs)
    assert secret not in resp.body.decode()


async def test_a_request_body_over_the_limit_is_refused_before_sending(pki, gateway):
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake := FakeApiserver()):
        huge = {"metadata": {"name": "w", "namespace": NS}, "data": "x" * protocol.MAX_BODY}
        with pytest.raises(BadRequest, match="exceeds") as caught:
            await gateway.kube_api("p1").create(WF, huge)
    assert (413, []) == (caught.value.status, fake.calls)


def _workflow(namespace, name, rv="1"):
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": rv}}


async def test_lists_and_watches_across_namespaces_only_show_build_namespaces(pki, gateway):
    async def mixed(req):
        items = [_workflow(NS, "ours"), _workflow("kube-system", "theirs"), _workflow("default", "x")]
        return ApiResponse(200, json.dumps({"kind": "WorkflowList", "metadata": {}, "items": items}).encode())

    fake = FakeApiserver(handler=mixed)
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        api = gateway.kube_api("p1")
        listed = await api.list(WF, label_selector="openchoreo.dev/managed-by=workflowrun-controller")
        for namespace, name in ((NS, "a"), ("kube-system", "secret-thing"), (NS, "b")):
            await fake.emit_object("ADDED", _workflow(namespace, name, str(len(fake.log) + 1)))
        events = api.watch(WF, resource_version="0")
        seen = [
            (e.object["metadata"]["namespace"], e.object["metadata"]["name"]) async for e in _take(events, 2)
        ]
        await events.aclose()
    assert [(NS, "ours")] == [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed.items]
    assert [(NS, "a"), (NS, "b")] == seen
