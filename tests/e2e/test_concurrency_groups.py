"""Concurrency groups of a generic Workflow on the real planes: ``spec.concurrency.group`` rendered per run.

Runs whose group renders to the same text (here: the branch) share it under the Workflow's policy; a run of
another group is not held back by them.
"""

from __future__ import annotations

import asyncio

import pytest
from e2e_support import NO_SECRET, Holders

from choreo_controller.api import conditions as c

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


def _on(branch):
    return {**NO_SECRET, "repository": {**NO_SECRET["repository"], "revision": {"branch": branch}}}


@pytest.mark.timeout(300)
async def test_runs_of_one_branch_queue_and_another_branch_runs_beside_them(world):
    await world.setup()
    await world.workflow(concurrency={"group": "${parameters.repository.revision.branch}", "policy": "Queue"})
    names = ["main-1", "main-2", "main-3", "dev-1"]

    async with Holders(world) as holders:
        for name in names:
            await world.submit(name, parameters=_on(name.split("-")[0]))
        runs = [await world.wait_completed(name, within=180) for name in names]

    assert [c.R_SUCCEEDED] * 4 == [c.find(run["status"]["conditions"], c.COMPLETED)["reason"] for run in runs]
    assert [("main", "Queue")] * 3 + [("dev", "Queue")] == [
        (run["status"]["concurrency"]["group"], run["status"]["concurrency"]["policy"]) for run in runs
    ]
    assert (1, ["main-1", "main-2", "main-3"]) == (
        holders.most_in["main"],
        [name for name in holders.order if name.startswith("main")],
    )
    assert [False, True, True, False] == [c.R_QUEUED in holders.reasons[name] for name in names]


@pytest.mark.timeout(300)
async def test_cancel_in_progress_in_a_group_names_the_run_that_superseded(world):
    await world.setup()
    await world.workflow(
        concurrency={"group": "${parameters.repository.revision.branch}", "policy": "CancelInProgress"},
        steps={"build-image": {"delay": "20s"}},
    )
    await world.submit("main-1", parameters=_on("main"))
    await world.wait_run(
        "main-1", "submitted", lambda run: bool((run.get("status") or {}).get("runReference"))
    )

    await world.submit("main-2", parameters=_on("main"))
    first, second = await asyncio.gather(
        world.wait_completed("main-1"), world.wait_completed("main-2", within=120)
    )

    done = c.find(first["status"]["conditions"], c.COMPLETED)
    assert (c.R_CANCELLED, True) == (
        done["reason"],
        done["message"].startswith(
            "Cancelled: superseded by run 'main-2' (concurrency policy CancelInProgress)"
        ),
    ), done["message"]
    assert c.R_SUCCEEDED == c.find(second["status"]["conditions"], c.COMPLETED)["reason"]
