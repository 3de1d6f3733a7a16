"""Issue 6 acceptance, with runs: relay faults in the middle of real WorkflowRuns, nothing lost.

* The gateway restarted mid-run - the controller process itself with ``--embedded-gateway`` (graceful and
  ``kill -9``), or a standalone ``choreo-controller gateway`` - costs the agent one reconnect (measured from
  the moment the gateway listens again) and the run still completes, its status never going backwards.
* The agent restarted mid-run (``kill -9``, started again only once the Argo Workflow has changed behind
  its back): the controller's open Argo watch is *resumed* from its last resourceVersion - the informer
  never relists - and no status update is missed: the run goes Pending, Running, Succeeded with all three
  tasks, its completion seconds after Argo's, not at the next resync.
* The build plane unreachable through the relay (agent stopped) while a run is deleted: the finalizer stays
  and the build-plane objects are untouched; once the agent is back, cleanup completes.
* No agent connected when a run is submitted: ``WorkflowCompleted=False/BuildPlaneUnavailable`` saying so,
  retried with backoff (no status write per retry, so no hot loop); the agent's connection (its
  ``agentConnection`` status write) starts the run at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import pytest
from e2e_support import completed, watch_reasons
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]
TASKS = [("checkout-source", "Succeeded"), ("build-image", "Succeeded"), ("publish-image", "Succeeded")]
RECONNECT_BOUND = (
    6.0  # seconds: the agent's backoff cap (5 s) and a second of slack; measured figures in the log
)
ARGO_INFORMER = "workflows.argoproj.io"
WAITING_WINDOW = 10.0  # seconds watched while a run waits for its agent
# Each attempt waits 1 s for an agent, then backs off 1, 2, 4, 8 s (earlier timers overlap later ones, as
# client-go's AddAfter does): about 5 attempts in the window. Writing status on every attempt made it 10.
MAX_WAITING_RETRIES = 6


def log_events(path, offset: int) -> list[dict]:
    """The JSON log lines of ``path`` written after byte ``offset``."""
    with path.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def stamp(event: dict) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


async def restart_gateway(controller, how: str) -> float:
    """Restart whatever serves the agents; seconds from the gateway listening again to the agent connected."""
    gateway_log = controller.gateway.log if controller.mode == "remote" else controller.log
    offset = gateway_log.stat().st_size
    if controller.mode == "remote":
        await asyncio.to_thread(controller.gateway.stop)
        await asyncio.to_thread(controller.start_gateway)
    else:
        await asyncio.to_thread(controller.kill if how == "kill-9" else controller.proc.stop)
    await controller.restarted()  # the controller ready again and the agent connected
    events = log_events(gateway_log, offset)
    listening = next(stamp(e) for e in events if e.get("event") == "gateway listening")
    connected = [stamp(e) for e in events if e.get("event") == "agent connected" and stamp(e) >= listening]
    return connected[0] - listening


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("controller", "how"),
    [
        pytest.param("relay", "sigterm", id="embedded-gateway-sigterm"),
        pytest.param("relay", "kill-9", id="embedded-gateway-kill-9"),
        pytest.param("remote", "sigterm", id="standalone-gateway-sigterm"),
    ],
    indirect=["controller"],
)
async def test_a_gateway_restarted_mid_run_costs_one_reconnect_and_the_run_completes(world, controller, how):
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "8s"}})
    follow, seen, last = await watch_reasons(world, "restart-1", within=120)
    watcher = asyncio.create_task(follow())
    await world.submit("restart-1")
    await world.wait_reason("restart-1", c.R_RUNNING, status="False", within=60)

    reconnect = await restart_gateway(controller, how)
    await asyncio.wait_for(watcher, 90)

    st = last()["status"]
    print(f"\n{controller.mode} gateway {how}: agent back {reconnect:.3f}s after it listened")  # noqa: T201 - the figure
    assert [c.R_PENDING, c.R_RUNNING, c.R_SUCCEEDED] == seen
    assert TASKS == [(t["name"], t["phase"]) for t in st["tasks"]]
    assert reconnect <= RECONNECT_BOUND, f"agent took {reconnect:.2f}s to reconnect"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("controller", ["relay"], indirect=True)
async def test_an_agent_restarted_mid_run_resumes_the_watch_and_misses_no_update(world, controller):
    await world.setup()
    steps = {
        "checkout-source": {"delay": "2s"},
        "build-image": {"delay": "3s"},
        "publish-image": {"delay": "2s"},
    }
    await world.workflow(steps=steps)
    follow, seen, last = await watch_reasons(world, "agent-1", within=120)
    watcher = asyncio.create_task(follow())
    await world.submit("agent-1")
    await world.wait_reason("agent-1", c.R_RUNNING, status="False", within=60)
    offset = controller.log.stat().st_size
    before = (await world.argo("agent-1"))["metadata"]["resourceVersion"]

    await asyncio.to_thread(controller.agent.kill)

    async def argo_moved():  # something to miss: the Argo Workflow changes while no agent is connected
        return (await world.argo("agent-1"))["metadata"]["resourceVersion"] != before

    await async_wait_for("the Argo Workflow to change while the agent is away", argo_moved, within=30)
    await asyncio.to_thread(controller.agent.start)
    back = await controller.agent_back()
    await asyncio.wait_for(watcher, 90)

    st = last()["status"]
    argo = await world.argo("agent-1")
    lag = datetime.fromisoformat(st["completedAt"]) - datetime.fromisoformat(argo["status"]["finishedAt"])
    events = log_events(controller.log, offset)
    resumed = [e for e in events if e.get("event") == "relay watch interrupted; resuming"]
    relisted = [
        e
        for e in events
        if e.get("informer") == ARGO_INFORMER
        and e.get("event") in {"informer relisted", "watch interrupted; retrying"}
    ]
    figures = f"agent back in {back:.2f}s; run completed {lag.total_seconds():.1f}s after Argo"
    print(f"\nagent kill -9: {figures}")  # noqa: T201 - the figure
    assert [c.R_PENDING, c.R_RUNNING, c.R_SUCCEEDED] == seen
    assert TASKS == [(t["name"], t["phase"]) for t in st["tasks"]]
    assert (True, []) == (bool(resumed), relisted)
    assert lag.total_seconds() <= 5.0, "the completion came late: missed by the watch, found by a resync?"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("controller", ["relay"], indirect=True)
async def test_the_finalizer_stays_while_the_agent_is_away_then_cleanup_completes(world, controller):
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "120s"}})
    await world.submit("stranded-1")
    await world.wait_reason("stranded-1", c.R_RUNNING, status="False", within=60)
    objects = await world.build_objects()
    try:
        await asyncio.to_thread(controller.agent.stop)
        await world.cp.delete(r.WORKFLOW_RUN, "stranded-1", namespace=world.namespace)
        await asyncio.sleep(5)  # the claim is that nothing happens: give the controller time to try
        run = await world.get_run("stranded-1")
        events = await world.cp.list(r.EVENT, world.namespace)
        untouched = await world.build_objects()
    finally:
        await asyncio.to_thread(controller.agent.start)
    started = time.monotonic()
    await world.wait_gone("stranded-1", within=60)
    cleaned = time.monotonic() - started
    print(f"\ncleanup completed {cleaned:.1f}s after the agent was started again")  # noqa: T201 - the figure
    assert [("ExternalSecret", "stranded-1-git"), ("Workflow", "stranded-1")] == objects == untouched
    assert (True, [labels.FINALIZER]) == (
        bool(run["metadata"].get("deletionTimestamp")),
        run["metadata"]["finalizers"],
    )
    assert "CleanupPending" in {e["reason"] for e in events.items}
    assert ("False", c.R_RUNNING) == completed(run)
    assert [] == await world.build_objects()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("controller", ["relay"], indirect=True)
async def test_a_run_waits_for_its_agent_then_runs_when_it_connects(world, controller):
    await world.setup()
    await world.workflow()
    try:
        await asyncio.to_thread(controller.agent.stop)
        await world.submit("patient-1")
        run = await world.wait_reason("patient-1", c.R_BUILD_PLANE_UNAVAILABLE, status="False", within=30)
        before = controller.reconciles(world.namespace, "patient-1")
        await asyncio.sleep(WAITING_WINDOW)  # the claim is that retries back off: count them
        retries = controller.reconciles(world.namespace, "patient-1") - before
        still = await world.get_run("patient-1")
    finally:
        await asyncio.to_thread(controller.agent.start)
    await controller.agent_back()
    connected = time.monotonic()
    await world.wait_reason("patient-1", c.R_RUNNING, status="False", within=30)
    started = time.monotonic() - connected
    done = await world.wait_reason("patient-1", c.R_SUCCEEDED, within=60)
    message = c.find(run["status"]["conditions"], c.COMPLETED)["message"]
    assert (
        "build plane 'default' cannot be reached (relay: no agent connected for plane default trusted by "
        f"BuildPlane/{world.namespace}/default); retrying with backoff"
    ) == message
    assert (run["status"], True) == (still["status"], retries <= MAX_WAITING_RETRIES), f"{retries} retries"
    assert TASKS == [(t["name"], t["phase"]) for t in done["status"]["tasks"]]
    print(f"\nwaiting run running {started:.2f}s after the agent connected")  # noqa: T201 - the figure
