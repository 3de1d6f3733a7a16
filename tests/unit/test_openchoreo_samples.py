"""OpenChoreo's own samples of both generations (``tests/data/openchoreo``), rendered as users apply them.

* v1.2.3's getting-started CI ClusterWorkflows with its WorkflowPlane samples: everything lands in
  ``workflows-<namespace>``, ``${workflowplane.secretStore}`` is the plane's store or ``""`` without one,
  and a run without ``spec.workflow.kind`` (as the samples' developers may write it) pairs with them.
* v0.17.0's getting-started Workflows with its BuildPlane samples: ``openchoreo-ci-<namespace>``, as before
  (their ExternalSecrets name the store ``default`` literally).
* The engine's own resolution (``reconcilers.workflowrun.resolve``) over real informer stores: the run kind
  (namespaced Workflow first, else ClusterWorkflow) and the plane the samples name.
"""

import json
import pathlib

import pytest
import yaml

from choreo_controller.cli import EXIT_OK, main
from choreo_controller.contracts import ObjectKey, TerminalError
from choreo_controller.reconcilers.ports import Caches
from choreo_controller.reconcilers.workflowrun.resolve import WaitForPlane, resolve_plane, resolve_workflow
from choreo_controller.runtime.store import Store

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "openchoreo"
V1 = DATA / "v1.2.3"
V0 = DATA / "v0.17.0"
CI_WORKFLOWS = sorted((V1 / "samples/getting-started/ci-workflows").glob("*.yaml"))
WORKFLOWS_017 = sorted((V0 / "samples/getting-started/workflows").glob("*.yaml"))
SECRET_REFERENCE = """\
apiVersion: openchoreo.dev/v1alpha1
kind: SecretReference
metadata: {name: git-creds, namespace: default}
spec:
  template: {type: kubernetes.io/basic-auth}
  data:
  - {secretKey: password, remoteRef: {key: git/github, property: token}}
"""
PARAMETERS = {
    "repository": {"url": "https://github.com/openchoreo/sample-workloads", "secretRef": "git-creds"}
}
# 0.17's shorthand schemas require the objects whose fields all have defaults (docker, revision).
PARAMETERS_017 = {"repository": {**PARAMETERS["repository"], "revision": {"branch": "main"}}}
EXTRA_017 = {"docker": {"docker": {}}}


def load(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def write(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else yaml.safe_dump(obj))
    return path


def run_doc(workflow, kind, parameters=PARAMETERS):
    spec = {"name": workflow["metadata"]["name"], "parameters": parameters}
    if kind is not None:
        spec["kind"] = kind
    labels = {"openchoreo.dev/project": "demo", "openchoreo.dev/component": "greeter"}
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": "greeter-build-01", "namespace": "default", "labels": labels},
        "spec": {"workflow": spec},
    }


def render(capsys, tmp_path, workflow_path, run, plane=None):
    args = ["render", "--workflow", str(workflow_path), "--run", str(write(tmp_path, "run.yaml", run))]
    args += ["--ref", str(write(tmp_path, "ref.yaml", SECRET_REFERENCE)), "--output", "json"]
    if plane is not None:
        args += ["--plane", str(write(tmp_path, "plane.yaml", plane))]
    code = main(args)
    out, err = capsys.readouterr()
    assert (EXIT_OK, "") == (code, err)
    return json.loads(out)


def observed(objects):
    """``(namespaces, secret stores of the ExternalSecrets, kinds)`` of rendered objects."""
    stores = [o["spec"]["secretStoreRef"]["name"] for o in objects if o["kind"] == "ExternalSecret"]
    return {o["metadata"]["namespace"] for o in objects}, set(stores), [o["kind"] for o in objects]


def with_store(plane, store):
    return {**plane, "spec": {**(plane.get("spec") or {}), "secretStoreRef": {"name": store}}}


CLUSTER_WORKFLOW_PLANE = {**load(V1 / "config/samples/openchoreo_v1alpha1_clusterworkflowplane.yaml")[0]}
CLUSTER_WORKFLOW_PLANE["metadata"] = {
    "name": "default"
}  # the sample's name is -sample; the workflows use default


@pytest.mark.parametrize("path", CI_WORKFLOWS, ids=lambda p: p.stem)
@pytest.mark.parametrize(
    ("kind", "plane", "store"),
    [
        pytest.param("ClusterWorkflow", CLUSTER_WORKFLOW_PLANE, "", id="sample-plane-no-store"),
        pytest.param(
            None, with_store(CLUSTER_WORKFLOW_PLANE, "openbao"), "openbao", id="no-kind-plane-with-store"
        ),
        pytest.param(None, None, "", id="no-kind-no-plane-file"),
    ],
)
def test_1x_ci_workflows_render_into_workflows_namespace(capsys, tmp_path, path, kind, plane, store):
    (workflow,) = load(path)
    objects = render(capsys, tmp_path, path, run_doc(workflow, kind), plane)
    assert ({"workflows-default"}, {store}, ["ExternalSecret", "ExternalSecret", "Workflow"]) == observed(
        objects
    )


@pytest.mark.parametrize("path", WORKFLOWS_017, ids=lambda p: p.stem)
def test_017_workflows_still_render_into_openchoreo_ci_namespace(capsys, tmp_path, path):
    (workflow,) = load(path)
    (plane,) = load(V0 / "config/samples/openchoreo_v1alpha1_buildplane.yaml")
    plane["metadata"] = {"name": "default", "namespace": "default"}
    parameters = PARAMETERS_017 | EXTRA_017.get(path.stem, {})
    objects = render(capsys, tmp_path, path, run_doc(workflow, None, parameters), plane)
    assert ({"openchoreo-ci-default"}, {"default"}) == observed(objects)[:2]  # 0.17 wrote the store literally


def test_a_1x_workflow_refuses_a_plane_it_does_not_name(capsys, tmp_path):
    path = V1 / "samples/getting-started/ci-workflows/dockerfile-builder.yaml"
    (workflow,) = load(path)
    (plane,) = load(V0 / "config/samples/openchoreo_v1alpha1_clusterbuildplane.yaml")
    run = write(tmp_path, "run.yaml", run_doc(workflow, None))
    code = main(
        [
            "render",
            "--workflow",
            str(path),
            "--run",
            str(run),
            "--plane",
            str(write(tmp_path, "p.yaml", plane)),
        ]
    )
    _, err = capsys.readouterr()
    expected = (
        "InvalidInput: the Workflow uses ClusterWorkflowPlane 'default', but --plane is ClusterBuildPlane "
        "'clusterbuildplane-sample'\n"
    )
    assert (1, expected) == (code, err)


# ---- the engine's resolution over real stores ----------------------------------------------------------
def store_of(*objects):
    store = Store()
    for obj in objects:
        store.upsert({**obj, "metadata": {"resourceVersion": "1", **obj["metadata"]}})
    return store


def caches(workflows=(), cluster_workflows=(), **planes):
    kinds = ("BuildPlane", "ClusterBuildPlane", "WorkflowPlane", "ClusterWorkflowPlane")
    return Caches(
        runs=Store(),
        workflows=store_of(*workflows),
        cluster_workflows=store_of(*cluster_workflows),
        planes={kind: store_of(*planes.get(kind, ())) for kind in kinds},
        secret_references=Store(),
    )


DOCKERFILE_BUILDER = load(V1 / "samples/getting-started/ci-workflows/dockerfile-builder.yaml")[0]
NAMESPACED_TWIN = {
    **DOCKERFILE_BUILDER,
    "kind": "Workflow",
    "metadata": {"name": "dockerfile-builder", "namespace": "default"},
}


@pytest.mark.parametrize(
    ("kind", "workflows", "expected"),
    [
        pytest.param(None, [], "ClusterWorkflow", id="no-kind-only-clusterworkflow"),
        pytest.param(None, [NAMESPACED_TWIN], "Workflow", id="no-kind-namespaced-first"),
        pytest.param("ClusterWorkflow", [NAMESPACED_TWIN], "ClusterWorkflow", id="kind-honoured"),
    ],
)
def test_run_kind_resolution(kind, workflows, expected):
    found_kind, found = resolve_workflow(
        caches(workflows, [DOCKERFILE_BUILDER]), run_doc(DOCKERFILE_BUILDER, kind)
    )
    assert (expected, "dockerfile-builder") == (found_kind, found["metadata"]["name"])


def test_run_without_kind_and_without_either_workflow_names_both():
    with pytest.raises(TerminalError) as failed:
        resolve_workflow(caches(), run_doc(DOCKERFILE_BUILDER, None))
    assert (
        "WorkflowResolutionFailed",
        (
            "neither Workflow 'dockerfile-builder' in namespace 'default' nor ClusterWorkflow "
            "'dockerfile-builder' exists; create it and this run starts"
        ),
    ) == (failed.value.reason, failed.value.message)


def test_the_sample_clusterworkflow_goes_to_the_clusterworkflowplane_it_names():
    plane = {**CLUSTER_WORKFLOW_PLANE, "spec": {"planeID": "ci"}}
    world = caches(
        cluster_workflows=[DOCKERFILE_BUILDER], ClusterWorkflowPlane=[plane], ClusterBuildPlane=[plane]
    )
    ref = resolve_plane(world, run_doc(DOCKERFILE_BUILDER, None), DOCKERFILE_BUILDER, "ClusterWorkflow")
    assert ({"kind": "ClusterWorkflowPlane", "name": "default", "planeID": "ci"}, "workflows-team") == (
        ref.record(),
        ref.kind.generation.build_namespace("team"),
    )
    assert ObjectKey("", "default") == ObjectKey(ref.target("team").namespace, ref.target("team").name)


def test_a_missing_workflowplane_is_reported_with_the_1x_reason():
    with pytest.raises(WaitForPlane) as waiting:
        resolve_plane(caches(), run_doc(DOCKERFILE_BUILDER, None), DOCKERFILE_BUILDER, "ClusterWorkflow")
    assert (
        "WorkflowPlaneNotFound",
        "no plane: ClusterWorkflowPlane 'default' does not exist; waiting for it",
    ) == (waiting.value.reason, waiting.value.message)
