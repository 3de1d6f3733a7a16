"""Tekton Pipelines as the engine, end to end: the sample Tekton Workflow through the relay on the real planes.

The Workflow is ``manifests/samples/workflow-tekton-docker.yaml`` with its three tasks resolved (Tekton's
cluster resolver) to kwok-friendly Tasks of the same interface (``e2e-`` prefix): every step has a command
and reports its declared results through the kwok stage (env ``KWOK_RESULT_<name>``), so the values that
reach the PipelineRun went through Tekton's own parameter and result substitution. The real Tekton
controller runs the PipelineRun; the controller tracks it through the agent's least-privilege ClusterRole
(``manifests/build-plane``: PipelineRuns, and TaskRuns list/watch only). A component build adds a fourth task
whose ``workload-cr`` result becomes the component's Workload, after the ComponentType's governance.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from e2e_support import MODES, completed, run_object, watch_reasons
from localcluster.inventory import objects_in
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import ApiResource

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
RELAY = pytest.mark.parametrize("controller", ["relay"], indirect=True)
SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
CATALOG = "openchoreo-tekton-tasks"
PV = ApiResource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False)
IMAGE = "registry.openchoreo-data-plane:5000"
# A build namespace's own objects, which outlive its runs: Kubernetes' and SPEC 5.6's (Tekton adds no Role).
PREREQUISITES = {
    ("ServiceAccount", "default"),
    ("ServiceAccount", "workflow-sa"),
    ("ConfigMap", "kube-root-ca.crt"),
}
E2E_TASKS = {  # name: (image, params, result, the result's value - Tekton substitutes the params in it)
    "checkout-source": ("alpine/git:2.45.2", ["git-repo", "branch", "commit", "git-secret"], "git-revision",
                        "0123456789abcdef0123456789abcdef01234567"),
    "build-image": ("quay.io/buildah/stable:v1.37",
                    ["app-path", "docker-context", "dockerfile-path", "platforms", "build-args", "git-revision"],
                    "image-digest", "sha256:$(params.git-revision)"),
    "publish-image": ("quay.io/skopeo/stable:v1.16", ["image", "image-tag", "image-digest"], "image",
                      "$(params.image):$(params.image-tag)"),
}  # fmt: skip


@pytest.fixture(scope="session")
def tekton_tasks(build_plane):
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CATALOG}}]
    for name, (image, params, result, value) in E2E_TASKS.items():
        step = {"name": "main", "image": image, "command": ["sh", "-c", f"echo {name}"],
                "env": [{"name": f"KWOK_RESULT_{result}", "value": value}]}  # fmt: skip
        docs.append({
            "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": f"e2e-{name}", "namespace": CATALOG},
            "spec": {"params": [{"name": p, "type": "string"} for p in params],
                     "results": [{"name": result, "type": "string"}],
                     "workspaces": [{"name": "source"}], "steps": [step]},
        })  # fmt: skip
    build_plane.apply(SAMPLES / "tekton" / "tasks.yaml")  # the sample's own Tasks: the real CRDs accept them
    build_plane.apply(stdin=yaml.safe_dump_all(docs))


def tekton_workflow(namespace, *, fail=None, hold=False, ttl=None):
    """The sample, its tasks resolved to the ``e2e-`` Tasks; ``fail`` a task; ``hold``: every step runs 1 h."""
    wf = yaml.safe_load((SAMPLES / "workflow-tekton-docker.yaml").read_text())
    wf["metadata"]["namespace"] = namespace
    if ttl is not None:
        wf["spec"]["ttlAfterCompletion"] = ttl
    run = wf["spec"]["runTemplate"]
    for task in run["spec"]["pipelineSpec"]["tasks"]:
        for param in task["taskRef"]["params"]:
            if param["name"] == "name":
                param["value"] = "e2e-" + param["value"]
    if fail is not None:
        fail_it = {"annotations": {"kwok.choreo.dev/fail": "true"}}
        run["spec"]["taskRunSpecs"] = [{"pipelineTaskName": fail, "metadata": fail_it}]
    if hold:
        run["metadata"]["annotations"] = {"pod-complete.stage.kwok.x-k8s.io/delay": "1h"}
    return wf


@pytest.fixture
async def tekton_world(world, tekton_tasks):
    """A namespace with a BuildPlane and a PersistentVolume for the run's workspace (no provisioner here)."""
    await world.setup()
    pv_name = f"e2e-tekton-{uuid.uuid4().hex[:8]}"
    await world.bp.create(PV, {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
        "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Delete", "hostPath": {"path": f"/var/lib/{pv_name}"}},
    })  # fmt: skip
    yield world
    await world.bp.delete(PV, pv_name)


async def ready_workflow(world, **kw):
    wf = tekton_workflow(world.namespace, **kw)
    created = await world.cp.create(r.WORKFLOW, wf)
    await async_wait_for(
        "the Workflow's Ready condition",
        lambda: _ready(world, created["metadata"]["name"]),
        within=30,
    )


async def _ready(world, name):
    wf = await world.cp.get(r.WORKFLOW, name, world.namespace)
    return c.find((wf.get("status") or {}).get("conditions"), c.READY) is not None


def submit(world, name, **kw):
    return world.submit(name, workflow="docker-tekton", **kw)


@pytest.mark.parametrize("controller", MODES, indirect=True)
async def test_three_task_pipeline_run_succeeds_with_three_tasks_in_status(tekton_world, controller):
    world = tekton_world
    await ready_workflow(world)
    follow, seen, last = await watch_reasons(world, "tekton-1")
    watcher = asyncio.create_task(follow())
    created = await submit(world, "tekton-1")
    await asyncio.wait_for(watcher, 120)

    st = last()["status"]
    assert [c.R_PENDING, c.R_RUNNING, c.R_SUCCEEDED] == seen
    assert ("True", "Workflow completed successfully") == (
        c.find(st["conditions"], c.SUCCEEDED)["status"],
        c.find(st["conditions"], c.COMPLETED)["message"],
    )
    tasks = st["tasks"]
    assert [
        ("checkout-source", "Succeeded"),
        ("build-image", "Succeeded"),
        ("publish-image", "Succeeded"),
    ] == [(t["name"], t["phase"]) for t in tasks]
    assert all(t["startedAt"] <= t["completedAt"] for t in tasks)
    assert [t["startedAt"] for t in tasks] == sorted(t["startedAt"] for t in tasks)
    ref = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "name": "tekton-1",
           "namespace": world.build_namespace}  # fmt: skip
    assert ref == st["runReference"]

    pipeline_run = await world.bp.get(r.TEKTON_PIPELINE_RUN, "tekton-1", world.build_namespace)
    uid = created["metadata"]["uid"]
    assert (
        labels.run_labels("tekton-1", world.namespace, uid).items()
        <= pipeline_run["metadata"]["labels"].items()
    )
    assert "workflow-sa" == pipeline_run["spec"]["taskRunTemplate"]["serviceAccountName"]
    tag = f"{IMAGE}/{world.namespace}-tekton-1:tekton-1"
    assert [
        {"name": "git-revision", "value": "0123456789abcdef0123456789abcdef01234567"},
        {"name": "image", "value": tag},
    ] == pipeline_run["status"]["results"]  # the parameters went through Tekton's own substitution
    # the Workflow's declared results, from the TaskRuns' results (issue 17's results on the second engine)
    assert [
        {"name": "image", "value": tag},
        {"name": "commit", "value": "0123456789abcdef0123456789abcdef01234567"},
    ] == st["results"]
    events = await world.cp.list(r.EVENT, world.namespace)
    submitted = [e["message"] for e in events.items if e["reason"] == "Submitted"]
    assert [
        f"Tekton PipelineRun {world.build_namespace}/tekton-1 created in build plane 'default'"
    ] == submitted


@RELAY
async def test_a_failing_task_fails_the_run_naming_it(tekton_world):
    world = tekton_world
    await ready_workflow(world, fail="build-image")
    await submit(world, "broken-1")

    run = await world.wait_completed("broken-1", within=120)

    st = run["status"]
    assert ("True", c.R_FAILED) == completed(run)
    message = c.find(st["conditions"], c.FAILED)["message"]
    assert message.startswith(
        f"Tekton PipelineRun {world.build_namespace}/broken-1 in build plane 'default' failed: "
        "task 'build-image' failed (\"step-main\" exited with code 1: Error)"
    ), message
    assert [
        ("checkout-source", "Succeeded"),
        ("build-image", "Failed"),
        ("publish-image", "Skipped"),
    ] == [(t["name"], t["phase"]) for t in st["tasks"]]


@RELAY
async def test_cancel_stops_the_pipeline_run_and_ends_cancelled(tekton_world):
    world = tekton_world
    await ready_workflow(world, hold=True)
    await submit(world, "held-1")
    await world.wait_run(
        "held-1",
        "checkout-source running",
        lambda o: any(t.get("phase") == "Running" for t in (o.get("status") or {}).get("tasks") or []),
        within=120,
    )

    await world.cp.merge_patch(
        r.WORKFLOW_RUN, "held-1", {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}},
        namespace=world.namespace,
    )  # fmt: skip
    run = await world.wait_completed("held-1", within=120)

    assert ("True", c.R_CANCELLED) == completed(run)
    pipeline_run = await world.bp.get(r.TEKTON_PIPELINE_RUN, "held-1", world.build_namespace)
    assert "Cancelled" == pipeline_run["spec"]["status"]
    assert [("checkout-source", "Failed")] == [(t["name"], t["phase"]) for t in run["status"]["tasks"]]


@RELAY
async def test_deleting_the_run_leaves_nothing_in_the_build_plane(tekton_world, build_plane):
    world = tekton_world
    await ready_workflow(world)
    await submit(world, "gone-1")
    await world.wait_completed("gone-1", within=120)
    before = Counter(kind for kind, _ in await build_objects(build_plane, world))
    assert {
        "PipelineRun": 1,
        "TaskRun": 3,
        "Pod": 3,
        "PersistentVolumeClaim": 1,
        "ExternalSecret": 1,
    }.items() <= (before.items()), before

    await world.cp.delete(r.WORKFLOW_RUN, "gone-1", namespace=world.namespace)
    await world.wait_gone("gone-1")

    await nothing_left(build_plane, world)


@RELAY
async def test_the_ttl_deletes_the_finished_run_and_its_build_plane_objects(tekton_world, build_plane):
    world = tekton_world
    await ready_workflow(world, ttl="5s")
    await submit(world, "ttl-1")
    run = await world.wait_completed("ttl-1", within=120)
    assert (("True", c.R_SUCCEEDED), "5s") == (completed(run), run["spec"]["ttlAfterCompletion"])

    await world.wait_gone("ttl-1", within=60)
    waited = (datetime.now(UTC) - datetime.fromisoformat(run["status"]["completedAt"])).total_seconds()
    assert waited >= 4.0, f"deleted {waited:.1f}s after completion, TTL 5s"
    await nothing_left(build_plane, world)


#: A fourth task, as a component build ends: a Workload document as its ``workload-cr`` result (JSON is YAML).
WORKLOAD = ('{"apiVersion": "openchoreo.dev/v1alpha1", "kind": "Workload", "metadata": {"name": "greeter-workload"}, '
            '"spec": {"owner": {"projectName": "shop", "componentName": "greeter"}, '
            '"containers": {"main": {"image": "$(params.image)"}}}}')  # fmt: skip
GENERATE = {
    "name": "generate-workload-cr", "runAfter": ["publish-image"],
    "params": [{"name": "image", "value": "$(tasks.publish-image.results.image)"}],
    "taskSpec": {"params": [{"name": "image", "type": "string"}], "results": [{"name": "workload-cr", "type": "string"}],
                 "steps": [{"name": "main", "image": "cgr.dev/chainguard/busybox:latest", "command": ["sh", "-c", "true"],
                            "env": [{"name": "KWOK_RESULT_workload-cr", "value": WORKLOAD}]}]},
}  # fmt: skip


@RELAY
async def test_a_component_run_is_governed_and_its_workload_generated_from_a_task_result(tekton_world):
    world = tekton_world
    component = yaml.safe_load((SAMPLES / "component" / "component-greeter.yaml").read_text())
    component["metadata"]["namespace"] = world.namespace
    component["spec"]["workflow"]["name"] = "docker-tekton"
    allowed = yaml.safe_load((SAMPLES / "component" / "componenttype-service.yaml").read_text())
    allowed["metadata"]["namespace"] = world.namespace
    allowed["spec"]["allowedWorkflows"] = [{"kind": "Workflow", "name": "docker-tekton"}]
    await world.cp.create(r.COMPONENT_TYPE, allowed)
    await world.cp.create(r.COMPONENT, component)
    wf = tekton_workflow(world.namespace)
    wf["spec"]["runTemplate"]["spec"]["pipelineSpec"]["tasks"].append(GENERATE)
    await world.cp.create(r.WORKFLOW, wf)
    await async_wait_for("the Workflow's Ready condition", lambda: _ready(world, "docker-tekton"), within=30)
    await component_run(world, "greeter-1", "docker-tekton")

    run = await world.wait_completed("greeter-1", within=120)

    conditions = run["status"]["conditions"]
    assert ("True", c.R_SUCCEEDED) == completed(run)
    assert ["checkout-source", "build-image", "publish-image", "generate-workload-cr"] == [
        t["name"] for t in run["status"]["tasks"]
    ]
    assert ("True", c.R_WORKLOAD_UPDATED) == (
        c.find(conditions, c.WORKLOAD_UPDATED)["status"],
        c.find(conditions, c.WORKLOAD_UPDATED)["reason"],
    )
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    assert f"{IMAGE}/{world.namespace}-greeter-1:greeter-1" == workload["spec"]["containers"]["main"]["image"]

    await world.cp.create(r.WORKFLOW, tekton_workflow(world.namespace) | {"metadata": {
        "name": "other-tekton", "namespace": world.namespace}})  # fmt: skip
    await component_run(world, "greeter-2", "other-tekton")
    refused = await world.wait_completed("greeter-2", within=60)
    assert ("True", c.R_COMPONENT_VALIDATION_FAILED) == completed(refused)


async def component_run(world, name, workflow):
    """A build of Component ``greeter`` (its labels make it one: governance checks it first)."""
    run = run_object(world.namespace, name, workflow=workflow)
    run["metadata"]["labels"] = {"openchoreo.dev/project": "shop", "openchoreo.dev/component": "greeter"}
    await world.cp.create(r.WORKFLOW_RUN, run)


async def nothing_left(build_plane, world) -> None:
    async def empty():
        return await build_objects(build_plane, world) == [] or None

    await async_wait_for("the run's build-plane objects to be gone", empty, within=60)


async def build_objects(build_plane, world) -> list[tuple[str, str]]:
    """``(kind, name)`` of every object of any kind the plane serves in the test's build namespace (discovery,
    not the engine's table: a kind the engine forgot shows too), the namespace's prerequisites aside."""
    found = await asyncio.to_thread(objects_in, build_plane, (world.build_namespace,))
    return sorted(
        (o["kind"], o["metadata"]["name"])
        for o in found
        if (o["kind"], o["metadata"]["name"]) not in PREREQUISITES
    )
