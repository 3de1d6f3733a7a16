"""Component CI end to end: a signed GitHub push -> auto-build receiver -> WorkflowRun -> governance ->
Argo on kwok (the sample component workflow: checkout, build, publish, generate-workload-cr) -> Succeeded
-> the Workload applied in the control plane with the built image, and ``WorkloadUpdated`` on the run.

The receiver runs in the test process (``AutoBuildServer`` on 127.0.0.1, real HTTP); the controller is the
session's ``choreo-controller controller`` process. Steps with declared outputs get them from
``argo_outputs.StepOutputs`` (kwok runs no Argo executor); the workspace PVC is provisioned by the build
plane's default StorageClass.
"""

from __future__ import annotations

import asyncio
import base64
import io
import pathlib
import uuid

import aiohttp
import pytest
import yaml
from argo_outputs import StepOutputs, generated_workload
from gitpayloads import COMMIT, body_of, github_push, signed_github
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import PATH, AutoBuildServer
from choreo_controller.contracts import NotFound

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"
SECRET = "e2e-github-secret"
CWTS = [
    SAMPLES / "cluster-workflow-templates" / "checkout-source.yaml",
    SAMPLES / "cluster-workflow-templates" / "docker.yaml",
    SAMPLES / "cluster-workflow-templates" / "publish-image.yaml",
    SAMPLES / "component" / "cluster-workflow-template-generate-workload.yaml",
]


def _sample(name, namespace, **changes):
    obj = yaml.safe_load((SAMPLES / "component" / name).read_text())
    obj["metadata"]["namespace"] = namespace
    obj.update(changes)
    return obj


@pytest.fixture(scope="session")
def component_templates(build_plane):
    build_plane.apply(*CWTS)


@pytest.fixture
async def component_world(world, component_templates):
    """The sample ComponentType, Workflow, Component (its repository unique to this test) and webhook Secret."""
    await world.setup(secret_reference=False)
    owner = f"acme-{uuid.uuid4().hex[:6]}"
    ns = world.namespace
    await world.cp.create(r.COMPONENT_TYPE, _sample("componenttype-service.yaml", ns))
    await world.cp.create(r.WORKFLOW, _sample("workflow-component-docker.yaml", ns))
    component = _sample("component-greeter.yaml", ns)
    component["spec"]["workflow"]["parameters"]["repository"]["url"] = (
        f"https://github.com/{owner}/sample-workloads"
    )
    await world.cp.create(r.COMPONENT, component)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-webhook-secrets", "namespace": ns},
    }
    await world.cp.create(
        r.SECRET, {**secret, "data": {"github-secret": base64.b64encode(SECRET.encode()).decode()}}
    )
    return world, owner


async def push(server, owner, *, modified=("service-go-greeter/main.go",)):
    body = body_of(github_push(owner, "sample-workloads", modified=modified))
    url = f"http://127.0.0.1:{server.port}{PATH}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=io.BytesIO(body), headers=signed_github(body, SECRET)) as resp,
    ):
        return resp.status, await resp.json()


async def serve(world):
    server = AutoBuildServer.create(world.cp, host="127.0.0.1", port=0, secret_namespace=world.namespace)
    task = asyncio.create_task(server.run(), name="autobuild-server")
    await asyncio.wait_for(server.wait_started(), 10)
    return server, task


async def test_a_push_builds_the_component_and_applies_its_workload(component_world):
    world, owner = component_world
    image = f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{COMMIT[:8]}"
    outputs = {
        "checkout-source": {"git-revision": COMMIT},
        "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
        "publish-image": {"image": image},
        "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
    }
    server, task = await serve(world)
    try:
        async with StepOutputs(world.bp, world.build_namespace, outputs) as harness:
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
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    assert (image, {"projectName": "shop", "componentName": "greeter"}, run_name) == (
        workload["spec"]["containers"]["main"]["image"],
        workload["spec"]["owner"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )


async def test_a_push_for_a_component_whose_workflow_is_not_allowed_fails_governance(component_world):
    world, owner = component_world
    await world.cp.merge_patch(
        r.COMPONENT_TYPE, "service", {"spec": {"allowedWorkflows": []}}, namespace=world.namespace
    )
    # The Component controller reads the same cache as governance: once it reports the refusal, so will runs.
    assert ("False", "WorkflowNotAllowed") == await async_wait_for(
        "the Component to report WorkflowNotAllowed", _ready(world, want="False"), within=30
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
        "the Component's Ready condition", _ready(world, want="True"), within=30
    )


def _ready(world, *, want):
    async def probe():
        obj = await world.cp.get(r.COMPONENT, "greeter", world.namespace)
        cond = c.find((obj.get("status") or {}).get("conditions"), c.READY)
        return (cond["status"], cond["reason"]) if cond is not None and cond["status"] == want else None

    return probe
