"""The manager's lifecycle on an in-memory apiserver: sync before work, only the leader works, graceful
stop drains then releases, lost leadership cancels everything and raises."""

import asyncio
import contextlib

import pytest
from fakeapi import FakeApi

from choreo_controller.api.resources import CONFIG_MAP, LEASE
from choreo_controller.contracts import ObjectKey, Result
from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.handlers import enqueue
from choreo_controller.runtime.leader import LeaderConfig, LeadershipLost
from choreo_controller.runtime.manager import Manager

NS = "kube-system"


async def until(predicate):
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


class Reconciler:
    def __init__(self, api=None):
        self.seen = []
        self.gate = None  # an Event a reconcile waits on, when set
        self.outcomes = []
        self.api = api

    async def reconcile(self, key):
        self.seen.append(key)
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.outcomes.append("cancelled")
                raise
            holder = self.api.objects[("leases", NS, "ctl")]["spec"]["holderIdentity"] if self.api else None
            self.outcomes.append(("finished", holder))
        return Result()


def cm(name):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}}


def build(api, clock, identity=None, grace=10.0):
    election = None if identity is None else LeaderConfig("ctl", NS, identity)
    manager = Manager(
        api,
        clock=clock,
        metrics=Metrics(process_collectors=False),
        leader_election=election,
        shutdown_grace=grace,
    )
    informer = manager.add_informer(CONFIG_MAP, namespace="ns")
    reconciler = Reconciler(api)
    controller = manager.new_controller(f"things-{identity}", reconciler)
    informer.add_handler(enqueue(controller.queue))
    manager.add_controller(controller)
    return manager, reconciler


@contextlib.asynccontextmanager
async def running(manager):
    task = asyncio.create_task(manager.run())
    try:
        yield task
    finally:
        manager.stop()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def clock():
    return FakeClock()


async def test_without_election_controllers_start_once_caches_sync(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    manager, reconciler = build(api, clock)
    before = manager.ready_problems()

    async with running(manager) as task:
        await until(lambda: reconciler.seen)
        ready = manager.ready_problems()
        await api.put(CONFIG_MAP, cm("b"))
        await until(lambda: len(reconciler.seen) == 2)
        manager.stop()
        await task

    assert (["manager: not running"], []) == (before, ready)
    assert [ObjectKey("ns", "a"), ObjectKey("ns", "b")] == reconciler.seen
    assert manager.add_informer(CONFIG_MAP, namespace="ns") is manager.add_informer(
        CONFIG_MAP, namespace="ns"
    )


async def test_only_the_leader_reconciles_and_a_graceful_stop_hands_over_at_once(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    first, first_seen = build(api, clock, "first")
    second, second_seen = build(api, clock, "second")

    async with running(first) as first_task, running(second):
        await until(lambda: first_seen.seen)
        await until(lambda: not second.ready_problems())
        standby_ready = second.ready_problems()
        first.stop()
        await first_task
        await until(lambda: second_seen.seen)

    assert ([ObjectKey("ns", "a")], [ObjectKey("ns", "a")], []) == (
        first_seen.seen,
        second_seen.seen,
        standby_ready,
    )
    assert 1000.0 == clock.monotonic()  # no lease had to expire


async def test_lost_leadership_cancels_reconciles_and_raises(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    manager, reconciler = build(api, clock, "me")
    reconciler.gate = asyncio.Event()

    async with running(manager) as task:
        await until(lambda: reconciler.seen)
        await api.merge_patch(LEASE, "ctl", {"spec": {"holderIdentity": "intruder"}}, namespace=NS)
        await until(task.done)

    with pytest.raises(LeadershipLost, match="intruder"):
        task.result()
    assert ["cancelled"] == reconciler.outcomes


async def test_graceful_stop_lets_a_reconcile_finish_before_releasing(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    manager, reconciler = build(api, clock, "me")
    reconciler.gate = asyncio.Event()

    async with running(manager) as task:
        await until(lambda: reconciler.seen)
        manager.stop()
        await until(lambda: "manager: shutting down" in manager.ready_problems())
        reconciler.gate.set()
        await task

    assert [("finished", "me")] == reconciler.outcomes
    assert "" == api.objects[("leases", NS, "ctl")]["spec"]["holderIdentity"]


async def test_graceful_stop_cancels_reconciles_that_outlast_the_grace_period(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    manager, reconciler = build(api, clock, "me", grace=3.0)
    reconciler.gate = asyncio.Event()

    async with running(manager) as task:
        await until(lambda: reconciler.seen)
        manager.stop()
        await until(lambda: "manager: shutting down" in manager.ready_problems())
        clock.step(2.9)
        await asyncio.sleep(0)
        waited = not task.done()
        clock.step(0.1)
        await task

    assert (True, ["cancelled"]) == (waited, reconciler.outcomes)
    assert "" == api.objects[("leases", NS, "ctl")]["spec"]["holderIdentity"]


async def test_building_after_run_is_refused(api, clock):
    manager, _ = build(api, clock)
    async with running(manager):
        await until(lambda: not manager.ready_problems())
        with pytest.raises(RuntimeError, match="before run"):
            manager.add_informer(LEASE)
        with pytest.raises(RuntimeError, match="already running"):
            await manager.run()
