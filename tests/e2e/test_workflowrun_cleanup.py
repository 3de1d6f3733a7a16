"""TTL and cleanup on the real planes: runs expire, deletes clean the build plane, finalizers wait for it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from e2e_support import BOTH_MODES, completed, in_plane_thread
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, BOTH_MODES]


def completed_at(run) -> datetime:
    return datetime.fromisoformat(run["status"]["completedAt"])


async def test_ttl_deletes_a_finished_run_and_its_build_plane_objects(world):
    await world.setup()
    await world.workflow()
    await world.submit("ttl-1", ttl="5s")
    run = await world.wait_completed("ttl-1", within=60)
    assert ("True", c.R_SUCCEEDED) == completed(run)
    assert [("ExternalSecret", "ttl-1-git"), ("Workflow", "ttl-1")] == await world.build_objects()

    await world.wait_gone("ttl-1", within=30)
    waited = (datetime.now(UTC) - completed_at(run)).total_seconds()
    assert 4.0 <= waited <= 9.0, f"deleted {waited:.1f}s after completion, TTL 5s"
    assert [] == await world.build_objects()


async def test_an_early_failure_is_deleted_after_its_ttl_too(world):
    await world.setup()
    await world.workflow(ttl="5s")  # the run has none of its own: copied from the Workflow
    await world.submit("bad-params", parameters={"repository": {"url": 42}})
    run = await world.wait_completed("bad-params", within=30)
    assert (("True", c.R_INVALID_PARAMETERS), "5s") == (completed(run), run["spec"]["ttlAfterCompletion"])

    await world.wait_gone("bad-params", within=30)
    waited = (datetime.now(UTC) - completed_at(run)).total_seconds()
    assert 4.0 <= waited <= 9.0, f"deleted {waited:.1f}s after completion, TTL 5s"


async def test_deleting_a_running_run_removes_its_build_plane_objects_then_the_finalizer(world):
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "60s"}})
    await world.submit("doomed-1")
    run = await world.wait_reason("doomed-1", c.R_RUNNING, status="False", within=60)
    assert [labels.FINALIZER] == run["metadata"]["finalizers"]
    assert [("ExternalSecret", "doomed-1-git"), ("Workflow", "doomed-1")] == await world.build_objects()

    await world.cp.delete(r.WORKFLOW_RUN, "doomed-1", namespace=world.namespace)
    await world.wait_gone("doomed-1", within=30)
    assert [] == await world.build_objects()  # gone, or at least being deleted, before the finalizer went


@pytest.mark.timeout(300)
async def test_the_finalizer_stays_while_the_build_plane_is_down(world, build_plane):
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "120s"}})
    await world.submit("stranded-1")
    await world.wait_reason("stranded-1", c.R_RUNNING, status="False", within=60)
    try:
        await in_plane_thread(build_plane.stop)
        await world.cp.delete(r.WORKFLOW_RUN, "stranded-1", namespace=world.namespace)
        await asyncio.sleep(5)  # the claim is that nothing happens: give the controller time to try
        run = await world.get_run("stranded-1")
        assert run is not None
        assert (True, [labels.FINALIZER]) == (
            bool(run["metadata"].get("deletionTimestamp")),
            run["metadata"]["finalizers"],
        )
        events = await world.cp.list(r.EVENT, world.namespace)
        assert "CleanupPending" in {e["reason"] for e in events.items}
    finally:
        await in_plane_thread(build_plane.start)
    await world.wait_gone("stranded-1", within=120)
    assert [] == await world.build_objects()


def external_secret(name: str, namespace: str, obj_labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
        "metadata": {"name": name, "namespace": namespace, "labels": obj_labels},
        "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "openbao"}, "target": {"name": name}},
    }  # fmt: skip


async def test_a_run_labelled_by_the_previous_release_is_tracked_and_cleaned_up(world):
    """Objects of a run submitted before the upgrade carry ``managed-by: choreo-controller``: still ours."""
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "8s"}})
    n = "before-1"
    await world.submit(n)
    run = await world.wait_reason(n, c.R_RUNNING, status="False", within=60)
    before = {labels.LABEL_MANAGED_BY: labels.MANAGED_BY_BEFORE}
    for resource, name in ((r.ARGO_WORKFLOW, n), (r.EXTERNAL_SECRET, f"{n}-git")):
        await world.bp.merge_patch(
            resource, name, {"metadata": {"labels": before}}, namespace=world.build_namespace
        )
    # created for this run by the previous release before a crash, never recorded in its status
    uid = run["metadata"]["uid"]
    leftover = {**labels.run_labels(n, world.namespace, uid), **before}
    await world.bp.create(r.EXTERNAL_SECRET, external_secret(f"{n}-left", world.build_namespace, leftover))

    # the Argo Workflow's progress after the relabel reaches the run by watch (the safety resync is 600 s)
    done = await world.wait_completed(n, within=60)
    assert ("True", c.R_SUCCEEDED) == completed(done), done["status"].get("conditions")
    objects = [("ExternalSecret", f"{n}-git"), ("ExternalSecret", f"{n}-left"), ("Workflow", n)]
    assert objects == await world.build_objects()
    await world.cp.delete(r.WORKFLOW_RUN, n, namespace=world.namespace)
    await world.wait_gone(n, within=30)
    assert [] == await world.build_objects()


async def test_the_orphan_sweep_deletes_objects_whose_run_is_gone(world, controller):
    await world.setup()
    ghost = labels.run_labels("ghost", world.namespace, "00000000-0000-0000-0000-00000000dead")
    ghost_before = {**ghost, labels.LABEL_MANAGED_BY: labels.MANAGED_BY_BEFORE}  # the previous release's
    keep = {**ghost, labels.LABEL_MANAGED_BY: "someone-else"}
    await world.bp.create(
        r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": world.build_namespace}}
    )
    for name, obj_labels in (("ghost", ghost), ("ghost-before", ghost_before), ("not-ours", keep)):
        meta = {"name": name, "namespace": world.build_namespace, "labels": obj_labels}
        await world.bp.create(r.ARGO_WORKFLOW, {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta,
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
        })  # fmt: skip
        await world.bp.create(r.EXTERNAL_SECRET, external_secret(name, world.build_namespace, obj_labels))
    assert 6 == len(await world.build_objects())

    controller.kill()  # and a fresh process sweeps once its caches have synced (and, relayed, its agent is back)
    await controller.restarted()

    async def swept():
        return len(await world.build_objects()) == 2

    await async_wait_for("the orphan sweep", swept, within=45)
    assert [("ExternalSecret", "not-ours"), ("Workflow", "not-ours")] == await world.build_objects()
