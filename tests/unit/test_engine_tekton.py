"""Tekton Pipelines as an ``Engine``: PipelineRun + TaskRuns -> phase, tasks, message, results; cancel (pure).

The objects are shaped as Tekton v1.6 writes them (``tests/integration/test_tekton_build_plane.py`` and
``tests/e2e/test_tekton_e2e.py`` see the real ones): the PipelineRun's minimal status names its TaskRuns in
``childReferences``; each TaskRun carries its own ``Succeeded`` condition, times and results.
"""

from __future__ import annotations

import pytest

from choreo_controller.api import resources as r
from choreo_controller.engines import engine_for
from choreo_controller.engines.tekton import TEKTON
from choreo_controller.render.finish import engine_fixes

SPEC = {
    "tasks": [{"name": "checkout"}, {"name": "build"}, {"name": "publish"}],
    "finally": [{"name": "notify"}],
}


def condition(status, reason, message=""):
    return [{"type": "Succeeded", "status": status, "reason": reason, "message": message}]


def pipeline_run(status="", reason="", message="", children=(), skipped=(), results=(), spec=None):
    st = {
        "pipelineSpec": SPEC,
        "childReferences": [
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": f"pr-{task}", "pipelineTaskName": task}
            for task in children
        ],
    }
    if status:
        st["conditions"] = condition(status, reason, message)
    if skipped:
        st["skippedTasks"] = [{"name": name, "reason": "Parent Tasks were skipped"} for name in skipped]
    if results:
        st["results"] = list(results)
    return {"metadata": {"name": "pr", "namespace": "openchoreo-ci-a"}, "spec": spec or {}, "status": st}


def task_run(task, status="True", reason="Succeeded", message="", start="", end="", results=(), ref=None):
    st = {"conditions": condition(status, reason, message), "podName": f"pr-{task}-pod"}
    if start:
        st["startTime"] = start
    if end:
        st["completionTime"] = end
    if results:
        st["results"] = [{"name": k, "type": "string", "value": v} for k, v in results]
    return {
        "metadata": {"name": f"pr-{task}", "labels": {"tekton.dev/pipelineTask": task}},
        "spec": {"taskRef": ref or {"name": task, "kind": "Task"}},
        "status": st,
    }


def observe(obj, *task_runs):
    return TEKTON.observe(obj, {tr["metadata"]["name"]: tr for tr in task_runs})


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        pytest.param("", "", "Pending", id="not-picked-up"),
        pytest.param("Unknown", "PipelineRunPending", "Pending", id="held-pending"),
        pytest.param("Unknown", "ResolvingPipelineRef", "Pending", id="resolving"),
        pytest.param("Unknown", "Started", "Running", id="started"),
        pytest.param("Unknown", "Running", "Running", id="running"),
        pytest.param("Unknown", "CancelledRunningFinally", "Running", id="finally-still-runs"),
        pytest.param("True", "Succeeded", "Succeeded", id="succeeded"),
        pytest.param("True", "Completed", "Succeeded", id="completed-with-skips"),
        pytest.param("False", "Failed", "Failed", id="failed"),
        pytest.param("False", "PipelineRunTimeout", "Failed", id="timeout"),
        pytest.param("False", "Cancelled", "Failed", id="cancelled"),
        pytest.param("False", "CouldntGetTask", "Failed", id="missing-task"),
    ],
)
def test_the_succeeded_condition_folds_to_four_phases(status, reason, expected):
    assert expected == observe(pipeline_run(status, reason)).phase


def test_three_tasks_in_order_with_times_and_results():
    runs = [
        task_run(
            "publish", start="2026-03-01T10:00:09Z", end="2026-03-01T10:00:11Z", results=[("image", "r/a@1")]
        ),
        task_run(
            "checkout", start="2026-03-01T10:00:01Z", end="2026-03-01T10:00:03Z", message="All Steps done"
        ),
        task_run(
            "build", start="2026-03-01T10:00:04Z", end="2026-03-01T10:00:08Z", results=[("digest", "sha")]
        ),
    ]
    obj = pipeline_run(
        "True", "Succeeded", "Tasks Completed: 3", children=("publish", "checkout", "build"),
        results=[{"name": "image", "value": "r/a@1"}, {"name": "all", "value": ["x", "y"]}],
    )  # fmt: skip

    seen = observe(obj, *runs)

    assert [
        {"name": "checkout", "phase": "Succeeded", "startedAt": "2026-03-01T10:00:01Z",
         "completedAt": "2026-03-01T10:00:03Z"},
        {"name": "build", "phase": "Succeeded", "startedAt": "2026-03-01T10:00:04Z",
         "completedAt": "2026-03-01T10:00:08Z"},
        {"name": "publish", "phase": "Succeeded", "startedAt": "2026-03-01T10:00:09Z",
         "completedAt": "2026-03-01T10:00:11Z"},
    ] == seen.tasks  # fmt: skip
    assert ("Succeeded", {"image": "r/a@1", "all": ["x", "y"]}) == (seen.phase, dict(seen.results))
    assert ("sha", "r/a@1", None) == (
        seen.output("build", "digest"),
        seen.output("publish", "image"),
        seen.output("checkout", "digest"),
    )


def test_a_failing_task_is_named_in_the_message_and_the_skipped_one_is_listed():
    failed = task_run(
        "build", "False", "Failed", '"step-compile" exited with code 1: Error', start="t2", end="t3"
    )
    obj = pipeline_run(
        "False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1",
        children=("checkout", "build"), skipped=("publish",),
    )  # fmt: skip

    seen = observe(obj, task_run("checkout", start="t1", end="t2"), failed)

    assert "Failed" == seen.phase
    assert (
        "task 'build' failed (\"step-compile\" exited with code 1: Error); "
        "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"
    ) == seen.message
    assert [
        ("checkout", "Succeeded", None),
        ("build", "Failed", '"step-compile" exited with code 1: Error'),
        ("publish", "Skipped", "Parent Tasks were skipped"),
    ] == [(t["name"], t["phase"], t.get("message")) for t in seen.tasks]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(None, {"name": "build", "phase": "Pending"}, id="not-cached-yet"),
        pytest.param(
            task_run("build", "Unknown", "Pending", "pod status PodScheduled:False; Unschedulable", start="t"),
            {"name": "build", "phase": "Pending", "startedAt": "t",
             "message": "pod status PodScheduled:False; Unschedulable"},
            id="pod-pending",
        ),
        pytest.param(
            task_run("build", "Unknown", "Running", "Not all Steps in the Task have finished executing", start="t"),
            {"name": "build", "phase": "Running", "startedAt": "t"},
            id="running-says-nothing",
        ),
        pytest.param(
            task_run("build", "Unknown", "ToBeRetried", start="t"),
            {"name": "build", "phase": "Running", "startedAt": "t"},
            id="retrying",
        ),
        pytest.param(
            task_run("build", "False", "TaskRunCancelled", 'TaskRun "pr-build" was cancelled', start="t", end="u"),
            {"name": "build", "phase": "Failed", "startedAt": "t", "completedAt": "u",
             "message": 'TaskRun "pr-build" was cancelled'},
            id="cancelled",
        ),
        pytest.param(
            task_run("build", "False", "Failed", "x" * 5000),
            {"name": "build", "phase": "Failed", "message": "x" * 1021 + "..."},
            id="message-clipped",
        ),
    ],
)  # fmt: skip
def test_task_fields(given, expected):
    obj = pipeline_run("Unknown", "Running", children=("build",))
    assert [expected] == observe(obj, *([given] if given else [])).tasks


def test_children_are_the_task_runs_of_child_references():
    obj = pipeline_run("Unknown", "Running", children=("checkout", "build"))
    obj["status"]["childReferences"].append(
        {"apiVersion": "tekton.dev/v1beta1", "kind": "CustomRun", "name": "x"}
    )
    assert [(r.TEKTON_TASK_RUN, "pr-checkout"), (r.TEKTON_TASK_RUN, "pr-build")] == TEKTON.children(obj)


def test_a_task_answers_to_its_pipeline_task_and_task_names():
    cluster = task_run("publish", results=[("image", "i")], ref={"resolver": "cluster", "params": []})
    cluster["metadata"]["labels"]["tekton.dev/task"] = "publish-image"
    seen = observe(pipeline_run("True", "Succeeded", children=("publish",)), cluster)
    assert [frozenset({"publish", "publish-image"})] == [s.names for s in seen.outputs]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(pipeline_run("Unknown", "Running"), {"spec": {"status": "Cancelled"}}, id="running"),
        pytest.param(pipeline_run(), {"spec": {"status": "Cancelled"}}, id="not-picked-up"),
        pytest.param(pipeline_run("Unknown", "PipelineRunPending", spec={"status": "PipelineRunPending"}),
                     {"spec": {"status": "Cancelled"}}, id="held-pending"),
        pytest.param(pipeline_run("Unknown", "Running", spec={"status": "Cancelled"}), None, id="already-asked"),
        pytest.param(pipeline_run("Unknown", "Running", spec={"status": "StoppedRunFinally"}), None,
                     id="graceful-stop-asked"),
        pytest.param(pipeline_run("True", "Succeeded"), None, id="finished"),
        pytest.param(pipeline_run("False", "Failed"), None, id="failed"),
    ],
)  # fmt: skip
def test_cancel_sets_spec_status_cancelled_once(obj, expected):
    assert expected == TEKTON.cancel(obj)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, "workflow-sa", id="defaulted"),
        pytest.param({"taskRunTemplate": {"podTemplate": {}}}, "workflow-sa", id="template-kept"),
        pytest.param({"taskRunTemplate": {"serviceAccountName": "builder"}}, "builder", id="kept"),
    ],
)
def test_the_service_account_is_defaulted_and_parameter_values_kept(spec, expected):
    params = [{"name": "list", "value": ["a", "b"]}, {"name": "n", "value": 3}]
    obj = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "spec": {**spec, "params": params}}
    engine_fixes(obj)
    assert (expected, params) == (obj["spec"]["taskRunTemplate"]["serviceAccountName"], obj["spec"]["params"])


def test_a_pipeline_run_chooses_tekton_and_needs_no_prerequisites():
    found = engine_for("tekton.dev/v1", "PipelineRun")
    assert (TEKTON, r.TEKTON_PIPELINE_RUN, []) == (found.engine, found.resource, TEKTON.prerequisites("ns"))
    assert engine_for("tekton.dev/v1beta1", "PipelineRun") is None  # only the storage version is served
    assert engine_for("tekton.dev/v1", "TaskRun") is None  # a child, not a run object


def test_step_pods_are_the_task_runs_pods_and_a_failure_reads_only_the_failed_step():
    failed = task_run("build", "False", "Failed")
    failed["status"]["steps"] = [
        {"name": "compile", "container": "step-compile", "terminated": {"exitCode": 1}},
        {
            "name": "test",
            "container": "step-test",
            "terminated": {"exitCode": 1},
            "terminationReason": "Skipped",
        },
    ]
    ok = task_run("checkout")
    ok["status"]["steps"] = [{"name": "clone", "container": "step-clone", "terminated": {"exitCode": 0}}]
    obj = pipeline_run("False", "Failed", children=("checkout", "build"), skipped=("publish",))
    pods = [{"metadata": {"name": "pr-checkout-pod"}}]  # the build pod is gone

    steps = TEKTON.step_pods(obj, {"pr-checkout": ok, "pr-build": failed}, pods)

    assert "tekton.dev/pipelineRun=pr" == TEKTON.pod_selector(obj)
    assert [
        ("checkout", "Succeeded", "pr-checkout-pod", ("step-clone",)),
        ("build", "Failed", None, ("step-compile",)),
        ("publish", "Skipped", None, ()),
    ] == [(s.name, s.phase, (s.pod or {}).get("metadata", {}).get("name"), s.containers) for s in steps]


def test_a_cancelled_pipeline_run_is_running_until_its_task_runs_have_stopped():
    obj = pipeline_run("False", "Cancelled", 'PipelineRun "pr" was cancelled', children=("checkout", "build"))
    done = task_run("checkout", start="t1", end="t2")
    stopping = task_run("build", "Unknown", "Running", start="t3")

    still = observe(obj, done, stopping)
    stopped = observe(obj, done, task_run("build", "False", "TaskRunCancelled", "cancelled", start="t3"))

    assert ("Running", "PipelineRun finished; waiting for tasks ['build'] to stop") == (
        still.phase,
        still.message,
    )
    assert ("Failed", ["Succeeded", "Failed"]) == (stopped.phase, [t["phase"] for t in stopped.tasks])
