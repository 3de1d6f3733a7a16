"""A WorkflowRun end to end on the real planes: the Docker sample succeeds, a failing step fails, cancel."""

from __future__ import annotations

import asyncio

import pytest
from e2e_support import BOTH_MODES, completed, watch_reasons
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, BOTH_MODES]


async def test_docker_sample_run_succeeds_with_three_tasks_in_order(world):
    await world.setup()
    await world.workflow()
    follow, seen, last = await watch_reasons(world, "build-1")
    watcher = asyncio.create_task(follow())
    created = await world.submit("build-1")
    await asyncio.wait_for(watcher, 90)

    run = last()
    st = run["status"]
    tasks = st["tasks"]
    assert [c.R_PENDING, c.R_RUNNING, c.R_SUCCEEDED] == seen
    assert ("True", "True") == (
        c.find(st["conditions"], c.SUCCEEDED)["status"],
        c.find(st["conditions"], c.COMPLETED)["status"],
    )
    assert [
        ("checkout-source", "Succeeded"),
        ("build-image", "Succeeded"),
        ("publish-image", "Succeeded"),
    ] == [(t["name"], t["phase"]) for t in tasks]
    assert all(t["startedAt"] <= t["completedAt"] for t in tasks)
    assert [t["startedAt"] for t in tasks] == sorted(t["startedAt"] for t in tasks)
    assert st["startedAt"] <= st["completedAt"]
    assert {"kind": "BuildPlane", "name": "default", "planeID": "default"} == st["plane"]
    assert {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "name": "build-1",
        "namespace": world.build_namespace,
    } == st["runReference"]
    assert [
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "ExternalSecret",
            "name": "build-1-git",
            "namespace": world.build_namespace,
        }
    ] == st["resources"]

    argo = await world.argo("build-1")
    uid = created["metadata"]["uid"]
    assert labels.run_labels("build-1", world.namespace, uid).items() <= argo["metadata"]["labels"].items()
    arguments = {p["name"]: p["value"] for p in argo["spec"]["arguments"]["parameters"]}
    assert all(isinstance(v, str) for v in arguments.values())
    assert {
        "git-repo": "https://github.com/acme/payments",
        "platforms": "linux/amd64",
        "build-args": "{}",
        "push": "true",
        "git-secret": "build-1-git",
        "image-tag": "build-1",
    }.items() <= arguments.items()
    secret = await world.bp.get(r.EXTERNAL_SECRET, "build-1-git", world.build_namespace)
    assert uid == secret["metadata"]["labels"][labels.LABEL_WORKFLOWRUN_UID]

    async def submitted():
        events = (await world.cp.list(r.EVENT, world.namespace)).items
        about = [e for e in events if e["involvedObject"]["uid"] == uid]
        return about if any(e["reason"] == "Submitted" for e in about) else None

    # Events are written off the reconcile path: the last one may trail the status. The one Event of a
    # run that succeeds says what the controller did; Pending, Running, Succeeded are in the conditions.
    (event,) = await async_wait_for("the Submitted Event", submitted, within=10)
    assert ("Normal", f"Argo Workflow {world.build_namespace}/build-1 created in build plane 'default'") == (
        event["type"],
        event["message"],
    )


async def test_failing_step_ends_workflow_failed(world):
    await world.setup()
    await world.workflow(steps={"build-image": {"fail": "true"}})
    await world.submit("broken-1")
    run = await world.wait_completed("broken-1", within=60)
    st = run["status"]
    assert ("True", c.R_FAILED) == completed(run)
    assert ("True", c.R_FAILED) == tuple(c.find(st["conditions"], c.FAILED)[k] for k in ("status", "reason"))
    assert [("checkout-source", "Succeeded"), ("build-image", "Failed")] == [
        (t["name"], t["phase"]) for t in st["tasks"]
    ]


async def test_cancelling_a_running_run_ends_cancelled(world):
    await world.setup()
    await world.workflow(steps={"build-image": {"delay": "60s"}})
    await world.submit("slow-1")
    await world.wait_reason("slow-1", c.R_RUNNING, status="False", within=60)
    await world.cp.merge_patch(
        r.WORKFLOW_RUN,
        "slow-1",
        {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}},
        namespace=world.namespace,
    )
    run = await world.wait_completed("slow-1", within=45)
    argo = await world.argo("slow-1")
    assert ("True", c.R_CANCELLED) == completed(run)
    assert c.R_CANCELLED == c.find(run["status"]["conditions"], c.FAILED)["reason"]
    assert ("Terminate", "Failed") == (argo["spec"].get("shutdown"), argo["status"]["phase"])


async def test_cancel_before_submission_submits_nothing(world):
    await world.setup()
    await world.workflow()
    await world.submit("never-1", annotations={labels.ANNOTATION_CANCEL: "true"})
    run = await world.wait_completed("never-1", within=30)
    assert ("True", c.R_CANCELLED) == completed(run)
    assert (None, []) == (run["status"].get("runReference"), await world.build_objects())
