"""Pod logs through the relay (protocol version 2): real gateway and agent over TLS, the apiserver faked.

A log arrives line by line and byte for byte; the agent serves only a run's pods, caps every request at
``MAX_LOG_BYTES`` and sends only what the gateway granted, so a stalled consumer stops the agent reading
(back-pressure), never a growing buffer; an agent that ignores its credit is cut off; an agent that only
speaks version 1 still connects, and a log asked of it is a 501 naming the version.
"""

import asyncio
import json

import aiohttp
import pytest
from relayharness import FakeApiserver, Pki, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller.contracts import Forbidden, LogOptions, NotFound, ServerError, Unavailable
from choreo_controller.relay import protocol
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.logstreams import LOG_WINDOW, LogChannel
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.relay.session import AgentSession

NS = "openchoreo-ci-acme"
REF = PlaneRef("BuildPlane", "acme", "p1")
RUN_POD = {"workflows.argoproj.io/workflow": "build-1"}


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.fixture
async def gateway(pki):
    async with running_gateway(pki, PlaneDirectory([pki.record("p1", REF)])) as gw:
        yield gw


async def test_a_run_pods_log_arrives_line_by_line_and_byte_for_byte(pki, gateway):
    long_line = b"x" * (protocol.LOG_CHUNK * 2 + 17)
    lines = [b"first", b"", b"\xff\xfe not utf-8", long_line, b"last"]
    fake = FakeApiserver(pods={(NS, "build-1-a"): RUN_POD}, logs={(NS, "build-1-a"): lines})
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        api = gateway.kube_api("p1", REF)
        options = LogOptions("main", timestamps=True, tail_lines=100)
        got = [line async for line in api.log(NS, "build-1-a", options)]
    assert lines == got
    check, read = fake.calls
    assert ("GET", f"/api/v1/namespaces/{NS}/pods", (("fieldSelector", "metadata.name=build-1-a"),)) == (
        check.method, check.path, check.query
    )  # fmt: skip
    expected = (("container", "main"), ("timestamps", "true"), ("tailLines", "100"),
                ("limitBytes", str(protocol.MAX_LOG_BYTES)))  # fmt: skip
    assert (f"/api/v1/namespaces/{NS}/pods/build-1-a/log", expected) == (read.path, read.query)


@pytest.mark.parametrize(
    ("asked", "sent"),
    [
        pytest.param(1024, "1024", id="below-the-cap"),
        pytest.param(protocol.MAX_LOG_BYTES * 4, str(protocol.MAX_LOG_BYTES), id="above-the-cap"),
    ],
)
async def test_every_log_request_is_capped_in_bytes(pki, gateway, asked, sent):
    fake = FakeApiserver(pods={(NS, "p"): RUN_POD}, logs={(NS, "p"): [b"a"]})
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        api = gateway.kube_api("p1", REF)
        assert [b"a"] == [x async for x in api.log(NS, "p", LogOptions("main", limit_bytes=asked))]
    assert sent == dict(fake.calls[-1].query)["limitBytes"]


@pytest.mark.parametrize(
    ("pods", "pod", "error", "message"),
    [
        pytest.param({(NS, "p"): {"app": "x"}}, "p", Forbidden, "relay policy: the pod carries no engine's run label",
                     id="not-a-run-pod"),
        pytest.param({}, "gone", NotFound, 'pods "gone" not found', id="pod-gone"),
        pytest.param({("default", "p"): RUN_POD}, "p", Forbidden, "only openchoreo-ci-* namespaces", id="foreign-ns"),
    ],
)  # fmt: skip
async def test_only_a_run_pods_log_is_served(pki, gateway, pods, pod, error, message):
    namespace = next(iter(pods))[0] if pods else NS
    fake = FakeApiserver(pods=pods, logs={(namespace, pod): [b"secret"]})
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        api = gateway.kube_api("p1", REF)
        with pytest.raises(error) as raised:
            _ = [x async for x in api.log(namespace, pod, LogOptions("main"))]
    assert message in raised.value.message
    assert 0 == fake.log_lines_read


async def test_a_stalled_consumer_stops_the_agent_reading(pki, gateway):
    line = b"y" * 1023

    def endless():
        async def lines():
            while True:
                yield line
                await asyncio.sleep(0)

        return lines()

    fake = FakeApiserver(pods={(NS, "p"): RUN_POD}, logs={(NS, "p"): endless})
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        stream = gateway.kube_api("p1", REF).log(NS, "p", LogOptions("main", follow=True))
        assert line == await anext(stream)
        # The agent fills the window the gateway granted, then stops: out of credit it reads no more.
        await until("the window filled", lambda: fake.log_lines_read * len(line) >= LOG_WINDOW)
        before = -1
        while before != fake.log_lines_read:
            before = fake.log_lines_read
            await asyncio.sleep(0.5)
        # the window + the agent's read-ahead (two chunks) + a line in hand, and a line for each loop turn
        # the last chunk's send took (this fake yields one line per turn; a send is a task of its own)
        assert before * len(line) <= LOG_WINDOW + 2 * protocol.LOG_CHUNK + 4 * len(line)
        taken = sum([1 async for _ in _take(stream, 1000)])
        await until("reading again once the consumer took lines", lambda: fake.log_lines_read > before + 700)
        await stream.aclose()
        await until("the agent closed its apiserver stream", lambda: fake.open_streams == 0)
    assert 1000 == taken


async def until(what, predicate, within=30.0):
    async def probe():
        return predicate()

    return await async_wait_for(what, probe, within)


async def _take(stream, count):
    for _ in range(count):
        yield await anext(stream)


async def test_an_agent_that_ignores_its_credit_is_cut_off():
    sent = []

    async def send(frame):
        sent.append(protocol.decode(frame))

    session = AgentSession(None, "hostile", send, session_id="s")
    channel = await session.log(protocol.LogStart("s.1", f"/api/v1/namespaces/{NS}/pods/p/log", credit=1024))
    session.dispatch(protocol.LogData("s.1", b"a" * 1000))
    session.dispatch(protocol.LogData("s.1", b"b" * 100))  # 1,100 bytes of 1,024 granted
    assert b"a" * 1000 == await channel.next()
    end = await channel.next()
    assert (502, "the agent sent 1100 bytes of a log granted 1024") == (
        end.status, json.loads(end.body)["message"].split("relay: ")[1]
    )  # fmt: skip
    await until("LogCancel sent", lambda: isinstance(sent[-1], protocol.LogCancel))


async def test_a_consumer_grants_credit_as_it_takes_bytes():
    granted = []

    async def grant(count):
        granted.append(count)

    channel = LogChannel("l", grant, window=1000)
    for _ in range(10):
        assert channel.put(b"x" * 100)
    for _ in range(10):
        await channel.next()
    assert ([500, 500], 2000) == (granted, channel.granted)
    assert not channel.put(b"x" * 1001)  # more than the 1,000 still granted


async def test_a_dropped_connection_cuts_the_log_short(pki, gateway):
    hold = asyncio.Event()

    def one_then_hang():
        async def lines():
            yield b"one"
            await hold.wait()

        return lines()

    fake = FakeApiserver(pods={(NS, "p"): RUN_POD}, logs={(NS, "p"): one_then_hang})
    async with running_agent(gateway.port, pki, pki.agent("p1"), fake):
        stream = gateway.kube_api("p1", REF).log(NS, "p", LogOptions("main", follow=True))
        assert b"one" == await anext(stream)
    with pytest.raises(Unavailable, match="was cut"):
        await anext(stream)


async def test_an_agent_speaking_only_version_one_connects_and_is_told_logs_need_version_two(pki, gateway):
    ctx = pki.context(pki.agent("p1"))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            f"wss://localhost:{gateway.port}/v1/agent", ssl=ctx, protocols=(protocol.SUBPROTOCOL_V1,)
        )
        await ws.send_str(protocol.encode(protocol.Hello("old-agent")))
        hello = protocol.decode((await ws.receive()).data)
        session = gateway.registry.pick("p1")
        with pytest.raises(ServerError) as raised:
            await session.log(protocol.LogStart(session.next_id(), f"/api/v1/namespaces/{NS}/pods/p/log"))
        await ws.close()
    assert (protocol.Hello("p1"), 1, 501) == (hello, session.version, raised.value.status)
    assert "speaks relay protocol version 1, which has no log streams" in raised.value.message


async def test_a_new_agent_negotiates_version_two(pki, gateway):
    async with running_agent(gateway.port, pki, pki.agent("p1"), FakeApiserver()):
        assert 2 == gateway.registry.pick("p1").version


async def test_a_request_cancelled_as_its_response_arrives_is_cancelled():
    # Python 3.11's ``wait_for`` returned the response instead: the cancel (lost leadership) was swallowed
    # and the reconcile that made the request went on writing.
    sent = []

    async def send(frame):
        sent.append(protocol.decode(frame))

    session = AgentSession(None, "agent", send, session_id="s")
    request = protocol.Request("s.1", "get", "GET", f"/api/v1/namespaces/{NS}/configmaps/c")
    task = asyncio.create_task(session.request(request, 30))
    await until("request sent", lambda: bool(sent))
    session.dispatch(protocol.Response("s.1", 200, "application/json", b"{}"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
