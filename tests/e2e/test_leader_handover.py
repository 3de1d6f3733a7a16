"""No wrong deletes across a leader handover: a new leader whose cache is behind never deletes a live run's
Argo Workflow (issue 14).

Two controller replicas with leader election, each reaching the control plane through its own
``TcpProxy``. Each round: the standby's proxy is *frozen* (its watches deliver nothing more: its runs cache
is synced but stale), a run is created and submitted by the leader, the leader is stopped (SIGTERM: the
Lease is released at once), and the standby takes over and sweeps at once - with ``--sweep-min-age=0``, so
only the live read stands between a stale cache and a wrong delete. Its cache does not hold the new run;
the Argo Workflow of that run, and of every run before it, must still be there, not being deleted. Then
the roles swap: the stopped replica starts again as the standby. 20 rounds; in each, the new leader's sweep
must have spared a candidate (its cache really was behind: the round proved something).
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from e2e_support import Controller, World, docker_workflow, run_object
from rbac_support import server_kubeconfig
from tcpproxy import TcpProxy

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.kube import connect

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]
ROUNDS = 20


class Replica:
    """One controller replica and the proxy it reaches the control plane through."""

    def __init__(self, name: str, control_plane, build_plane, tmp_path, lease: str) -> None:
        self.proxy = TcpProxy(("127.0.0.1", control_plane.ports["apiserver"])).open()
        kubeconfig = server_kubeconfig(
            control_plane.kubeconfig, f"https://127.0.0.1:{self.proxy.port}", tmp_path / f"{name}.kubeconfig"
        )
        extra = (
            "--leader-elect",
            f"--leader-election-id={lease}",
            "--sweep-min-age=0",
            "--sweep-interval=600",
        )
        self.ctl = Controller(control_plane, build_plane, tmp_path / name, kubeconfig=kubeconfig, extra=extra)

    def leads(self, before: int) -> bool:
        return self.ctl.logged("became leader") > before


async def until(what: str, probe, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(probe):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


@pytest.fixture
async def replicas(engines, control_plane, build_plane, tmp_path):
    await asyncio.to_thread(engines.stop)  # no other controller may reconcile or sweep meanwhile
    lease = f"handover-{secrets.token_hex(3)}"
    pair = [Replica(name, control_plane, build_plane, tmp_path, lease) for name in ("a", "b")]
    try:
        yield pair
    finally:
        for replica in pair:
            await asyncio.to_thread(replica.ctl.stop)
            replica.proxy.close()


@pytest.mark.timeout(900)
async def test_a_new_leader_with_a_stale_cache_never_deletes_a_live_runs_argo_workflow(
    replicas, control_plane, build_plane
):
    namespace = f"e2e-handover-{secrets.token_hex(3)}"
    async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
        world = World(cp, bp, namespace)
        await world.setup()
        await cp.create(r.WORKFLOW, docker_workflow(namespace, steps={"build-image": {"delay": "600s"}}))
        leader, standby = replicas
        await asyncio.to_thread(leader.ctl.start)
        await until("a leader", lambda: leader.leads(0))
        await asyncio.to_thread(standby.ctl.start)  # ready: its caches are synced
        live: list[str] = []
        for round_ in range(ROUNDS):
            spared, swept = standby.ctl.logged("orphan candidate spared: its run exists (the cache is behind)"), standby.ctl.logged("orphan sweep done")  # fmt: skip
            led = standby.ctl.logged("became leader")
            assert standby.proxy.freeze() > 0, "the standby has open connections (its watches)"
            name = f"handover-{round_:02d}"
            await world.cp.create(r.WORKFLOW_RUN, run_object(namespace, name))
            await world.wait_reason(name, c.R_RUNNING, status="False", within=60)
            live.append(name)
            await asyncio.to_thread(leader.ctl.stop)  # SIGTERM: the lease is released at once
            await until(f"round {round_}: the standby leads", lambda s=standby, n=led: s.leads(n))
            await until(f"round {round_}: its first sweep", lambda s=standby, n=swept: s.ctl.logged("orphan sweep done") > n)  # fmt: skip
            gone = [n for n in live if (argo := await world.argo(n)) is None or argo["metadata"].get("deletionTimestamp")]  # fmt: skip
            assert [] == gone, f"round {round_}: live runs' Argo Workflows deleted by the new leader"
            assert (
                standby.ctl.logged("orphan candidate spared: its run exists (the cache is behind)") > spared
            ), f"round {round_}: the new leader's cache was not behind - the round proved nothing"
            standby.proxy.thaw()
            await asyncio.to_thread(leader.ctl.start)  # back as the standby
            leader, standby = standby, leader
        for name in live:
            await world.cp.delete(r.WORKFLOW_RUN, name, namespace=namespace)
        for name in live:
            await world.wait_gone(name, within=60)
