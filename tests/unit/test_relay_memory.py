"""Relay-review finding 3: a hostile agent cannot grow the controller's (or a gateway's) memory without bound.

Real gateway and agent over TLS on 127.0.0.1; the agent's "apiserver" is hostile: its LIST pages never end,
or its watch streams 3 MiB events as fast as the connection takes them to a consumer that reads slowly.
Resident memory growth is sampled every 50 ms (both ends live in this process, so the figure is
conservative) and its peak must stay under 300 MiB; a watchdog stops a probe that passes 400 MiB, so a
regression fails the test instead of the machine. Each bound has its own case.
"""

import asyncio
import contextlib
import json
import os

import pytest
from relayharness import Pki, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller.api import resources
from choreo_controller.contracts import ApiRequest, ApiResponse
from choreo_controller.kube.client import ListTooLarge
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

NS = "openchoreo-ci-acme"
WF = resources.ARGO_WORKFLOW
REF = PlaneRef("BuildPlane", "acme", "p1")
MiB = 1024 * 1024
BOUND, WATCHDOG = 300 * MiB, 400 * MiB
TAKE, FLOOD = 20, 120


class Hostile:
    """An apiserver that never stops: endless LIST pages, endless 3 MiB watch events."""

    def __init__(self, *, item_bytes=0, items=100, event_bytes=3 * MiB - 1024):  # just under the relay cap
        self.pages = 0
        pad = "x" * item_bytes
        page_items = [{"metadata": {"name": f"w{i}", "namespace": NS}, "pad": pad} for i in range(items)]
        self._page = json.dumps(
            {"metadata": {"resourceVersion": "1", "continue": "more"}, "items": page_items}
        )
        obj = {"metadata": {"name": "w", "namespace": NS, "resourceVersion": "7"}, "pad": "x" * event_bytes}
        self._event = json.dumps({"type": "MODIFIED", "object": obj}).encode()
        self.events = 0
        self.open_streams = 0
        self.ended_streams = 0

    async def request(self, req):
        del req  # every LIST gets the same endless page
        self.pages += 1
        return ApiResponse(200, self._page.encode(), {"Content-Type": "application/json"})

    async def stream(self, req):
        del req  # every watch gets the same endless stream
        self.open_streams += 1
        try:
            while True:
                self.events += 1
                yield self._event
                await asyncio.sleep(0)
        finally:
            self.open_streams -= 1
            self.ended_streams += 1

    async def close(self):
        pass


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:  # noqa: PTH123 - a procfs read, not a file of ours
        return int(statm.read().split()[1]) * PAGE


@contextlib.asynccontextmanager
async def measured():
    """Yields a dict with ``peak``: the highest resident size above the start, sampled every 50 ms."""
    base, out = rss(), {"peak": 0}

    async def sample():
        while True:
            out["peak"] = max(out["peak"], rss() - base)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        yield out
    finally:
        sampler.cancel()
        out["peak"] = max(out["peak"], rss() - base)


async def bounded(coro, memory, within):
    """Run ``coro``; cancel it if resident growth passes the watchdog (then the test fails on the figure)."""
    task = asyncio.ensure_future(coro)

    async def watchdog():
        while not task.done():
            if memory["peak"] > WATCHDOG:
                task.cancel()
                return
            await asyncio.sleep(0.05)

    guard = asyncio.create_task(watchdog())
    try:
        async with asyncio.timeout(within):
            return await task
    finally:
        guard.cancel()


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


@pytest.mark.parametrize(
    ("hostile", "bound"),
    [
        pytest.param({"item_bytes": 28_000, "items": 100}, "bytes", id="endless-pages-of-big-items"),
        pytest.param({"item_bytes": 0, "items": 100}, "objects", id="endless-pages-of-small-items"),
    ],
)
@pytest.mark.timeout(240)
async def test_endless_list_pages_end_with_a_clear_error(pki, hostile, bound):
    agent_api = Hostile(**hostile)
    async with (
        running_gateway(pki, PlaneDirectory([pki.record("p1", REF)])) as gateway,
        running_agent(gateway.port, pki, pki.agent("p1"), agent_api),
        measured() as memory,
    ):
        with pytest.raises(ListTooLarge) as raised:
            await bounded(gateway.kube_api("p1", REF).list(WF, NS), memory, within=180)

    print(  # noqa: T201 - the figure this probe measures
        f"\nendless LIST ({bound}): {agent_api.pages} pages, peak resident +{memory['peak'] / MiB:.0f} MiB; {raised.value}"
    )
    assert "more than" in str(raised.value)
    assert bound in str(raised.value)
    assert memory["peak"] < BOUND


@pytest.mark.timeout(300)
async def test_a_flood_of_3_mib_watch_events_to_a_slow_consumer_stays_bounded(pki):
    agent_api = Hostile()
    taken = 0

    async def flood_sent():
        """The agent sent a flood's worth (360 MiB), or stopped because the gateway cut the watch."""
        # a cut stream counts when it ends: the gateway resumes the watch at once, so a moment with no
        # stream open is easy to miss
        return agent_api.events >= FLOOD or agent_api.ended_streams > 0

    async def stalled_consumer(transport):
        nonlocal taken
        query = (("watch", "1"), ("resourceVersion", "1"))
        async for _ in transport.stream(ApiRequest("GET", WF.path(NS), query)):
            taken += 1
            if taken == 1:  # the consumer stalls while the agent sends as fast as it can
                await async_wait_for("the flood sent or cut", flood_sent, within=150)
            if taken >= TAKE:
                return

    async with (
        running_gateway(pki, PlaneDirectory([pki.record("p1", REF)])) as gateway,
        running_agent(gateway.port, pki, pki.agent("p1"), agent_api),
        measured() as memory,
    ):
        with contextlib.suppress(asyncio.CancelledError):
            await bounded(stalled_consumer(gateway.transport("p1", REF)), memory, within=200)

    print(  # noqa: T201 - the figure this probe measures
        f"\nwatch flood: {agent_api.events} events of 3 MiB sent, {taken} taken, peak resident +{memory['peak'] / MiB:.0f} MiB"
    )
    assert TAKE == taken
    assert memory["peak"] < BOUND
