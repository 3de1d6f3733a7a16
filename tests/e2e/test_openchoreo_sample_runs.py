"""OpenChoreo v0.17.0's own samples, applied unchanged, run end to end on the local planes.

Each sample Workflow of ``tests/data/openchoreo/v0.17.0`` (its README says where it comes from) with its own
ClusterWorkflowTemplates, a run with the sample's parameters, Argo on kwok, to ``Succeeded`` with every step's
task in the run's status:

* the getting-started component CI Workflows, each with the sample Component that uses it: ``docker``
  (greeting-service) and ``ballerina-buildpack`` (patient-management-service) with the WorkflowRun shipped
  next to their Component; ``google-cloud-buildpacks`` as the CI README's private repository (a
  SecretReference -> the run's ExternalSecret -> a Secret, mounted by the checkout step; in direct and relay
  mode) and ``react`` for a web application, its parameters in the README's shape (no sample Component uses
  it). The Workload comes from the last step's output and is applied in the control plane.
* ``github-stats-report``: its ClusterWorkflowTemplate's ``volumeClaimTemplates`` claim is provisioned,
  bound, and deleted by Argo after the run.

What kwok cannot do, said here rather than skipped: no container runs, so no step clones, builds, pushes or
calls GitHub. A step that declares outputs (``git-revision``, ``image``, ``workload-cr``) gets them from
``argo_outputs.StepOutputs``, standing in for Argo's executor. The CI README's Workflows
(``samples/workflows/ci``) are the exception: they run ClusterWorkflowTemplates that ship in OpenChoreo's Helm
chart (``install/helm/openchoreo-build-plane/templates/workflow-templates``, Helm templates, not part of
the samples), so with the samples' own templates Argo refuses them; their test asserts exactly that.

Only the namespace of namespaced objects is changed (each test has its own). OpenChoreo's templates take the
names of the project's own sample templates (``checkout-source``, ``docker``, ...): the module puts them in
place for its tests and restores what was there afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import BOTH_MODES
from samples_support import (
    CI_STEPS,
    PVC,
    REVISION,
    assert_credentials_through_eso_gone_with_the_run,
    assert_succeeded_with,
    bound_claim,
    cluster_templates,
    component_run,
    create_all,
    follow_component_run,
    git_secret_reference,
    missing,
    one,
    wait_ready,
)
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "openchoreo" / "v0.17.0" / "samples"
STARTED = SAMPLES / "getting-started"
CWT_FILES = [
    *(STARTED / "workflow-templates" / f"{name}.yaml" for name in (
        "checkout-source", "docker", "ballerina-buildpack", "google-cloud-buildpacks", "react", "publish-image",
        "generate-workload",
    )),
    SAMPLES / "workflows" / "generic" / "github-stats-report" / "cluster-workflow-template-github-stats-report.yaml",
]  # fmt: skip


# Argo's two wordings of "the referenced template has no entrypoint" (see the test's docstring)
MISSING_ENTRYPOINT = (
    "invalid spec: spec.entrypoint is required",
    "error in entry template execution: failed to get a template",
)


@pytest.fixture(scope="module")
def openchoreo_templates(build_plane):
    yield from cluster_templates(build_plane, CWT_FILES)


@pytest.fixture
async def samples_world(world, openchoreo_templates, registry_push_secret):
    """The test's namespace with a BuildPlane ``default`` whose secret store is the build plane's ``default``."""
    await world.setup(secret_reference=False, store="default")
    return world


async def run_component_sample(
    world, workflow_file: Path, component_type_file: str, component: dict, run: dict
):
    """Create the sample's Workflow, ComponentType, Component and run; follow the run to completion."""
    workflow = one(workflow_file, "Workflow")
    await create_all(
        world,
        (r.COMPONENT_TYPE, one(STARTED / "component-types" / component_type_file, "ComponentType")),
        (r.WORKFLOW, workflow),
        (r.COMPONENT, component),
    )
    await wait_ready(world, r.WORKFLOW, workflow["metadata"]["name"])
    return await follow_component_run(world, run)


async def assert_workload(world, run: dict, component: str) -> None:
    """The run applied the Workload its last step reported, with the image its publish step reported."""
    updated = c.find(run["status"]["conditions"], c.WORKLOAD_UPDATED)
    assert ("True", c.R_WORKLOAD_UPDATED) == (updated["status"], updated["reason"])
    workload = await world.cp.get(r.WORKLOAD, f"{component}-workload", world.namespace)
    image = f"ttl.sh/openchoreo-builds/default-{component}:v1-{REVISION}"  # project `default` in every sample
    assert image == workload["spec"]["containers"]["main"]["image"]


@pytest.mark.parametrize(
    ("workflow_file", "component_file"),
    [
        ("docker.yaml", "go-docker-greeter/greeting-service.yaml"),
        (
            "ballerina-buildpack.yaml",
            "ballerina-buildpack-patient-management/patient-management-service.yaml",
        ),
    ],
    ids=["docker", "ballerina-buildpack"],
)
async def test_component_sample_builds_and_generates_its_workload(
    samples_world, workflow_file, component_file
):
    world = samples_world
    path = SAMPLES / "from-source" / "services" / component_file
    component, run = one(path, "Component"), one(path, "WorkflowRun")

    done = await run_component_sample(
        world, STARTED / "workflows" / workflow_file, "service.yaml", component, run
    )

    assert_succeeded_with(done, CI_STEPS)
    await assert_workload(world, done, component["metadata"]["name"])


async def test_react_sample_builds_a_web_application(samples_world):
    world = samples_world
    component = {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "Component", "metadata": {"name": "react-starter"},
        "spec": {"owner": {"projectName": "default"},
                 "componentType": {"kind": "ComponentType", "name": "deployment/web-application"},
                 "workflow": {"name": "react", "parameters": {
                     "repository": {"url": "https://github.com/openchoreo/sample-workloads",
                                    "revision": {"branch": "main"}, "appPath": "/webapp-react-nginx"},
                     "nodeVersion": "20"}}},
    }  # fmt: skip
    run = component_run(component, "react-starter-build-01")

    done = await run_component_sample(
        world, STARTED / "workflows" / "react.yaml", "webapp.yaml", component, run
    )

    assert_succeeded_with(done, CI_STEPS)
    argo = await world.argo("react-starter-build-01")
    assert {"name": "node-version", "value": "20"} in argo["spec"]["arguments"]["parameters"]
    await assert_workload(world, done, "react-starter")


@BOTH_MODES
async def test_private_repository_credentials_go_through_external_secrets_and_leave_with_the_run(
    samples_world, build_plane
):
    """The CI README's private repository (google-cloud-buildpacks, ``secretRef: github-token``): the
    SecretReference as OpenChoreo's docs write it, its remote key naming a Secret of the local store."""
    world = samples_world
    await git_secret_reference(world, build_plane, "github-token")
    component = {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "Component", "metadata": {"name": "my-private-app"},
        "spec": {"owner": {"projectName": "default"},
                 "componentType": {"kind": "ComponentType", "name": "deployment/service"},
                 "workflow": {"name": "google-cloud-buildpacks", "parameters": {"repository": {
                     "url": "https://github.com/myorg/private-repo", "secretRef": "github-token",
                     "revision": {"branch": "main"}, "appPath": "/"}}}},
    }  # fmt: skip
    run = component_run(component, "my-private-app-build-01")

    done = await run_component_sample(
        world, STARTED / "workflows" / "google-cloud-buildpacks.yaml", "service.yaml", component, run
    )

    assert_succeeded_with(done, CI_STEPS)
    await assert_credentials_through_eso_gone_with_the_run(world, done)


async def test_github_stats_report_runs_with_its_volume_claim(samples_world):
    world = samples_world
    folder = SAMPLES / "workflows" / "generic" / "github-stats-report"
    workflow = one(folder / "workflow-github-stats-report.yaml", "Workflow")
    run = one(folder / "workflow-run-github-stats-report.yaml", "WorkflowRun")
    await create_all(world, (r.WORKFLOW, workflow))
    await wait_ready(world, r.WORKFLOW, "github-stats-report")
    await create_all(world, (r.WORKFLOW_RUN, run))
    name = run["metadata"]["name"]

    claim = await async_wait_for(
        "the data claim bound", lambda: bound_claim(world, f"{name}-data"), within=60
    )
    done = await world.wait_completed(name, within=120)

    assert_succeeded_with(done, ["fetch", "transform", "report"])
    assert "local-path" == claim["spec"]["storageClassName"]
    argo = await world.argo(name)
    assert {"org": "openchoreo", "repo": "openchoreo", "output-format": "table"} == {
        p["name"]: p["value"] for p in argo["spec"]["arguments"]["parameters"]
    }
    await async_wait_for(
        "Argo to delete the claim after the run",
        lambda: missing(world.bp, PVC, f"{name}-data", world.build_namespace),
        within=60,
    )


@pytest.mark.parametrize(
    ("workflow", "component_type", "parameters"),
    [
        ("docker", "deployment/service", {"docker": {"context": "/", "filePath": "/Dockerfile"}}),
        ("google-cloud-buildpacks", "deployment/service", {"cache": {}, "limits": {}}),
        ("react", "deployment/web-application", {}),
    ],
)
async def test_ci_readme_workflow_needs_the_helm_charts_templates(
    samples_world, workflow, component_type, parameters
):
    """``samples/workflows/ci/*.yaml`` run ``workflowTemplateRef: <name>``: a ClusterWorkflowTemplate with an
    entrypoint, as OpenChoreo's Helm chart installs them. The samples' own template of that name is a
    one-step library template without one, so Argo refuses the Workflow, and the run says why at once.
    The parameters are the README's ``my-app`` with what these schemas require (no defaults there):
    ``secretRef``, ``revision.commit`` and the ``cache``/``limits`` objects.

    Argo words that refusal in one of two ways. It validates a Workflow only while its phase is empty
    (``setExecWorkflow`` in ``workflow/controller/operator.go``); when its throttler postpones the first pass
    (it logged "postponed due to max parallelism limit" once in a CI run, with no limit configured), the
    phase is already ``Pending``, validation is skipped, and there is no entry template to get."""
    world = samples_world
    repository = {"url": "https://github.com/myorg/myapp", "secretRef": "", "appPath": "/",
                  "revision": {"branch": "main", "commit": "a1b2c3d4"}}  # fmt: skip
    component = {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "Component", "metadata": {"name": "my-app"},
        "spec": {"owner": {"projectName": "my-project"},
                 "componentType": {"kind": "ComponentType", "name": component_type},
                 "workflow": {"name": workflow, "parameters": {"repository": repository, **parameters}}},
    }  # fmt: skip
    types = {"deployment/service": "service.yaml", "deployment/web-application": "webapp.yaml"}
    ci = SAMPLES / "workflows" / "ci" / f"{workflow}.yaml"

    done = await run_component_sample(
        world, ci, types[component_type], component, component_run(component, "my-app-1")
    )

    failed = c.find(done["status"]["conditions"], c.FAILED)
    assert c.R_FAILED == failed["reason"]
    assert failed["message"].endswith(MISSING_ENTRYPOINT), failed["message"]
    argo = await world.argo("my-app-1")
    assert {"clusterScope": True, "name": workflow} == argo["spec"]["workflowTemplateRef"]
