"""``choreo-controller migrate`` against the real control plane: the dry run prints the diff and changes
nothing; the migration applies exactly that; a second migration finds nothing to do. One namespace at a time
(``--namespace``), as a team would move; the CLI runs as a process, as an operator runs it."""

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound
from choreo_controller.kube.config import connect  # imports kubernetes_asyncio at collection, not on the loop

pytestmark = pytest.mark.cluster
CLI = str(Path(sys.executable).parent / "choreo-controller")
RUN_TEMPLATE = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "x"}}


@pytest.fixture
async def api(control_plane):
    async with connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def team(api):
    """A namespace with a BuildPlane ``default`` and two Workflows: one without a plane reference, one with."""
    ns = f"migrate-{uuid.uuid4().hex[:6]}"
    await api.create(r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    await api.create(r.BUILD_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "BuildPlane", "metadata": {"name": "default", "namespace": ns},
        "spec": {"planeID": "ci", "clusterAgent": {"clientCA": {"value": "PEM"}}, "secretStoreRef": {"name": "vault"}},
    })  # fmt: skip
    for name, refs in (("refless", {}), ("pinned", {"buildPlaneRef": {"name": "default"}})):
        await api.create(r.WORKFLOW, {
            "apiVersion": r.API_VERSION, "kind": "Workflow", "metadata": {"name": name, "namespace": ns},
            "spec": {"runTemplate": RUN_TEMPLATE, **refs},
        })  # fmt: skip
    yield ns
    await api.delete(r.NAMESPACE, ns)


async def migrate(control_plane, *args):
    proc = await asyncio.create_subprocess_exec(
        CLI, "migrate", f"--kubeconfig={control_plane.kubeconfig}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


def dry_run_output(ns):
    return f"""\
--- /dev/null
+++ WorkflowPlane {ns}/default
@@ -0,0 +1,14 @@
+apiVersion: openchoreo.dev/v1alpha1
+kind: WorkflowPlane
+metadata:
+  name: default
+  namespace: {ns}
+  annotations:
+    openchoreo.dev/migrated-from: BuildPlane/{ns}/default
+spec:
+  clusterAgent:
+    clientCA:
+      value: PEM
+  planeID: ci
+  secretStoreRef:
+    name: vault
--- Workflow {ns}/pinned
+++ Workflow {ns}/pinned
@@ -4,11 +4,11 @@
   name: pinned
   namespace: {ns}
 spec:
-  buildPlaneRef:
-    kind: BuildPlane
-    name: default
   runTemplate:
     apiVersion: argoproj.io/v1alpha1
     kind: Workflow
     metadata:
       name: x
+  workflowPlaneRef:
+    kind: WorkflowPlane
+    name: default
--- Workflow {ns}/refless
+++ Workflow {ns}/refless
@@ -9,3 +9,6 @@
     kind: Workflow
     metadata:
       name: x
+  workflowPlaneRef:
+    kind: WorkflowPlane
+    name: default
# 1 to create, 2 to patch, 0 already migrated, 0 conflicts (dry run: nothing changed); 0 runs recorded on \
0.17 planes: keep those planes and their agents until the runs are gone
"""


async def test_dry_run_prints_the_diff_and_changes_nothing_then_migrate_applies_it(api, control_plane, team):
    before = [await api.get(r.WORKFLOW, name, team) for name in ("pinned", "refless")]
    assert (0, dry_run_output(team), "") == await migrate(control_plane, "--dry-run", f"--namespace={team}")
    with pytest.raises(NotFound):
        await api.get(r.WORKFLOW_PLANE, "default", team)
    assert before == [await api.get(r.WORKFLOW, name, team) for name in ("pinned", "refless")]

    code, out, err = await migrate(control_plane, f"--namespace={team}")
    assert (0, "") == (code, err)
    assert out.endswith("(applied, 0 failed); 0 runs recorded on 0.17 planes: keep those planes and their agents "
                        "until the runs are gone\n")  # fmt: skip
    plane = await api.get(r.WORKFLOW_PLANE, "default", team)
    workflows = [await api.get(r.WORKFLOW, name, team) for name in ("pinned", "refless")]
    assert ("ci", "vault") == (plane["spec"]["planeID"], plane["spec"]["secretStoreRef"]["name"])
    assert [(None, {"kind": "WorkflowPlane", "name": "default"})] * 2 == [
        (w["spec"].get("buildPlaneRef"), w["spec"].get("workflowPlaneRef")) for w in workflows
    ]
    await api.get(r.BUILD_PLANE, "default", team)  # still there: runs recorded it

    again = await migrate(control_plane, f"--namespace={team}")
    nothing = (
        "# 0 to create, 0 to patch, 1 already migrated, 0 conflicts (nothing to migrate); 0 runs recorded "
        "on 0.17 planes: keep those planes and their agents until the runs are gone\n"
    )
    assert (0, nothing, "") == again


async def test_a_conflicting_1x_plane_is_reported_and_left_alone(api, control_plane, team):
    await api.create(r.WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "WorkflowPlane", "metadata": {"name": "default", "namespace": team},
        "spec": {"planeID": "elsewhere"},
    })  # fmt: skip
    code, out, err = await migrate(control_plane, f"--namespace={team}")
    conflict = (
        f"Conflict: WorkflowPlane {team}/default exists with another spec than its BuildPlane; neither it "
        "nor the Workflows using that plane are changed\n"
    )
    assert (1, conflict) == (code, err)
    assert "# 0 to create, 0 to patch, 0 already migrated, 1 conflicts" in out
    assert {"name": "default", "kind": "BuildPlane"} == (await api.get(r.WORKFLOW, "pinned", team))["spec"][
        "buildPlaneRef"
    ]
