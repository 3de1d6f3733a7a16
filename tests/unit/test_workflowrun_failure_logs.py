"""A failed run keeps the last log lines of its failed steps in its condition messages (issue 17, part 1).

The reconcile that first sees Argo fail reads each failed step's ``main`` log once (its pods found through the
engine: ``Engine.pod_selector``, ``Engine.step_pods``); the text outlives the
pods. A pod already gone, or logs that cannot be read, are said plainly and never hold the failure back.
"""

from __future__ import annotations

import dataclasses

import pytest
from runworld import BUILD_NS, NS, RunWorld

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import Forbidden
from choreo_controller.engines.argo import NODE_ID_ANNOTATION, POD_WORKFLOW_LABEL
from choreo_controller.reconcilers.workflowrun import WorkflowRunReconciler


@pytest.fixture
async def world():
    w = RunWorld()
    await w.setup()
    await w.submit()
    await w.step()
    return w


async def finish(world, phase: str, steps) -> None:
    """Argo ends ``phase`` with ``steps``: ``(name, phase, log lines or None for a pod that is gone)``."""
    nodes = {}
    for i, (name, step_phase, lines) in enumerate(steps):
        node_id = f"run-1-{1000 + i}"
        nodes[node_id] = {"id": node_id, "name": f"run-1[{i}].{name}", "displayName": name, "type": "Pod",
                          "phase": step_phase, "templateName": name}  # fmt: skip
        if lines is None:
            continue
        pod = f"run-1-{name}-{1000 + i}"
        await world.bp.put(r.POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": BUILD_NS, "labels": {POD_WORKFLOW_LABEL: "run-1"},
                         "annotations": {NODE_ID_ANNOTATION: node_id}},
        })  # fmt: skip
        world.bp.logs[(BUILD_NS, pod, "main")] = [line.encode() for line in lines]
    argo = world.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, "run-1")
    argo["status"] = {"phase": phase, "message": "child 'run-1-1001' failed", "nodes": nodes}
    await world.bp.put(r.ARGO_WORKFLOW, argo, event="MODIFIED")


def messages(world) -> dict[str, str]:
    return {cond["type"]: cond["message"] for cond in world.run()["status"]["conditions"]}


async def test_the_last_lines_of_each_failed_step_are_kept_and_read_once(world):
    build = [f"compiling {i}" for i in range(15)]
    await finish(world, "Failed", [("checkout", "Succeeded", ["cloned"]), ("build", "Failed", build),
                                   ("test", "Error", ["", "panic: boom"])])  # fmt: skip
    await world.step()
    failed = messages(world)[c.FAILED]
    expected = "\n".join([
        "Argo Workflow team/run-1 ... failed: child 'run-1-1001' failed",
        "--- step build: last 10 log lines ---", *build[5:],
        "--- step test: last 2 log lines ---", "", "panic: boom",
    ])  # fmt: skip
    assert expected.split("\n")[1:] == failed.split("\n")[1:]
    assert (("True", c.R_FAILED), failed) == (world.completed(), messages(world)[c.COMPLETED])
    reads = world.bp.calls.count("log")
    await world.step()
    assert (2, 2, failed) == (reads, world.bp.calls.count("log"), messages(world)[c.FAILED])


async def test_a_failed_step_whose_pod_is_gone_says_so(world):
    await finish(world, "Failed", [("build", "Failed", None)])
    await world.step()
    assert messages(world)[c.FAILED].endswith(
        "--- step build: its pod is gone (deleted or garbage-collected), no log lines ---"
    )


async def test_logs_that_cannot_be_read_never_hold_the_failure_back(world):
    world.bp.fail("list", Forbidden("relay policy: resource not in the allowlist"))
    await finish(world, "Failed", [("build", "Failed", ["x"])])
    await world.step()
    assert ("True", c.R_FAILED) == world.completed()
    assert messages(world)[c.FAILED].endswith(
        "--- log lines of the failed steps unavailable: relay policy: resource not in the allowlist ---"
    )


@pytest.mark.parametrize(
    ("phase", "cancel", "lines"),
    [
        pytest.param("Succeeded", False, 10, id="succeeded"),
        pytest.param("Failed", True, 10, id="cancelled"),
        pytest.param("Failed", False, 0, id="turned-off"),
    ],
)
async def test_no_log_is_read_unless_a_run_fails_and_lines_are_wanted(world, phase, cancel, lines):
    world.reconciler = WorkflowRunReconciler(dataclasses.replace(world.deps, failure_log_lines=lines))
    if cancel:
        patch = {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}}
        await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", patch, namespace=NS)
        await world.step()
    await finish(world, phase, [("build", "Failed" if phase == "Failed" else "Succeeded", ["x"])])
    await world.step()
    assert world.completed()[0] == "True"
    assert (0, "---" not in messages(world)[c.COMPLETED]) == (world.bp.calls.count("log"), True)
