"""Tekton Pipelines is real in the build plane: its controller runs PipelineRuns on kwok pods.

Three tasks: two from namespaced Tasks (``taskRef.name``), one from a Task in another namespace through the
cluster resolver. Step results come from the kwok stage (env ``KWOK_RESULT_<name>``), so the values that
reach the PipelineRun's results went through Tekton's own parameter and result substitution.
"""

from __future__ import annotations

import json
import uuid

import pytest
from waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

TASKS = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {{name: checkout, namespace: {namespace}}}
spec:
  params: [{{name: revision, type: string}}]
  results: [{{name: commit, type: string}}]
  steps:
  - name: clone
    image: alpine/git:2.45
    command: [sh, -c, "git clone"]
    env: [{{name: KWOK_RESULT_commit, value: $(params.revision)}}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {{name: build, namespace: {namespace}}}
spec:
  params: [{{name: commit, type: string}}]
  results: [{{name: digest, type: string}}]
  steps:
  - name: compile
    image: golang:1.26
    command: [sh, -c, "go build"]
    env: [{{name: KWOK_RESULT_digest, value: "sha256:$(params.commit)"}}]
  - name: test
    image: golang:1.26
    script: go test ./...
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {{name: publish, namespace: {catalog}}}
spec:
  params: [{{name: digest, type: string}}]
  results: [{{name: image, type: string}}]
  steps:
  - name: push
    image: crane:0.20
    command: [crane, push]
    env: [{{name: KWOK_RESULT_image, value: "registry.local/app@$(params.digest)"}}]
"""

PIPELINE_RUN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
  namespace: {namespace}
  annotations: {annotations}
spec:
  params: [{{name: revision, value: "{revision}"}}]
  taskRunSpecs: {task_run_specs}
  pipelineSpec:
    params: [{{name: revision, type: string}}]
    results: [{{name: image, value: $(tasks.publish.results.image)}}]
    tasks:
    - name: checkout
      taskRef: {{name: checkout}}
      params: [{{name: revision, value: $(params.revision)}}]
    - name: build
      runAfter: [checkout]
      taskRef: {{name: build}}
      params: [{{name: commit, value: $(tasks.checkout.results.commit)}}]
    - name: publish
      runAfter: [build]
      taskRef:
        resolver: cluster
        params:
        - {{name: kind, value: task}}
        - {{name: name, value: publish}}
        - {{name: namespace, value: {catalog}}}
      params: [{{name: digest, value: $(tasks.build.results.digest)}}]
"""

FAIL_BUILD = [{"pipelineTaskName": "build", "metadata": {"annotations": {"kwok.choreo.dev/fail": "true"}}}]
KEEP_RUNNING = {"pod-complete.stage.kwok.x-k8s.io/delay": "1h"}


def _get(plane, kind, namespace, name):
    out = plane.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _names(plane, kind, namespace, pipeline_run):
    out = plane.kubectl(
        "get", kind, "-n", namespace, "-l", f"tekton.dev/pipelineRun={pipeline_run}", "-o", "name"
    )
    return out.stdout.split()


def _succeeded(obj):
    conditions = (obj or {}).get("status", {}).get("conditions", [])
    return next((c for c in conditions if c["type"] == "Succeeded"), None)


def _finished(plane, namespace, name):
    """The PipelineRun once its Succeeded condition is True or False, else None."""
    run = _get(plane, "pipelineruns.tekton.dev", namespace, name)
    condition = _succeeded(run)
    return run if condition and condition["status"] != "Unknown" else None


def _task_runs(plane, namespace, run):
    """pipelineTaskName -> TaskRun, for the TaskRuns the PipelineRun reports as its children."""
    refs = run["status"].get("childReferences", [])
    return {
        ref["pipelineTaskName"]: _get(plane, "taskruns.tekton.dev", namespace, ref["name"]) for ref in refs
    }


def _start(plane, namespace, catalog, *, revision="abc123", annotations=None, task_run_specs=()):
    name = f"pr-{uuid.uuid4().hex[:6]}"
    plane.apply(
        stdin=PIPELINE_RUN.format(
            name=name,
            namespace=namespace,
            catalog=catalog,
            revision=revision,
            annotations=json.dumps(annotations or {}),
            task_run_specs=json.dumps(list(task_run_specs)),
        )
    )
    return name


@pytest.fixture(scope="module")
def tekton_setup(build_plane):
    suffix = uuid.uuid4().hex[:6]
    namespace, catalog = f"tekton-test-{suffix}", f"tekton-catalog-{suffix}"
    build_plane.kubectl("create", "namespace", namespace)
    build_plane.kubectl("create", "namespace", catalog)
    build_plane.apply(stdin=TASKS.format(namespace=namespace, catalog=catalog))
    return build_plane, namespace, catalog


def test_three_task_pipeline_run_succeeds_with_results(tekton_setup):
    plane, namespace, catalog = tekton_setup
    name = _start(plane, namespace, catalog, revision="abc123")

    run = wait_for(f"PipelineRun {name} to finish", lambda: _finished(plane, namespace, name), 120)

    assert _succeeded(run)["reason"] == "Succeeded", _succeeded(run)
    assert run["status"]["results"] == [{"name": "image", "value": "registry.local/app@sha256:abc123"}]
    task_runs = _task_runs(plane, namespace, run)
    assert set(task_runs) == {"checkout", "build", "publish"}
    assert {task: _succeeded(tr)["reason"] for task, tr in task_runs.items()} == dict.fromkeys(
        task_runs, "Succeeded"
    )
    build = task_runs["build"]["status"]
    assert [(s["name"], s["terminated"]["exitCode"]) for s in build["steps"]] == [("compile", 0), ("test", 0)]
    assert build["results"] == [{"name": "digest", "type": "string", "value": "sha256:abc123"}]
    # publish came from the other namespace, through the cluster resolver
    publish = task_runs["publish"]["status"]
    assert publish["taskSpec"]["steps"][0]["name"] == "push"
    uid = _get(plane, "tasks.tekton.dev", catalog, "publish")["metadata"]["uid"]
    assert (
        publish["provenance"]["refSource"]["uri"]
        == f"/apis/tekton.dev/v1/namespaces/{catalog}/task/publish@{uid}"
    )


def test_failing_task_fails_the_pipeline_run(tekton_setup):
    """The PipelineRun's message only counts tasks; the failed one is the child TaskRun that names its step."""
    plane, namespace, catalog = tekton_setup
    name = _start(plane, namespace, catalog, task_run_specs=FAIL_BUILD)

    run = wait_for(f"PipelineRun {name} to finish", lambda: _finished(plane, namespace, name), 120)

    assert _succeeded(run)["status"] == "False"
    assert _succeeded(run)["reason"] == "Failed", _succeeded(run)
    task_runs = _task_runs(plane, namespace, run)
    assert set(task_runs) == {"checkout", "build"}
    assert _succeeded(task_runs["checkout"])["reason"] == "Succeeded"
    failed = _succeeded(task_runs["build"])
    assert (failed["reason"], failed["message"]) == ("Failed", '"step-compile" exited with code 1: Error')
    steps = task_runs["build"]["status"]["steps"]
    assert [(s["name"], s["terminated"]["exitCode"], s["terminationReason"]) for s in steps] == [
        ("compile", 1, "Error"),
        ("test", 1, "Skipped"),
    ]
    assert [t["name"] for t in run["status"]["skippedTasks"]] == ["publish"]


def test_cancelling_a_pipeline_run_cancels_its_running_task(tekton_setup):
    plane, namespace, catalog = tekton_setup
    name = _start(plane, namespace, catalog, annotations=KEEP_RUNNING)

    def checkout_running():
        pods = _names(plane, "pods", namespace, name)
        pod = pods and _get(plane, "pods", namespace, pods[0].split("/", 1)[1])
        return pod and pod["metadata"]["annotations"].get("tekton.dev/ready") == "READY" and pod

    wait_for("the first task's steps to be running", checkout_running, 120)
    plane.kubectl(
        "patch",
        "pipelineruns.tekton.dev",
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"status":"Cancelled"}}',
    )

    run = wait_for(f"PipelineRun {name} to finish", lambda: _finished(plane, namespace, name), 120)
    assert (_succeeded(run)["status"], _succeeded(run)["reason"]) == ("False", "Cancelled")
    task_runs = _task_runs(plane, namespace, run)
    assert set(task_runs) == {"checkout"}
    assert _succeeded(task_runs["checkout"])["reason"] == "TaskRunCancelled"
    assert wait_for(
        "the cancelled task's pod to be deleted", lambda: not _names(plane, "pods", namespace, name), 60
    )


def test_deleting_a_pipeline_run_garbage_collects_task_runs_and_pods(tekton_setup):
    plane, namespace, catalog = tekton_setup
    name = _start(plane, namespace, catalog)
    wait_for(f"PipelineRun {name} to finish", lambda: _finished(plane, namespace, name), 120)
    assert len(_names(plane, "taskruns.tekton.dev", namespace, name)) == 3
    assert len(_names(plane, "pods", namespace, name)) == 3

    plane.kubectl("delete", "pipelineruns.tekton.dev", name, "-n", namespace, "--wait=false")

    def gone():
        return not _names(plane, "taskruns.tekton.dev", namespace, name) and not _names(
            plane, "pods", namespace, name
        )

    assert wait_for("TaskRuns and pods to be garbage collected", gone, 60)


def test_only_storage_versions_are_served(build_plane):
    """No conversion webhook in the local plane: an older-version client gets a 404, never converted data."""
    served = build_plane.kubectl("get", "pipelineruns.v1.tekton.dev", "-A", check=False)
    older = build_plane.kubectl("get", "pipelineruns.v1beta1.tekton.dev", "-A", check=False)

    assert served.returncode == 0, served.stderr
    assert older.returncode != 0
    assert 'the server doesn\'t have a resource type "pipelineruns"' in older.stderr
