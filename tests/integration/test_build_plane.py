"""The build plane is real: Argo runs a ClusterWorkflowTemplate on kwok pods; the GC removes pods."""

from __future__ import annotations

import json
import uuid

import pytest
from waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata:
  name: two-steps-{suffix}
spec:
  templates:
  - name: checkout
    container: {{image: "alpine/git:2.45", command: [sh, -c, "echo checkout"]}}
  - name: build
    inputs: {{parameters: [{{name: fail, value: "false"}}]}}
    metadata:
      annotations:
        kwok.choreo.dev/fail: "{{{{inputs.parameters.fail}}}}"
    container: {{image: "busybox:1.36", command: [sh, -c, "echo build"]}}
"""

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: {name}
  namespace: {namespace}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: first
        templateRef: {{name: two-steps-{suffix}, template: checkout, clusterScope: true}}
    - - name: second
        templateRef: {{name: two-steps-{suffix}, template: build, clusterScope: true}}
        arguments: {{parameters: [{{name: fail, value: "{fail}"}}]}}
"""


def _workflow(plane, namespace, name):
    out = plane.kubectl("get", "workflows.argoproj.io", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _phase(plane, namespace, name):
    wf = _workflow(plane, namespace, name)
    phase = (wf or {}).get("status", {}).get("phase")
    return phase if phase in {"Succeeded", "Failed", "Error"} else None


def _pods(plane, namespace, name):
    out = plane.kubectl(
        "get", "pods", "-n", namespace, "-l", f"workflows.argoproj.io/workflow={name}", "-o", "name"
    )
    return out.stdout.split()


@pytest.fixture(scope="module")
def argo_setup(build_plane):
    suffix = uuid.uuid4().hex[:6]
    namespace = f"argo-test-{suffix}"
    build_plane.kubectl("create", "namespace", namespace)
    build_plane.apply(stdin=TEMPLATE.format(suffix=suffix))
    return build_plane, namespace, suffix


@pytest.mark.parametrize(
    ("fail_second", "expected_phase", "expected_nodes"),
    [
        pytest.param("false", "Succeeded", {"first": "Succeeded", "second": "Succeeded"}, id="succeeds"),
        pytest.param("true", "Failed", {"first": "Succeeded", "second": "Failed"}, id="second-step-fails"),
    ],
)
def test_cluster_workflow_template_runs_on_kwok(argo_setup, fail_second, expected_phase, expected_nodes):
    plane, namespace, suffix = argo_setup
    name = f"wf-{fail_second}-{suffix}"
    plane.apply(stdin=WORKFLOW.format(name=name, namespace=namespace, fail=fail_second, suffix=suffix))

    assert expected_phase == wait_for(
        f"workflow {name} to finish", lambda: _phase(plane, namespace, name), 120
    )

    nodes = _workflow(plane, namespace, name)["status"]["nodes"].values()
    pod_nodes = {n["displayName"]: n["phase"] for n in nodes if n["type"] == "Pod"}
    assert expected_nodes == pod_nodes


def test_deleting_a_workflow_garbage_collects_its_pods(argo_setup):
    plane, namespace, suffix = argo_setup
    name = f"wf-gc-{suffix}"
    plane.apply(stdin=WORKFLOW.format(name=name, namespace=namespace, fail="false", suffix=suffix))
    wait_for(f"workflow {name} to finish", lambda: _phase(plane, namespace, name), 120)
    assert len(_pods(plane, namespace, name)) == 2

    plane.kubectl("delete", "workflows.argoproj.io", name, "-n", namespace, "--wait=false")

    assert wait_for("pods to be garbage collected", lambda: not _pods(plane, namespace, name) or None, 60)
