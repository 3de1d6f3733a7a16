"""The demo pipeline (manifests/samples/demo: three kwok-friendly steps) and the CLI as a user runs it.

``demo`` (a fixture, registered by ``conftest``): the test's world with the demo Workflow Ready; ``cli``: the
installed console script as a child process; ``submit``: a run of the demo Workflow.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r

DEMO = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "demo"
CLI = str(Path(sys.executable).parent / "choreo-controller")
PARAMS = {"repository": {"url": "https://github.com/acme/payments"}, "stepSeconds": 1}


@pytest.fixture(scope="module")
def demo_templates(build_plane):
    build_plane.apply(DEMO / "cluster-workflow-templates.yaml")


@pytest.fixture
async def demo(world, demo_templates, control_plane):
    """The world with the demo Workflow; ``cli(...)`` runs the CLI against the control plane."""
    await world.setup(secret_reference=False)
    workflow = yaml.safe_load((DEMO / "workflow.yaml").read_text())
    workflow["metadata"]["namespace"] = world.namespace
    await world.cp.create(r.WORKFLOW, workflow)
    await async_wait_for("the demo Workflow Ready (in the controller's cache)", lambda: ready(world))
    world.kubeconfig = str(control_plane.kubeconfig)
    return world


async def ready(world, name: str = "demo-build") -> bool:
    """The Workflow ``name`` of the world's namespace has its Ready condition."""
    workflow = await world.cp.get(r.WORKFLOW, name, world.namespace)
    return c.find((workflow.get("status") or {}).get("conditions"), c.READY) is not None


async def cli(*argv: str, kubeconfig: str | None = None) -> tuple[int, str, str]:
    extra = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    proc = await asyncio.create_subprocess_exec(
        CLI, *argv, *extra, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


async def submit(world, name: str, **params) -> dict:
    body = {"apiVersion": r.API_VERSION, "kind": "WorkflowRun",
            "metadata": {"name": name, "namespace": world.namespace, "labels": {"team": "qa"}},
            "spec": {"workflow": {"name": "demo-build", "parameters": {**PARAMS, **params}}}}  # fmt: skip
    return await world.cp.create(r.WORKFLOW_RUN, body)
