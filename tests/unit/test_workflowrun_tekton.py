"""A run of the sample Tekton Workflow through the reconciler, on the in-memory planes (``runworld``).

The same lifecycle as an Argo run - submit, track, cancel, a failure's log tail, cleanup - with the engine
chosen by the rendered PipelineRun. Tekton's part (the PipelineRun's and TaskRuns' status) is written here
as Tekton v1.6 writes it; ``tests/e2e/test_tekton_e2e.py`` runs the real Tekton.
"""

from __future__ import annotations

import pytest
from runworld import BUILD_NS, NS, RunWorld, sample

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import Result

PR, TR = r.TEKTON_PIPELINE_RUN, r.TEKTON_TASK_RUN
TASKS = ("checkout-source", "build-image", "publish-image")


@pytest.fixture
async def world():
    w = RunWorld()
    await w.setup(workflow=sample("workflow-tekton-docker.yaml"))
    await w.cp.create(r.WORKFLOW_RUN, {
        "apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": {"name": "run-1", "namespace": NS},
        "spec": {"workflow": {"name": "docker-tekton",
                              "parameters": {"repository": {"url": "https://github.com/acme/app"}}}},
    })  # fmt: skip
    await w.step()
    return w


def condition(status, reason, message=""):
    return [{"type": "Succeeded", "status": status, "reason": reason, "message": message}]


async def tekton_reports(world, status, reason, tasks, *, message="", skipped=()):
    """Tekton's state: the PipelineRun's condition and children, one TaskRun (and pod) per ``tasks`` entry."""
    for i, (name, task_status, task_reason, steps) in enumerate(tasks):
        task_run = {
            "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": f"run-1-{name}", "namespace": BUILD_NS,
                         "labels": {"tekton.dev/pipelineRun": "run-1", "tekton.dev/pipelineTask": name}},
            "status": {"conditions": condition(task_status, task_reason, f"{name}: {task_reason}"),
                       "podName": f"run-1-{name}-pod", "startTime": f"2026-03-01T10:00:0{i}Z",
                       "steps": [{"name": s, "container": f"step-{s}", "terminated": {"exitCode": code}}
                                 for s, code in steps]},
        }  # fmt: skip
        await world.bp.put(TR, task_run)
        await world.bp.put(r.POD, {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"run-1-{name}-pod", "namespace": BUILD_NS, "labels": {"tekton.dev/pipelineRun": "run-1"}}})  # fmt: skip
    pipeline_run = world.bp.stored(PR, BUILD_NS, "run-1")
    pipeline_run["status"] = {
        "conditions": condition(status, reason, message),
        "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"run-1-{name}",
                             "pipelineTaskName": name} for name, *_ in tasks],
        "skippedTasks": [{"name": name, "reason": "Parent Tasks were skipped"} for name in skipped],
    }  # fmt: skip
    await world.bp.put(PR, pipeline_run, event="MODIFIED")


def failed_message(world) -> str:
    return c.find(world.run()["status"]["conditions"], c.FAILED)["message"]


async def test_the_pipeline_run_is_submitted_with_workflow_sa_and_no_role(world):
    st = world.run()["status"]
    pipeline_run = world.bp.stored(PR, BUILD_NS, "run-1")
    assert {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "run-1", "namespace": BUILD_NS} == (
        st["runReference"]
    )
    assert "workflow-sa" == pipeline_run["spec"]["taskRunTemplate"]["serviceAccountName"]
    assert pipeline_run["metadata"]["labels"][labels.LABEL_WORKFLOWRUN_UID] == world.run()["metadata"]["uid"]
    assert [("Namespace", BUILD_NS), ("ServiceAccount", "workflow-sa")] == sorted(
        (o["kind"], o["metadata"]["name"]) for o in world.bp.objects.values() if o["kind"] in {
            "Namespace", "ServiceAccount", "Role", "RoleBinding"}
    )  # fmt: skip
    assert (
        "Normal",
        "Submitted",
        f"Tekton PipelineRun {BUILD_NS}/run-1 created in build plane 'default'",
    ) in (world.events.recorded)


async def test_tasks_follow_the_task_runs_and_the_run_succeeds(world):
    ok = [("run", 0)]
    await tekton_reports(world, "Unknown", "Running", [("checkout-source", "True", "Succeeded", ok),
                                                       ("build-image", "Unknown", "Running", ok)])  # fmt: skip
    await world.step()
    assert ("False", c.R_RUNNING) == world.completed()
    assert [("checkout-source", "Succeeded"), ("build-image", "Running")] == [
        (t["name"], t["phase"]) for t in world.run()["status"]["tasks"]
    ]
    world.clock.step(2)  # past the progress coalescing
    await tekton_reports(world, "True", "Succeeded", [(t, "True", "Succeeded", ok) for t in TASKS])
    await world.step()
    assert ("True", c.R_SUCCEEDED) == world.completed()
    assert [(t, "Succeeded") for t in TASKS] == [
        (t["name"], t["phase"]) for t in world.run()["status"]["tasks"]
    ]


async def test_a_failed_task_is_named_with_the_last_lines_of_its_failed_step(world):
    world.bp.logs[(BUILD_NS, "run-1-build-image-pod", "step-compile")] = [
        b"go build",
        b"main.go:3: undefined: x",
    ]
    failing = [("compile", 1), ("test", 1)]
    await tekton_reports(
        world, "False", "Failed",
        [("checkout-source", "True", "Succeeded", [("clone", 0)]), ("build-image", "False", "Failed", failing)],
        message="Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1", skipped=("publish-image",),
    )  # fmt: skip
    world.bp.objects[("taskruns", BUILD_NS, "run-1-build-image")]["status"]["steps"][1][
        "terminationReason"
    ] = "Skipped"
    await world.step()
    assert ("True", c.R_FAILED) == world.completed()
    assert failed_message(world) == "\n".join([
        (f"Tekton PipelineRun {BUILD_NS}/run-1 in build plane 'default' failed: task 'build-image' failed "
         "(build-image: Failed); Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"),
        "--- step build-image: last 2 log lines ---", "go build", "main.go:3: undefined: x",
    ])  # fmt: skip
    assert 1 == world.bp.calls.count("log")  # the failed step's container only: the entrypoint skipped "test"


async def test_cancel_sets_spec_status_and_the_cancelled_pipeline_run_ends_the_run_cancelled(world):
    patch = {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}}
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", patch, namespace=NS)
    await world.step()
    assert "Cancelled" == world.bp.stored(PR, BUILD_NS, "run-1")["spec"]["status"]
    patches = world.bp.calls.count("merge_patch")
    await world.step()
    assert patches == world.bp.calls.count("merge_patch")  # asked once
    await tekton_reports(world, "False", "Cancelled", [("checkout-source", "False", "TaskRunCancelled", [])],
                         message='PipelineRun "run-1" was cancelled')  # fmt: skip
    await world.step()
    assert ("True", c.R_CANCELLED) == world.completed()
    assert failed_message(world).startswith("Cancelled on request; Tekton PipelineRun stopped: ")


async def test_an_unsynced_task_run_cache_is_waited_for_without_a_write(world):
    world.planes.view.unsynced.add(TR)
    before = world.run()
    assert (Result(requeue_after=1.0), before) == (await world.step(), world.run())
    world.planes.view.unsynced.clear()
    assert Result() == await world.step()


async def test_deleting_the_run_deletes_the_pipeline_run(world):
    await world.cp.delete(r.WORKFLOW_RUN, "run-1", namespace=NS)
    await world.step()
    assert (None, None) == (world.run(), world.bp.stored(PR, BUILD_NS, "run-1"))
