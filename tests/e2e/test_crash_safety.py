"""Crash safety: ``kill -9`` of the controller process at random points while 50 runs are submitted.

Runs are created in small batches; after each batch the controller (started through the CLI) is killed
with SIGKILL after a random delay - during startup, mid-submission, while tracking - and restarted at once,
at least 20 times. Afterwards every run must have succeeded with exactly one Argo Workflow and one
ExternalSecret carrying its uid, and deleting the runs must leave the build namespace empty. The seed is
printed, so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from e2e_support import completed, docker_workflow

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]

RUNS = 50
KILLS = 22
BATCH = 3
FAST = {"delay": "100ms"}


async def by_uid(world, resource) -> Counter[str]:
    listed = await world.bp.list(resource, world.build_namespace, label_selector=labels.MANAGED_SELECTOR)
    return Counter(
        o["metadata"]["labels"][labels.LABEL_WORKFLOWRUN_UID]
        for o in listed.items
        if not o["metadata"].get("deletionTimestamp")
    )


@pytest.mark.timeout(480)
async def test_kill_9_at_random_points_while_50_runs_are_submitted(world, controller):
    seed = random.randrange(1 << 30)  # noqa: S311 - test jitter, not cryptography
    print(f"crash-safety seed: {seed}")  # noqa: T201 - shown on failure, to replay
    rng = random.Random(seed)  # noqa: S311
    await world.setup()
    await world.cp.create(
        r.WORKFLOW,
        docker_workflow(
            world.namespace, steps=dict.fromkeys(("checkout-source", "build-image", "publish-image"), FAST)
        ),
    )
    names = [f"crash-{i:02d}" for i in range(RUNS)]
    pending = list(names)
    kills = 0
    while kills < KILLS or pending:
        batch, pending = pending[:BATCH], pending[BATCH:]
        for name in batch:
            await world.submit(name)
        await asyncio.sleep(rng.uniform(0.05, 2.5))  # a random point in whatever the controller is doing
        controller.kill()
        kills += 1
        controller.start(wait=False)
        if rng.random() < 0.25:  # sometimes die again while starting up (informers, first reconciles)
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            controller.kill()
            kills += 1
            controller.start(wait=False)
    controller.kill()
    await controller.restarted()

    runs = {}
    for name in names:
        runs[name] = await world.wait_completed(name, within=180)
    assert dict.fromkeys(names, ("True", c.R_SUCCEEDED)) == {n: completed(o) for n, o in runs.items()}
    uids = {o["metadata"]["uid"] for o in runs.values()}
    assert kills >= 20
    assert Counter(dict.fromkeys(uids, 1)) == await by_uid(world, r.ARGO_WORKFLOW)
    assert Counter(dict.fromkeys(uids, 1)) == await by_uid(world, r.EXTERNAL_SECRET)
    for name, run in runs.items():
        assert name == run["status"]["runReference"]["name"]
        assert 3 == len(run["status"]["tasks"])

    for name in names:
        await world.cp.delete(r.WORKFLOW_RUN, name, namespace=world.namespace)
    for name in names:
        await world.wait_gone(name, within=60)
    assert [] == await world.build_objects()
