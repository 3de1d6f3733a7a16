"""Two controller processes (``leader_proc.py``), one Lease, one real apiserver.

The processes write a ConfigMap while they lead; an informer in the test records every write as it
arrives, with the time it arrived. The bounds are the protocol's (lease 15 s, renew deadline 10 s, retry
2 s), measured from what the test did to what it then saw:

* exactly one process writes while both run;
* ``kill -9`` of the leader: the standby writes within 17 s (the lease runs out 15 s after the standby last
  saw it renewed, plus a little);
* SIGTERM of the leader: it exits 0 and the standby writes within 3 s (the lease is released);
* the Lease handed to someone else: the leader's last write arrives within 1 s and it exits non-zero.
"""

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer

pytestmark = pytest.mark.cluster
CM = resources.CONFIG_MAP
HARNESS = Path(__file__).with_name("leader_proc.py")


class Writes:
    """Every version of ``seed-written`` seen by the watch: (arrival time, writer)."""

    def __init__(self):
        self.seen = []

    def handler(self):
        return EventHandler(on_add=self._saw, on_update=lambda _old, new: self._saw(new))

    def _saw(self, obj):
        self.seen.append((time.monotonic(), obj["data"]["writer"]))

    def first_by(self, writer, after=0.0):
        return next((t for t, w in self.seen if w == writer and t > after), None)

    def last_by(self, writer):
        return max((t for t, w in self.seen if w == writer), default=None)


async def _value(value):
    return value


@pytest.fixture
async def api(control_plane):
    async with kube.connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"leader-{uuid.uuid4().hex[:8]}"
    await api.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    seed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "seed", "namespace": name}}
    seed["metadata"]["labels"] = {"role": "seed"}
    await api.create(CM, seed)
    yield name
    await api.delete(resources.NAMESPACE, name)


@pytest.fixture
async def writes(api, namespace):
    informer = Informer(
        api, CM, clock=RealClock(), namespace=namespace, field_selector="metadata.name=seed-written"
    )
    recorder = Writes()
    informer.add_handler(recorder.handler())
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 30)
    yield recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def spawn(control_plane, namespace, tmp_path):
    procs = {}
    lease = f"choreo-{uuid.uuid4().hex[:6]}"

    async def start(identity):
        with (tmp_path / f"{identity}.log").open("wb") as out:
            procs[identity] = await asyncio.create_subprocess_exec(
                sys.executable,
                str(HARNESS),
                f"--kubeconfig={control_plane.kubeconfig}",
                f"--namespace={namespace}",
                f"--lease={lease}",
                f"--identity={identity}",
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        return procs[identity]

    start.lease = lease
    yield start
    for identity, proc in procs.items():
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        print(  # noqa: T201 - the harness's log, shown when a test fails
            f"----- {identity} (exit {proc.returncode})\n"
            + (tmp_path / f"{identity}.log").read_text()[-3000:]
        )


async def two_processes(spawn, writes):
    procs = {"a": await spawn("a"), "b": await spawn("b")}
    await async_wait_for("a leader to write", lambda: _value(writes.seen), within=60)
    leader = writes.seen[0][1]
    standby = "b" if leader == "a" else "a"
    return procs, leader, standby


async def holder(api, namespace, lease):
    return (await api.get(resources.LEASE, lease, namespace))["spec"]["holderIdentity"]


async def test_exactly_one_writes_and_kill_9_hands_over_within_17s(api, namespace, spawn, writes):
    procs, leader, standby = await two_processes(spawn, writes)
    await async_wait_for("15 more writes", lambda: _value(len(writes.seen) > 15), within=30)
    writers = {w for _, w in writes.seen}
    leading = await holder(api, namespace, spawn.lease)

    procs[leader].kill()
    killed = time.monotonic()
    first = await async_wait_for(
        "the standby to write", lambda: _value(writes.first_by(standby, killed)), within=30
    )

    print(f"kill -9 -> standby writes: {first - killed:.2f}s")  # noqa: T201 - the figure, for -s
    assert ({leader}, leader) == (writers, leading)
    assert first - killed <= 17.0
    assert standby == await holder(api, namespace, spawn.lease)


async def test_sigterm_releases_and_the_standby_writes_within_3s(api, namespace, spawn, writes):
    procs, leader, standby = await two_processes(spawn, writes)

    procs[leader].send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    code = await asyncio.wait_for(procs[leader].wait(), 15)
    first = await async_wait_for(
        "the standby to write", lambda: _value(writes.first_by(standby, stopped)), within=30
    )

    print(f"SIGTERM -> standby writes: {first - stopped:.2f}s")  # noqa: T201 - the figure, for -s
    assert (0, standby) == (code, await holder(api, namespace, spawn.lease))
    assert first - stopped <= 3.0
    assert writes.last_by(leader) < first  # no overlap: the old leader had stopped writing


async def test_a_leader_whose_lease_is_taken_stops_writing_within_1s(api, namespace, spawn, writes):
    proc = await spawn("a")
    await async_wait_for("a to write", lambda: _value(writes.seen), within=60)

    taken = {"spec": {"holderIdentity": "intruder"}}
    await api.merge_patch(resources.LEASE, spawn.lease, taken, namespace=namespace)
    edited = time.monotonic()
    code = await asyncio.wait_for(proc.wait(), 15)
    exited = time.monotonic()
    # Everything a wrote has arrived once a later write of ours has (a watch delivers in order).
    marker = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "seed-written", "namespace": namespace},
    }
    marker["data"] = {"writer": "test-marker"}
    await api.apply(CM, marker, field_manager="test")
    await async_wait_for("the marker", lambda: _value(writes.first_by("test-marker")), within=30)

    print(f"lease taken -> last write {writes.last_by('a') - edited:.2f}s, exit {exited - edited:.2f}s")  # noqa: T201 - the figure, for -s
    assert 1 == code
    assert writes.last_by("a") - edited <= 1.0
    assert "intruder" == await holder(api, namespace, spawn.lease)
