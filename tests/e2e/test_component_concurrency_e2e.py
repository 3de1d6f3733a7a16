"""Component CI under bursts of pushes: ``Component.spec.workflow.concurrency`` end to end. Pushes sent all at
once through the real receiver build one at a time in the gate's order under ``Queue`` (the default), leave
only the newest running under ``CancelInProgress``, overlap under ``Allow``; whichever way, the Workload ends
with the newest commit's image (the order guard keeps an older build's Workload out).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from argo_outputs import StepOutputs
from component_support import OUTPUTS, applied_workload, built_image, push, serve
from e2e_support import BOTH_MODES, Holders

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.reconcilers.concurrency import order_key

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def _commits(count):
    """``count`` distinct commits, one second apart in commit time, oldest first."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "after": hashlib.sha1(f"{i}".encode(), usedforsecurity=False).hexdigest(),
            "committed_at": (base + timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


async def _burst(world, owner, commits, within):
    """Push ``commits`` all at once (a burst: the webhooks reach the receiver in any order), then wait for
    every run; ``(runs in commit order, holders, errors)``.
    """
    server, task = await serve(world)
    try:
        async with (
            StepOutputs(world.bp, world.build_namespace, OUTPUTS) as harness,
            Holders(world) as holders,
        ):
            started = time.monotonic()
            answers = await asyncio.gather(*(push(server, owner, **commit) for commit in commits))
            window = time.monotonic() - started
            print(f"\n{len(commits)} pushes sent in {window:.2f}s")  # noqa: T201 - the figure
            assert [(200, 1)] * len(commits) == [(s, a["triggeredBuilds"]) for s, a in answers], answers
            names = [answer["workflowRuns"][0].split("/")[1] for _, answer in answers]
            started = time.monotonic()
            runs = await asyncio.gather(*(world.wait_completed(name, within=within) for name in names))
            took = time.monotonic() - started
            print(f"{len(names)} pushes: every run completed {took:.1f}s after the last")  # noqa: T201 - the figure
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return runs, holders, harness.errors


def _outcome(run):
    cond = c.find(run["status"]["conditions"], c.COMPLETED)
    return cond["reason"], cond["message"]


def _wrote(run):
    """``(commit, WorkloadUpdated status, reason)`` of a finished build."""
    updated = c.find(run["status"]["conditions"], c.WORKLOAD_UPDATED) or {}
    commit = run["metadata"]["annotations"][labels.ANNOTATION_COMMIT]
    return commit, updated.get("status"), updated.get("reason")


def _admitted_out_of_order(runs, order):
    """Admissions that broke the gate's rule: a run admitted while a run older by ``order_key`` (creation,
    then commit time) already existed - created in an earlier second than the admission - and waited.

    A run created after the admission could not be seen by it; both timestamps have second precision, so
    only a run created in an earlier second surely existed.
    """
    by_name = {run["metadata"]["name"]: run for run in runs}
    broken = []
    for i, name in enumerate(order):
        admitted = by_name[name]["status"]["concurrency"]["admittedAt"]
        broken += [
            (name, later)
            for later in order[i + 1 :]
            if by_name[later]["metadata"]["creationTimestamp"] < admitted
            and order_key(by_name[later]) < order_key(by_name[name])
        ]
    return broken


@pytest.mark.timeout(900)
@pytest.mark.parametrize("count", [5, 10])
async def test_a_burst_of_pushes_under_queue_runs_one_at_a_time_in_commit_order(component_world, count):
    world, owner = component_world  # no policy set: Queue, the default
    commits = _commits(count)

    runs, holders, errors = await _burst(world, owner, commits, within=600)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert [c.R_SUCCEEDED] * count == [_outcome(run)[0] for run in runs]
    # Never two at once, and each admission in the gate's order (README, Concurrency). Sent all at once, the
    # webhooks may be answered - and their runs created - out of commit order; then an older commit can build
    # after a newer one, and the order guard keeps its Workload out.
    assert (sorted(names), 1) == (sorted(holders.order), holders.most)
    assert any(c.R_QUEUED in holders.reasons[name] for name in names)  # the pushes did contend
    assert [] == _admitted_out_of_order(runs, holders.order)
    wrote = {("True", c.R_WORKLOAD_UPDATED), ("False", c.R_SUPERSEDED)}
    assert [(commit["after"], True) for commit in commits] == [
        (w[0], w[1:] in wrote) for w in map(_wrote, runs)
    ]
    assert (built_image(world, commits[-1]["after"]), names[-1]) == await applied_workload(world)


@pytest.mark.timeout(420)
@BOTH_MODES  # relay: the cancels and the run objects go through the gateway and agent over mTLS
@pytest.mark.parametrize("component_world", ["CancelInProgress"], indirect=True)
async def test_five_pushes_under_cancel_in_progress_leave_only_the_newest_running(component_world):
    world, owner = component_world
    commits = _commits(5)

    runs, holders, errors = await _burst(world, owner, commits, within=300)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert (c.R_SUCCEEDED, "True") == (_outcome(runs[-1])[0], _wrote(runs[-1])[1])
    for older, run in enumerate(runs[:-1]):
        reason, message = _outcome(run)
        by = message.removeprefix("Cancelled: superseded by run '").split("'", 1)[0]
        assert (c.R_CANCELLED, True) == (reason, by in names[older + 1 :]), message
    assert 1 == holders.most
    assert (built_image(world, commits[-1]["after"]), names[-1]) == await applied_workload(world)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("component_world", ["Allow"], indirect=True)
async def test_five_pushes_under_allow_run_together_and_the_newest_workload_stays(component_world):
    world, owner = component_world
    commits = _commits(5)

    runs, holders, errors = await _burst(world, owner, commits, within=300)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert [c.R_SUCCEEDED] * 5 == [_outcome(run)[0] for run in runs]
    assert holders.most > 1  # no gate: the builds overlap
    assert ("True", c.R_WORKLOAD_UPDATED) == _wrote(runs[-1])[1:]
    assert all(_wrote(run)[1:] in {("True", c.R_WORKLOAD_UPDATED), ("False", c.R_SUPERSEDED)} for run in runs)
    assert (built_image(world, commits[-1]["after"]), names[-1]) == await applied_workload(world)
