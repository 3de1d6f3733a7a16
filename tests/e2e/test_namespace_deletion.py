"""Deleting a namespace with runs in flight completes (issue 14).

Ten runs are running (an Argo Workflow and a ConfigMap each) when their namespace - and with it their
BuildPlane - is deleted. The namespace must be gone within 60 s: every run's finalizer is dropped, after a
cleanup through the plane or, once the plane object is gone, a release with a ``BuildPlaneGone`` Event.
Then the orphan sweep (``--sweep-interval=20``, ``--sweep-min-age=2`` in the e2e controller), reaching the
plane through another plane object of the same planeID (relay: the bootstrap BuildPlane), must leave none
of their objects in the build plane - counted over every kind the build plane serves.
"""

from __future__ import annotations

import time

import pytest
from e2e_support import BOTH_MODES, CONFIGMAP, NO_SECRET, inventory, with_resource
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, BOTH_MODES]
RUNS = 10


@pytest.mark.timeout(420)
async def test_a_namespace_deleted_with_ten_runs_in_flight_is_gone_in_60s_and_leaves_nothing(
    world, build_plane
):
    await world.setup()
    workflow = with_resource(world.namespace, CONFIGMAP, steps={"build-image": {"delay": "600s"}})
    await world.cp.create(r.WORKFLOW, workflow)
    names = [f"doomed-{i}" for i in range(RUNS)]
    uids = {(await world.submit(name, parameters=NO_SECRET))["metadata"]["uid"] for name in names}
    for name in names:
        await world.wait_reason(name, c.R_RUNNING, status="False", within=120)
    assert 2 * RUNS == len(await inventory(build_plane, world, uids))

    started = time.monotonic()
    await world.cp.delete(r.NAMESPACE, world.namespace)

    async def namespace_gone() -> bool:
        try:
            await world.cp.get(r.NAMESPACE, world.namespace)
        except NotFound:
            return True
        return False

    await async_wait_for("the namespace to be gone", namespace_gone, within=60)
    gone_after = time.monotonic() - started

    async def nothing_left() -> bool:
        return not await inventory(build_plane, world, uids)

    await async_wait_for("no object of the runs in the build plane", nothing_left, within=90, interval=1.0)
    clean_after = time.monotonic() - started
    print(f"namespace gone after {gone_after:.1f}s; build plane clean after {clean_after:.1f}s")  # noqa: T201
