"""Both OpenChoreo API generations in one controller, side by side (issue 13), directly and through the relay
(where a 0.17 agent and a 1.x agent serve the build plane, each with its own identity).

* A 0.17-style run (BuildPlane ``default`` in the namespace, the namespaced Docker Workflow,
  ``openchoreo-ci-*``) and a 1.x-style run (a ClusterWorkflowPlane, a ClusterWorkflow naming it with
  ``workflowPlaneRef``, a run without ``spec.workflow.kind``, ``workflows-*``) run at the same time through
  the same controller; both succeed, each records its own plane, and deleting each cleans up its own
  namespace's objects.
* ``choreo-controller migrate`` moves a namespace while a run it submitted before is kept: the next run goes
  to the 1.x plane, and the earlier one still cleans up in the 0.17 plane it recorded.
"""

from __future__ import annotations

import asyncio
import copy
import sys
import time
from pathlib import Path

import pytest
from e2e_support import BOTH_MODES, completed, docker_workflow

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, BOTH_MODES]


def cluster_workflow_of(world, name: str, plane: str) -> dict:
    """The sample Docker Workflow as a 1.x ClusterWorkflow naming ClusterWorkflowPlane ``plane``."""
    wf = copy.deepcopy(docker_workflow(world.namespace))
    wf["kind"] = "ClusterWorkflow"
    wf["metadata"] = {"name": name, "labels": {"openchoreo.dev/workflow-type": "component"}}
    wf["spec"]["workflowPlaneRef"] = {"kind": "ClusterWorkflowPlane", "name": plane}
    return wf


async def test_a_017_run_and_a_1x_run_side_by_side(world):
    await world.setup()  # namespace, BuildPlane "default" (store openbao), SecretReference "git"
    await world.workflow()  # the namespaced Workflow "docker", no plane reference
    suffix = world.namespace.rsplit("-", 1)[-1]
    plane, name = f"wp-{suffix}", f"docker-1x-{suffix}"
    await world.cp.create(r.CLUSTER_WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": plane},
        "spec": {"planeID": "default", "clusterAgent": {"clientCA": {"value": world.client_ca}},
                 "secretStoreRef": {"name": "vault-1x"}},
    })  # fmt: skip
    try:
        created = await world.cp.create(r.CLUSTER_WORKFLOW, cluster_workflow_of(world, name, plane))
        await world.ready(r.CLUSTER_WORKFLOW, created)
        await world.submit("old-1")  # no kind: the namespace's Workflow "docker" exists
        await world.submit(
            "new-1", workflow=name
        )  # no kind: no Workflow of that name, so the ClusterWorkflow
        old, new = await world.wait_completed("old-1"), await world.wait_completed("new-1")
        assert [("True", c.R_SUCCEEDED)] * 2 == [completed(old), completed(new)]
        legacy, modern = f"openchoreo-ci-{world.namespace}", f"workflows-{world.namespace}"
        assert [
            ("Workflow", {"kind": "BuildPlane", "name": "default", "planeID": "default"}, legacy),
            (
                "ClusterWorkflow",
                {"kind": "ClusterWorkflowPlane", "name": plane, "planeID": "default"},
                modern,
            ),
        ] == [
            (
                run["status"]["resolvedWorkflow"]["kind"],
                run["status"]["plane"],
                run["status"]["runReference"]["namespace"],
            )
            for run in (old, new)
        ]
        stores = {
            ns: [
                o["spec"]["secretStoreRef"]["name"]
                for o in (await world.bp.list(r.EXTERNAL_SECRET, ns)).items
            ]
            for ns in (legacy, modern)
        }
        assert {legacy: ["openbao"], modern: ["vault-1x"]} == stores
        assert [("ExternalSecret", "old-1-git"), ("Workflow", "old-1")] == await world.build_objects(legacy)
        assert [("ExternalSecret", "new-1-git"), ("Workflow", "new-1")] == await world.build_objects(modern)

        for run, namespace in (("new-1", modern), ("old-1", legacy)):
            await world.cp.delete(r.WORKFLOW_RUN, run, namespace=world.namespace)
            await world.wait_gone(run)
            assert [] == await world.build_objects(namespace), f"{run} left objects in {namespace}"
    finally:
        await world.cp.delete(r.CLUSTER_WORKFLOW, name)
        await world.cp.delete(r.CLUSTER_WORKFLOW_PLANE, plane)


CLI = str(Path(sys.executable).parent / "choreo-controller")


async def test_after_migrate_a_run_submitted_before_still_cleans_up(world, control_plane):
    await world.setup()
    workflow = await world.workflow()
    await world.submit("before-1")
    before = await world.wait_completed("before-1")
    legacy, modern = f"openchoreo-ci-{world.namespace}", f"workflows-{world.namespace}"
    migrate = await asyncio.create_subprocess_exec(
        CLI, "migrate", f"--kubeconfig={control_plane.kubeconfig}", f"--namespace={world.namespace}",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert 0 == await asyncio.wait_for(migrate.wait(), 60)
    await _observed(world, workflow["metadata"]["generation"] + 1)  # the controller saw the new reference
    await world.submit("after-1")
    after = await world.wait_completed("after-1")
    assert [
        ("True", c.R_SUCCEEDED, "BuildPlane", legacy),
        ("True", c.R_SUCCEEDED, "WorkflowPlane", modern),
    ] == [
        (*completed(run), run["status"]["plane"]["kind"], run["status"]["runReference"]["namespace"])
        for run in (before, after)
    ]
    for run, namespace in (("before-1", legacy), ("after-1", modern)):
        await world.cp.delete(r.WORKFLOW_RUN, run, namespace=world.namespace)
        await world.wait_gone(run)
        assert [] == await world.build_objects(namespace), f"{run} left objects in {namespace}"


async def _observed(world, generation, within=30.0):
    """The Workflow's Ready condition was written for ``generation``: it is in the controller's cache."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        wf = await world.cp.get(r.WORKFLOW, "docker", world.namespace)
        ready = c.find((wf.get("status") or {}).get("conditions"), c.READY) or {}
        if ready.get("observedGeneration") == generation:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"Workflow docker: Ready not written for generation {generation} in {within:.0f}s")
