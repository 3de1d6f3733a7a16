"""Component CI end to end: a signed GitHub push -> auto-build receiver -> WorkflowRun -> governance ->
Argo on kwok (the sample component workflow: checkout, build, publish, generate-workload-cr) -> Succeeded
-> the Workload applied in the control plane with the built image, and ``WorkloadUpdated`` on the run.
Twice: with OpenChoreo 0.17's shapes (a namespaced Workflow mapping its repository parameters in an
annotation, a ComponentType, ``componentType`` as a string) and with 1.x's (a labelled ClusterWorkflow
marking its parameters with ``x-openchoreo-component-parameter-repository-*`` on a ClusterWorkflowPlane, a
ClusterComponentType, ``componentType`` as ``{kind, name}``, a workflow reference without a kind).

The receiver runs in the test process (``AutoBuildServer`` on 127.0.0.1, real HTTP); the controller is the
session's ``choreo-controller controller`` process. Steps with declared outputs get them from
``argo_outputs.StepOutputs`` (kwok runs no Argo executor); the workspace PVC is provisioned by the build
plane's default StorageClass.
"""

from __future__ import annotations

import asyncio
import copy

import pytest
from argo_outputs import StepOutputs, generated_workload
from component_support import (
    OUTPUTS,
    applied_workload,
    built_image,
    component_ready,
    component_sample,
    published,
    push,
    serve,
)
from gitpayloads import COMMIT
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


async def test_a_push_builds_the_component_and_applies_its_workload(component_world):
    world, owner = component_world
    image = built_image(world, COMMIT)
    server, task = await serve(world)
    try:
        async with StepOutputs(world.bp, world.build_namespace, OUTPUTS) as harness:
            status, answer = await push(server, owner)
            assert (200, 1) == (status, answer["triggeredBuilds"])
            run_name = answer["workflowRuns"][0].split("/")[1]
            run = await world.wait_completed(run_name, within=90)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    conditions = run["status"]["conditions"]
    assert [] == harness.errors
    assert ("True", c.R_SUCCEEDED) == (
        c.find(conditions, c.COMPLETED)["status"],
        c.find(conditions, c.COMPLETED)["reason"],
    )
    assert ["checkout-source", "build-image", "publish-image", "generate-workload-cr"] == [
        t["name"] for t in run["status"]["tasks"]
    ]
    updated = c.find(conditions, c.WORKLOAD_UPDATED)
    assert ("True", c.R_WORKLOAD_UPDATED) == (updated["status"], updated["reason"])
    assert [{"name": "image", "value": image}, {"name": "commit", "value": COMMIT}] == run["status"][
        "results"
    ]
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    assert (image, {"projectName": "shop", "componentName": "greeter"}, run_name) == (
        workload["spec"]["containers"]["main"]["image"],
        workload["spec"]["owner"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )


def _published_with_workload(inputs):
    """The publish step reporting the Workload as well (a declared result's source, not the magic step)."""
    found = published(inputs)
    names = {k: inputs[f"workflow.parameters.{k}"] for k in ("component-name", "project-name")}
    return {**found, "workload": generated_workload({**names, "image": found["image"]})}


async def test_the_workload_is_taken_from_a_declared_result(component_world):
    world, owner = component_world
    declared = {
        "name": "workload-cr",
        "valueFrom": {"taskResult": {"task": "publish-image", "result": "workload"}},
    }
    await world.cp.merge_patch(
        r.WORKFLOW, "component-docker", {"spec": {"results": [declared]}}, namespace=world.namespace
    )
    outputs = {
        **OUTPUTS,
        "publish-image": _published_with_workload,
        "generate-workload-cr": lambda inputs: {
            "workload-cr": generated_workload({**inputs, "image": "not:used"})
        },
    }
    server, task = await serve(world)
    try:
        async with StepOutputs(world.bp, world.build_namespace, outputs) as harness:
            _, answer = await push(server, owner)
            run = await world.wait_completed(answer["workflowRuns"][0].split("/")[1], within=90)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    updated = c.find(run["status"]["conditions"], c.WORKLOAD_UPDATED)
    assert [] == harness.errors
    assert (
        "True",
        f"Workload {world.namespace}/greeter-workload applied from output 'workload' of step 'publish-image'",
    ) == (updated["status"], updated["message"])
    assert ["workload-cr"] == [entry["name"] for entry in run["status"]["results"]]
    assert (built_image(world, COMMIT), run["metadata"]["name"]) == await applied_workload(world)


def _repo(suffix):
    return {f"x-openchoreo-component-parameter-repository-{suffix}": True}


#: The sample workflow's shorthand schema written as 1.x writes it: openAPIV3Schema, the repository fields
#: marked with OpenChoreo's extensions (the revision behind a $ref, which the mapping follows).
OPENAPI = {
    "type": "object",
    "required": ["repository"],
    "$defs": {
        "Revision": {
            "type": "object",
            "default": {},
            "properties": {
                "branch": {"type": "string", "default": "main", **_repo("branch")},
                "commit": {"type": "string", "default": "", **_repo("commit")},
            },
        }
    },
    "properties": {
        "repository": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", **_repo("url")},
                "revision": {"$ref": "#/$defs/Revision"},
                "appPath": {"type": "string", "default": ".", **_repo("app-path")},
                "secretRef": {"type": "string", "default": "", **_repo("secret-ref")},
            },
        },
        "docker": {"type": "object", "default": {}, "properties": {
            "context": {"type": "string", "default": "."}, "filePath": {"type": "string", "default": "./Dockerfile"}}},
        "image": {"type": "object", "default": {}, "properties": {
            "repository": {"type": "string", "default": "registry.openchoreo-data-plane:5000"}}},
    },
}  # fmt: skip


async def test_a_push_builds_a_1x_component_through_its_schema_extensions(component_world):
    world, owner = component_world
    suffix = world.namespace.rsplit("-", 1)[-1]
    cwf, plane, cct = f"component-docker-{suffix}", f"ci-{suffix}", f"service-{suffix}"
    workflow = copy.deepcopy(component_sample("workflow-component-docker.yaml", world.namespace))
    workflow["kind"] = "ClusterWorkflow"
    workflow["metadata"] = {"name": cwf, "labels": {"openchoreo.dev/workflow-type": "component"}}
    del workflow["spec"]["schema"]
    workflow["spec"]["parameters"] = {"openAPIV3Schema": OPENAPI}
    workflow["spec"]["workflowPlaneRef"] = {"kind": "ClusterWorkflowPlane", "name": plane}
    await world.cp.create(r.CLUSTER_WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": plane},
        "spec": {"clusterAgent": {"clientCA": {"value": world.client_ca}}}})  # fmt: skip
    await world.cp.create(r.CLUSTER_WORKFLOW, workflow)
    await world.cp.create(r.CLUSTER_COMPONENT_TYPE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterComponentType", "metadata": {"name": cct},
        "spec": {"workloadType": "deployment", "allowedWorkflows": [{"kind": "ClusterWorkflow", "name": cwf}]}})  # fmt: skip
    await world.cp.merge_patch(r.COMPONENT, "greeter", {"spec": {
        "componentType": {"kind": "ClusterComponentType", "name": f"deployment/{cct}"},
        "workflow": {"kind": None, "name": cwf}}}, namespace=world.namespace)  # fmt: skip
    image = f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{COMMIT[:8]}"
    outputs = {
        "checkout-source": {"git-revision": COMMIT},
        "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
        "publish-image": {"image": image},
        "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
    }
    try:
        await async_wait_for(
            "the Component Ready on its 1.x types", component_ready(world, want="True"), within=30
        )
        server, task = await serve(world)
        try:
            async with StepOutputs(world.bp, f"workflows-{world.namespace}", outputs) as harness:
                status, answer = await push(server, owner)
                assert (200, 1) == (status, answer["triggeredBuilds"])
                run_name = answer["workflowRuns"][0].split("/")[1]
                run = await world.wait_completed(run_name, within=90)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        created = await world.cp.get(r.WORKFLOW_RUN, run_name, world.namespace)
        assert [] == harness.errors
        assert ("True", c.R_SUCCEEDED) == (c.find(run["status"]["conditions"], c.COMPLETED)["status"],
                                            c.find(run["status"]["conditions"], c.COMPLETED)["reason"])  # fmt: skip
        assert (
            {"kind": "ClusterWorkflow", "name": cwf},
            {"branch": "main", "commit": COMMIT},
            "ClusterWorkflowPlane",
            f"workflows-{world.namespace}",
        ) == (
            {k: created["spec"]["workflow"].get(k) for k in ("kind", "name")},
            created["spec"]["workflow"]["parameters"]["repository"]["revision"],
            run["status"]["plane"]["kind"],
            run["status"]["runReference"]["namespace"],
        )
        workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
        assert image == workload["spec"]["containers"]["main"]["image"]
    finally:
        for resource, name in ((r.CLUSTER_COMPONENT_TYPE, cct), (r.CLUSTER_WORKFLOW, cwf), (r.CLUSTER_WORKFLOW_PLANE, plane)):  # fmt: skip
            await world.cp.delete(resource, name)


async def test_a_push_for_a_component_whose_workflow_is_not_allowed_fails_governance(component_world):
    world, owner = component_world
    await world.cp.merge_patch(
        r.COMPONENT_TYPE, "service", {"spec": {"allowedWorkflows": []}}, namespace=world.namespace
    )
    # The Component controller reads the same cache as governance: once it reports the refusal, so will runs.
    assert ("False", "WorkflowNotAllowed") == await async_wait_for(
        "the Component to report WorkflowNotAllowed", component_ready(world, want="False"), within=30
    )
    server, task = await serve(world)
    try:
        status, answer = await push(server, owner)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (200, 1) == (status, answer["triggeredBuilds"])
    run_name = answer["workflowRuns"][0].split("/")[1]

    run = await world.wait_reason(run_name, c.R_COMPONENT_VALIDATION_FAILED)

    message = c.find(run["status"]["conditions"], c.FAILED)["message"]
    assert (
        "Workflow/component-docker is not allowed by ComponentType 'service'; allowed: none (allowedWorkflows is empty)"
        == message
    )
    assert await world.argo(run_name) is None
    with pytest.raises(NotFound):
        await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)


async def test_the_component_reports_its_workflow_governance(component_world):
    world, _ = component_world
    assert ("True", "Valid") == await async_wait_for(
        "the Component's Ready condition", component_ready(world, want="True"), within=30
    )
