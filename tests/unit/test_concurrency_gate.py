"""The concurrency gate in the WorkflowRun engine: queued runs wait with a reason and no timer, start when
their holder completes; a newer run supersedes older ones under CancelInProgress; a stale cache cannot
admit two runs of one group. On the in-memory apiserver of ``runworld`` (real semantics, fake clock)."""

from __future__ import annotations

import pytest
from runworld import BUILD_NS, NS, RunWorld, sample

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import Result


async def world_with(policy: str, group: str = "${parameters.image}") -> RunWorld:
    workflow = sample("workflow-generic.yaml")
    workflow["spec"]["concurrency"] = {"group": group, "policy": policy}
    world = RunWorld()
    await world.setup(workflow=workflow)
    return world


def argo(world: RunWorld, name: str):
    return world.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, name)


async def test_queued_runs_wait_naming_the_holder_and_start_in_order_when_it_completes():
    world = await world_with("Queue")
    for name in ("run-1", "run-2", "run-3"):
        await world.submit(name)
    assert Result() == await world.step("run-1")
    assert Result() == await world.step("run-2")  # no requeue_after: the group's next change wakes it
    await world.step("run-3")

    group = "concurrency group 'alpine:3.20', policy Queue"
    assert [
        ("False", c.R_PENDING),
        ("False", c.R_QUEUED),
        ("False", c.R_QUEUED),
    ] == [world.completed(n) for n in ("run-1", "run-2", "run-3")]
    assert (
        f"Queued behind run 'run-1' in {group}; 1 run ahead of this one",
        f"Queued behind run 'run-1' in {group}; 2 runs ahead of this one",
        None,
        None,
    ) == (world.message("run-2"), world.message("run-3"), argo(world, "run-2"), argo(world, "run-3"))
    assert {"group": "alpine:3.20", "policy": "Queue"} == world.run("run-2")["status"]["concurrency"]
    assert world.run("run-1")["status"]["concurrency"]["admittedAt"]

    await world.argo_phase("Succeeded", "run-1")
    await world.step("run-1")
    await world.step("run-3")  # woken too, but run-2 is older
    await world.step("run-2")
    assert [("True", c.R_SUCCEEDED), ("False", c.R_PENDING), ("False", c.R_QUEUED)] == [
        world.completed(n) for n in ("run-1", "run-2", "run-3")
    ]
    assert (argo(world, "run-2") is not None, world.message("run-3")) == (
        True,
        f"Queued behind run 'run-2' in {group}; 1 run ahead of this one",
    )
    assert "Queued" in world.events.reasons()


async def test_runs_of_other_groups_do_not_wait():
    world = await world_with("Queue")
    await world.submit("run-1")
    await world.submit("run-2", image="busybox:1.36")
    await world.step("run-1")
    await world.step("run-2")
    assert [("False", c.R_PENDING)] * 2 == [world.completed(n) for n in ("run-1", "run-2")]
    assert (
        world.run("run-1")["metadata"]["labels"][labels.LABEL_CONCURRENCY_GROUP]
        != (world.run("run-2")["metadata"]["labels"][labels.LABEL_CONCURRENCY_GROUP])
    )


async def test_a_newer_run_cancels_the_one_in_progress_which_says_who_superseded_it():
    world = await world_with("CancelInProgress")
    await world.submit("run-1")
    await world.step("run-1")
    await world.argo_phase("Running", "run-1")
    world.clock.step(1)
    await world.submit("run-2")
    await world.step("run-2")

    assert (
        {labels.ANNOTATION_CANCEL: "true", labels.ANNOTATION_SUPERSEDED_BY: "run-2"},
        ("False", c.R_QUEUED),
        (
            "Waiting for run 'run-1', superseded by this one, to stop "
            "(concurrency group 'alpine:3.20', policy CancelInProgress)"
        ),
    ) == (world.run("run-1")["metadata"]["annotations"], world.completed("run-2"), world.message("run-2"))

    await world.step("run-1")  # its cancel path asks Argo to stop
    assert "Terminate" == argo(world, "run-1")["spec"]["shutdown"]
    await world.argo_phase("Failed", "run-1")
    await world.step("run-1")
    await world.step("run-2")
    assert (("True", c.R_CANCELLED), ("False", c.R_PENDING)) == (
        world.completed("run-1"),
        world.completed("run-2"),
    )
    assert world.message("run-1").startswith(
        "Cancelled: superseded by run 'run-2' (concurrency policy CancelInProgress); Argo Workflow stopped"
    )


async def test_an_older_run_seen_after_a_newer_one_is_superseded_before_it_runs():
    world = await world_with("CancelInProgress")
    await world.submit("run-1")
    world.clock.step(1)
    await world.submit("run-2")
    await world.step("run-2")  # the newer run is handled first: it cancels run-1, then starts
    await world.step("run-1")
    assert (("False", c.R_PENDING), ("True", c.R_CANCELLED), None) == (
        world.completed("run-2"),
        world.completed("run-1"),
        argo(world, "run-1"),
    )
    # run-1 was not in the group's index yet (a generic run is labelled by its own gate), so run-2 could not
    # cancel it: run-1's own gate finds the newer run.
    assert (
        "Cancelled: superseded by run 'run-2' in concurrency group 'alpine:3.20', policy CancelInProgress, "
        "before it was submitted; nothing ran"
    ) == world.message("run-1")


async def test_a_stale_cache_cannot_admit_a_second_run_of_the_group():
    world = await world_with("Queue")
    await world.submit("run-b")
    await world.submit("run-a")  # same second, sorts first by name: older
    world.caches.runs.freeze()  # the cache will miss run-b's admission (a new leader's, say)
    await world.step("run-b")
    world.caches.runs.thaw()
    assert world.run("run-b")["status"]["concurrency"]["admittedAt"]
    world.caches.runs.freeze(
        {k: v for k, v in world.caches.runs.snapshot().items() if k[2] != "run-b"}
        | _unadmitted(world, "run-b")
    )
    await world.step("run-a")  # by the stale cache it is the oldest and alone; the live read says otherwise
    assert (("False", c.R_QUEUED), None) == (world.completed("run-a"), argo(world, "run-a"))
    assert "Queued behind run 'run-b'" in world.message("run-a")


def _unadmitted(world: RunWorld, name: str) -> dict:
    before = world.caches.runs.snapshot()
    key = next(k for k in before if k[2] == name)
    obj = before[key]
    obj["status"] = {}
    return {key: obj}


async def test_allow_runs_everything_at_once():
    world = await world_with("Allow")
    for name in ("run-1", "run-2"):
        await world.submit(name)
        await world.step(name)
    assert [("False", c.R_PENDING)] * 2 == [world.completed(n) for n in ("run-1", "run-2")]
    assert {"group": "alpine:3.20", "policy": "Allow"} == world.run("run-2")["status"]["concurrency"]


@pytest.mark.parametrize(
    ("group", "words"),
    [
        pytest.param("${parameters.env}", "spec.concurrency.group", id="render-error"),
        pytest.param("${parameters.args}", "must render to a non-empty string", id="a-list"),
        pytest.param(
            '${parameters.retries == 0 ? "" : "x"}', "must render to a non-empty string", id="empty"
        ),
    ],
)
async def test_a_group_that_cannot_render_fails_the_run(group, words):
    world = await world_with("Queue", group=group)
    await world.submit("run-1")
    await world.step("run-1")
    assert (("True", c.R_RENDER_FAILED), None) == (world.completed("run-1"), argo(world, "run-1"))
    assert words in world.message("run-1")


async def test_a_component_run_queues_on_its_component_with_its_policy():
    world = RunWorld()
    await world.setup()
    await world.cp.create(r.COMPONENT, _component("CancelInProgress"))
    for name in ("run-1", "run-2"):
        await world.cp.create(r.WORKFLOW_RUN, _component_run(name))
        world.clock.step(1)
    await world.step("run-2")
    await world.step("run-1")
    assert (("False", c.R_PENDING), ("True", c.R_CANCELLED)) == (
        world.completed("run-2"),
        world.completed("run-1"),
    )
    assert "superseded by run 'run-2'" in world.message("run-1")
    assert {"group": "greeter", "policy": "CancelInProgress"} == {
        k: v for k, v in world.run("run-2")["status"]["concurrency"].items() if k != "admittedAt"
    }


def _component(policy: str) -> dict:
    return {
        "apiVersion": r.API_VERSION, "kind": "Component", "metadata": {"name": "greeter", "namespace": NS},
        "spec": {"owner": {"projectName": "shop"}, "componentType": "deployment/service",
                 "workflow": {"name": "run-container", "concurrency": {"policy": policy}}},
    }  # fmt: skip


def _component_run(name: str) -> dict:
    return {
        "apiVersion": r.API_VERSION, "kind": "WorkflowRun",
        "metadata": {"name": name, "namespace": NS,
                     "labels": {labels.LABEL_PROJECT: "shop", labels.LABEL_COMPONENT: "greeter"}},
        "spec": {"workflow": {"name": "run-container", "parameters": {"image": "alpine:3.20"}}},
    }  # fmt: skip
