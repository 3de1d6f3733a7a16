"""Component CI end to end, shared: the sample ComponentType, Workflow and Component in a test's namespace with a
webhook Secret (``component_world``), the auto-build receiver in the test process (``serve``) and a signed
GitHub push to it (``push``), the steps' outputs a build reports, and what the Component's Workload holds.
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
from argo_outputs import generated_workload
from gitpayloads import body_of, github_push, signed_github
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import PATH, AutoBuildServer

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"
SECRET = "e2e-github-secret"
CWTS = [
    SAMPLES / "cluster-workflow-templates" / "checkout-source.yaml",
    SAMPLES / "cluster-workflow-templates" / "docker.yaml",
    SAMPLES / "cluster-workflow-templates" / "publish-image.yaml",
    SAMPLES / "component" / "cluster-workflow-template-generate-workload.yaml",
]


def component_sample(name, namespace, **changes):
    obj = yaml.safe_load((SAMPLES / "component" / name).read_text())
    obj["metadata"]["namespace"] = namespace
    obj.update(changes)
    return obj


@pytest.fixture(scope="session")
def component_templates(build_plane):
    build_plane.apply(*CWTS)


@pytest.fixture
async def component_world(request, world, component_templates):
    """The sample ComponentType, Workflow, Component (its repository unique to this test) and webhook Secret.

    ``request.param`` (indirect parametrization), when given, is the Component's concurrency policy.
    """
    await world.setup(secret_reference=False)
    owner = f"acme-{uuid.uuid4().hex[:6]}"
    ns = world.namespace
    await world.cp.create(r.COMPONENT_TYPE, component_sample("componenttype-service.yaml", ns))
    await world.cp.create(r.WORKFLOW, component_sample("workflow-component-docker.yaml", ns))
    component = component_sample("component-greeter.yaml", ns)
    component["spec"]["workflow"]["parameters"]["repository"]["url"] = (
        f"https://github.com/{owner}/sample-workloads"
    )
    policy = getattr(request, "param", None)
    if policy is not None:
        component["spec"]["workflow"]["concurrency"] = {"policy": policy}
    await world.cp.create(r.COMPONENT, component)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-webhook-secrets", "namespace": ns},
    }
    await world.cp.create(
        r.SECRET, {**secret, "data": {"github-secret": base64.b64encode(SECRET.encode()).decode()}}
    )
    # The controller's Component cache holds it once it reports Ready: governance and the concurrency gate
    # read that cache, so a push right after creation would otherwise race it.
    await async_wait_for("the Component's Ready condition", component_ready(world, want="True"), within=30)
    return world, owner


async def push(server, owner, *, modified=("service-go-greeter/main.go",), **commit):
    """``commit``: ``after`` (the pushed SHA) and ``committed_at``, as ``github_push`` takes them."""
    body = body_of(github_push(owner, "sample-workloads", modified=modified, **commit))
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


def built_image(world, commit):
    return f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{commit[:8]}"


def published(inputs):
    """What the sample publish step reports: the image and tag the Workflow's arguments name."""
    return {"image": f"{inputs['workflow.parameters.image']}:{inputs['workflow.parameters.image-tag']}"}


#: The steps' outputs, each derived from the run's own commit: a build's Workload names its commit's image.
OUTPUTS = {
    "checkout-source": lambda inputs: {"git-revision": inputs["workflow.parameters.commit"]},
    "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
    "publish-image": published,
    "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
}


def component_ready(world, *, want):
    async def probe():
        obj = await world.cp.get(r.COMPONENT, "greeter", world.namespace)
        cond = c.find((obj.get("status") or {}).get("conditions"), c.READY)
        return (cond["status"], cond["reason"]) if cond is not None and cond["status"] == want else None

    return probe


async def applied_workload(world):
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    return (
        workload["spec"]["containers"]["main"]["image"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )
