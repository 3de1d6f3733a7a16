"""Leader election protocol on an in-memory apiserver, with a FakeClock stepped by hand.

Bounds asserted here are the protocol's: a crashed leader is replaced exactly when its lease runs out
(15 s after the standby last saw it renewed), a released or stolen lease changes hands without waiting
for the clock, and a leader that cannot renew gives up at the renew deadline (10 s), never later.
"""

import asyncio

import pytest
from fakeapi import FakeApi

from choreo_controller.api.resources import LEASE
from choreo_controller.contracts import Unavailable
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.leader import LeaderConfig, LeaderElector, LeadershipLost

NS = "kube-system"


async def settle():
    """Let every in-memory API call and watch event in flight complete (no time passes)."""
    for _ in range(200):
        await asyncio.sleep(0)


async def until(predicate):
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


class Candidate:
    def __init__(self, api, clock, identity):
        self.elector = LeaderElector(api, LeaderConfig("ctl", NS, identity), clock)
        self.started_leading = 0
        self.task = None

    def start(self):
        def on_leading():
            self.started_leading += 1

        self.task = asyncio.create_task(self.elector.run(on_leading))
        return self

    async def kill(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def candidates(api, clock):
    made = []

    def make(identity):
        made.append(Candidate(api, clock, identity).start())
        return made[-1]

    yield make
    for candidate in made:
        await candidate.kill()


def lease(api):
    return api.objects[("leases", NS, "ctl")]["spec"]


async def step(clock, seconds, by=0.5):
    """Advance ``seconds`` in ``by`` increments, letting the candidates react after each."""
    for _ in range(round(seconds / by)):
        clock.step(by)
        await settle()


async def test_one_leads_one_stands_by_and_the_leader_keeps_renewing(api, clock, candidates):
    a = candidates("a")
    b = candidates("b")
    await until(lambda: a.elector.is_leader or b.elector.is_leader)
    await settle()
    leader, standby = (a, b) if a.elector.is_leader else (b, a)
    renewed = lease(api)["renewTime"]

    await step(clock, 20.0)

    assert ("leading", "standby", leader.elector.config.identity) == (
        leader.elector.state,
        standby.elector.state,
        standby.elector.holder,
    )
    assert (1, 0) == (leader.started_leading, standby.started_leading)
    assert (leader.elector.config.identity, 0, 15) == (
        lease(api)["holderIdentity"],
        lease(api)["leaseTransitions"],
        lease(api)["leaseDurationSeconds"],
    )
    assert renewed != lease(api)["renewTime"]


async def test_a_crashed_leader_is_replaced_when_its_lease_runs_out(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)
    b = candidates("b")
    await until(lambda: b.elector.state == "standby")
    await step(clock, 4.0)  # a few renewals, seen by b's lease watch
    await a.kill()  # kill -9: no release
    crashed_at = clock.monotonic()

    await step(clock, 14.5)
    not_yet = b.elector.is_leader
    await step(clock, 1.0)

    assert (False, True) == (not_yet, b.elector.is_leader)
    assert ("b", 1) == (lease(api)["holderIdentity"], lease(api)["leaseTransitions"])
    assert 15.0 <= clock.monotonic() - crashed_at <= 15.5


async def test_a_released_lease_is_taken_over_without_waiting(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)
    b = candidates("b")
    await until(lambda: b.elector.state == "standby")

    await a.kill()
    released = await a.elector.release()
    await until(lambda: b.elector.is_leader)

    assert (True, "released", 1000.0) == (released, a.elector.state, clock.monotonic())
    assert ("b", 1) == (lease(api)["holderIdentity"], lease(api)["leaseTransitions"])


async def test_a_leader_whose_lease_is_taken_quits_at_once(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)

    await api.merge_patch(LEASE, "ctl", {"spec": {"holderIdentity": "intruder"}}, namespace=NS)
    await until(a.task.done)

    with pytest.raises(LeadershipLost, match="intruder"):
        a.task.result()
    assert ("lost", 1000.0) == (a.elector.state, clock.monotonic())
    assert not await a.elector.release()


async def test_a_leader_that_cannot_renew_gives_up_at_the_deadline(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)
    renewed_at = clock.monotonic()
    api.fail("replace", *[Unavailable("refused")] * 10)
    api.fail("get", *[Unavailable("refused")] * 10)

    await step(clock, 9.5)
    alive = not a.task.done()
    await step(clock, 0.5)

    assert (True, True) == (alive, a.task.done())
    with pytest.raises(LeadershipLost, match="within 10s"):
        a.task.result()
    assert 10.0 == clock.monotonic() - renewed_at


async def test_a_hung_renewal_is_cut_off_at_the_deadline(api, clock, candidates):
    class Hanging(FakeApi):
        hang = False

        async def replace(self, res, obj, *, subresource=None):
            if self.hang:
                await asyncio.Event().wait()
            return await super().replace(res, obj, subresource=subresource)

        async def get(self, res, name, namespace=None):
            if self.hang:
                await asyncio.Event().wait()
            return await super().get(res, name, namespace)

    hanging = Hanging()
    a = Candidate(hanging, clock, "a").start()
    try:
        await until(lambda: a.elector.is_leader)
        hanging.hang = True
        await step(clock, 9.5)
        alive = not a.task.done()
        await step(clock, 0.5)
        assert (True, True) == (alive, a.task.done())
        with pytest.raises(LeadershipLost):
            a.task.result()
    finally:
        await a.kill()


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"identity": ""}, id="no-identity"),
        pytest.param({"identity": "a", "renew_deadline": 15.0}, id="deadline-not-below-duration"),
        pytest.param({"identity": "a", "retry_period": 9.0}, id="retry-too-close-to-deadline"),
    ],
)
def test_config_is_validated_as_client_go_does(kwargs):
    with pytest.raises(ValueError, match=r"identity|lease_duration"):
        LeaderConfig("ctl", NS, **kwargs)


async def test_release_rereads_a_lease_that_moved_under_it(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)
    await a.kill()
    await api.merge_patch(LEASE, "ctl", {"metadata": {"labels": {"touched": "yes"}}}, namespace=NS)

    released = await a.elector.release()

    assert (True, "") == (released, lease(api)["holderIdentity"])


async def test_a_standby_retries_a_failing_apiserver_at_the_retry_period(api, clock, candidates):
    a = candidates("a")
    await until(lambda: a.elector.is_leader)
    b = candidates("b")
    await until(lambda: b.elector.state == "standby")
    await a.kill()
    api.fail("get", *[Unavailable("refused")] * 100)
    await step(clock, 16.0)  # a's lease has expired in b's eyes, but b cannot reach the apiserver
    calls = api.calls.count("get")

    await step(clock, 20.0)

    assert 8 <= api.calls.count("get") - calls <= 10  # one GET per 2-2.4 s, not one per step
    assert not b.elector.is_leader
