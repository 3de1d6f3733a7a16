"""OpenChoreo v1.2.3's own samples (the WorkflowPlane generation), applied unchanged, run end to end.

Each sample Workflow and ClusterWorkflow of ``tests/data/openchoreo/v1.2.3`` with its own
ClusterWorkflowTemplates, a run with the sample's parameters, Argo on kwok, to ``Succeeded`` with every step's
task in the run's status; runs go to the ClusterWorkflowPlane ``default`` and the ``workflows-<ns>`` build
namespace, as in OpenChoreo 1.x:

* the getting-started CI ClusterWorkflows: ``dockerfile-builder`` with the latency-lab Components and their
  WorkflowRuns; ``gcp-buildpacks-builder``, ``paketo-buildpacks-builder`` and ``ballerina-buildpack-builder``
  (no sample Component uses them) for a Component of the samples' ClusterComponentType ``service``;
  ``dockerfile-builder-linter`` (custom steps) after its README's steps, the ClusterComponentType patched to
  allow it;
* a private repository (dockerfile-builder, ``repository.secretRef``): SecretReference -> ExternalSecret ->
  Secret in ``workflows-<ns>``, gone with the run;
* ``github-stats-report`` with its volume claim;
* the generic ``aws-rds-postgres`` and ``azure-sql-database`` (create and delete) Workflows and the
  ``scm-create-repo`` ClusterWorkflows: their steps read a credentials Secret the README has the user create
  in the build namespace; a step that reads it starts only once it exists (``mountgate``), then the run
  succeeds.

What kwok cannot do, said here rather than skipped: no container runs, so nothing is cloned, built, pushed,
linted or provisioned in a cloud. The CI steps' declared outputs come from ``argo_outputs.StepOutputs``. In
1.x the ``generate-workload-cr`` step itself posts the Workload to OpenChoreo's API server (OAuth, then
``curl``); that server is not part of this project, so no Workload appears and these tests do not look for
one (the 0.17 samples, whose step reports the Workload as an output, check it).

OpenChoreo's templates take names the 0.17 samples and the project's own samples also use; the module puts
them in place and restores what was there afterwards. The ClusterWorkflowPlane ``default``, the
ClusterWorkflows and the ClusterComponentTypes are cluster-scoped: the module creates and removes them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from samples_support import (
    CI_STEPS,
    PVC,
    assert_credentials_through_eso_gone_with_the_run,
    assert_succeeded_with,
    bound_claim,
    cluster_templates,
    component_run,
    create_all,
    docs,
    follow_component_run,
    git_secret_reference,
    missing,
    one,
    wait_ready,
)
from waiting import async_wait_for

from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "openchoreo" / "v1.2.3" / "samples"
STARTED = SAMPLES / "getting-started"
GENERIC = SAMPLES / "workflows"
CI = [
    "dockerfile-builder",
    "gcp-buildpacks-builder",
    "paketo-buildpacks-builder",
    "ballerina-buildpack-builder",
]
LINTER = GENERIC / "custom-steps" / "linter"
# (file, credentials Secret and its keys, as each sample's README has the user create it)
CREDENTIALS = {
    "aws-rds-postgres/aws-rds-postgres-create.yaml": ("aws-rds-credentials", ("accessKeyId", "secretAccessKey", "dbPassword")),
    "aws-rds-postgres/aws-rds-postgres-delete.yaml": ("aws-rds-credentials", ("accessKeyId", "secretAccessKey", "dbPassword")),
    "azure-sql-database/azure-sql-database-create.yaml": ("azure-sql-credentials", ("clientId", "clientSecret", "tenantId", "subscriptionId", "adminPassword")),
    "azure-sql-database/azure-sql-database-delete.yaml": ("azure-sql-credentials", ("clientId", "clientSecret", "tenantId", "subscriptionId", "adminPassword")),
    "scm-create-repo/github-create-repo.yaml": ("github-token", ("token",)),
    "scm-create-repo/codecommit-create-repo.yaml": ("aws-credentials", ("accessKeyId", "secretAccessKey")),
}  # fmt: skip
TEMPLATE_FILES = [
    *sorted((STARTED / "workflow-templates").glob("*.yaml")),
    LINTER / "spectral-lint.yaml",
    GENERIC / "github-stats-report" / "cluster-workflow-template-github-stats-report.yaml",
    *(GENERIC / name for name in CREDENTIALS),
]
CLUSTER_OBJECTS = [  # (resource, file): the cluster-scoped control-plane objects of the samples
    *((r.CLUSTER_WORKFLOW, STARTED / "ci-workflows" / f"{name}.yaml") for name in CI),
    (r.CLUSTER_WORKFLOW, LINTER / "dockerfile-builder-linter.yaml"),
    (r.CLUSTER_WORKFLOW, GENERIC / "github-stats-report" / "workflow-github-stats-report.yaml"),
    *((r.CLUSTER_WORKFLOW, GENERIC / name) for name in CREDENTIALS if "scm-create-repo" in name),
    *((r.CLUSTER_COMPONENT_TYPE, path) for path in sorted((STARTED / "component-types").glob("*.yaml"))),
]


@pytest.fixture(scope="module")
def templates_1x(build_plane):
    yield from cluster_templates(build_plane, TEMPLATE_FILES)


@pytest.fixture(scope="module")
def cluster_objects_1x(control_plane):
    """The ClusterWorkflows and ClusterComponentTypes, applied as a platform engineer would (kubectl)."""
    objects = [(resource, one(path, resource.kind)) for resource, path in CLUSTER_OBJECTS]
    control_plane.apply(stdin=yaml.safe_dump_all([obj for _, obj in objects]))
    yield objects
    for resource, obj in objects:
        control_plane.kubectl("delete", resource.plural, obj["metadata"]["name"], "--ignore-not-found")


@pytest.fixture
async def world_1x(world, templates_1x, cluster_objects_1x, registry_push_secret):
    """The test's namespace and the ClusterWorkflowPlane ``default`` (store ``default``) for its runs."""
    await world.setup(build_plane=False, secret_reference=False)
    world.build_namespace = f"workflows-{world.namespace}"
    await world.cp.create(r.CLUSTER_WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": "default"},
        "spec": {"clusterAgent": {"clientCA": {"value": world.client_ca}}, "secretStoreRef": {"name": "default"}},
    })  # fmt: skip
    for _, obj in cluster_objects_1x:
        if obj["kind"] == "ClusterWorkflow":
            await wait_ready(world, r.CLUSTER_WORKFLOW, obj["metadata"]["name"])
    yield world
    await world.cp.delete(r.CLUSTER_WORKFLOW_PLANE, "default")


def component_of(name: str, component_type: str, workflow: str, parameters: dict) -> dict:
    return {
        "apiVersion": r.API_VERSION, "kind": "Component", "metadata": {"name": name},
        "spec": {"owner": {"projectName": "default"},
                 "componentType": {"kind": "ClusterComponentType", "name": component_type},
                 "workflow": {"kind": "ClusterWorkflow", "name": workflow, "parameters": parameters}},
    }  # fmt: skip


def assert_on_the_workflow_plane(world, run: dict) -> None:
    assert {"kind": "ClusterWorkflowPlane", "name": "default", "planeID": "default"} == run["status"]["plane"]
    assert world.build_namespace == run["status"]["runReference"]["namespace"]


@pytest.mark.parametrize("component", ["frontend", "api-service"])
async def test_latency_lab_component_builds_with_dockerfile_builder(world_1x, component):
    path = SAMPLES / "from-source" / "projects" / "latency-lab" / "components" / f"{component}.yaml"
    await create_all(world_1x, (r.COMPONENT, one(path, "Component")))

    done = await follow_component_run(world_1x, one(path, "WorkflowRun"))

    assert_succeeded_with(done, CI_STEPS)
    assert_on_the_workflow_plane(world_1x, done)
    assert {"kind": "ClusterWorkflow", "name": "dockerfile-builder"} == {
        k: done["status"]["resolvedWorkflow"][k] for k in ("kind", "name")
    }


async def test_private_repository_credentials_go_through_external_secrets_and_leave_with_the_run(
    world_1x, build_plane
):
    """dockerfile-builder with ``repository.secretRef``: the ClusterWorkflow's own git-secret ExternalSecret,
    from the SecretReference as OpenChoreo's docs write it, becomes a Secret in ``workflows-<ns>``."""
    await git_secret_reference(world_1x, build_plane, "github-token")
    repository = {"url": "https://github.com/myorg/private-repo", "secretRef": "github-token",
                  "revision": {"branch": "main"}, "appPath": "/"}  # fmt: skip
    component = component_of(
        "my-private-app", "deployment/service", "dockerfile-builder", {"repository": repository}
    )
    await create_all(world_1x, (r.COMPONENT, component))

    done = await follow_component_run(world_1x, component_run(component, "my-private-app-build-01"))

    assert_succeeded_with(done, CI_STEPS)
    assert_on_the_workflow_plane(world_1x, done)
    await assert_credentials_through_eso_gone_with_the_run(world_1x, done)


@pytest.mark.parametrize(
    "workflow", ["gcp-buildpacks-builder", "paketo-buildpacks-builder", "ballerina-buildpack-builder"]
)
async def test_buildpack_cluster_workflow_builds_a_service(world_1x, workflow):
    repository = {"url": "https://github.com/openchoreo/sample-workloads", "revision": {"branch": "main"},
                  "appPath": "/service-go-greeter"}  # fmt: skip
    component = component_of("greeter", "deployment/service", workflow, {"repository": repository})
    await create_all(world_1x, (r.COMPONENT, component))

    done = await follow_component_run(world_1x, component_run(component, "greeter-build-01"))

    assert_succeeded_with(done, CI_STEPS)
    assert_on_the_workflow_plane(world_1x, done)


async def test_linter_custom_step_runs_between_checkout_and_build(world_1x, control_plane):
    """The README's step 3: allow the ClusterWorkflow in the ClusterComponentType ``service``."""
    allowed = {"kind": "ClusterWorkflow", "name": "dockerfile-builder-linter"}
    patch = json.dumps([{"op": "add", "path": "/spec/allowedWorkflows/-", "value": allowed}])
    await asyncio.to_thread(
        control_plane.kubectl, "patch", "clustercomponenttype", "service", "--type=json", "-p", patch
    )
    repository = {"url": "https://github.com/openchoreo/sample-workloads", "revision": {"branch": "main"},
                  "appPath": "/project-latency-lab/api-service"}  # fmt: skip
    parameters = {"repository": repository, "spectral": {"apiSpecPath": "./openapi.yaml"}}
    component = component_of("linted", "deployment/service", "dockerfile-builder-linter", parameters)
    await create_all(world_1x, (r.COMPONENT, component))

    done = await follow_component_run(world_1x, component_run(component, "linted-build-01"))

    assert_succeeded_with(done, ["checkout-source", "spectral-lint", *CI_STEPS[1:]])
    argo = await world_1x.argo("linted-build-01")
    assert {"name": "api-spec-path", "value": "./openapi.yaml"} in argo["spec"]["arguments"]["parameters"]


async def test_github_stats_report_cluster_workflow_runs_with_its_volume_claim(world_1x):
    run = one(GENERIC / "github-stats-report" / "workflow-run-github-stats-report.yaml", "WorkflowRun")
    name = run["metadata"]["name"]
    await create_all(world_1x, (r.WORKFLOW_RUN, run))

    claim = await async_wait_for(
        "the data claim bound", lambda: bound_claim(world_1x, f"{name}-data"), within=60
    )
    done = await world_1x.wait_completed(name, within=120)

    assert_succeeded_with(done, ["fetch", "transform", "report"])
    assert_on_the_workflow_plane(world_1x, done)
    assert "local-path" == claim["spec"]["storageClassName"]
    await async_wait_for(
        "Argo to delete the claim",
        lambda: missing(world_1x.bp, PVC, f"{name}-data", world_1x.build_namespace),
    )


@pytest.mark.parametrize("sample", list(CREDENTIALS))
async def test_generic_workflow_runs_once_its_credentials_secret_exists(world_1x, build_plane, sample):
    """The run first; the step that reads the credentials waits for them (as under a kubelet); then the
    Secret, created in the build namespace as the sample's README says; then the run succeeds."""
    world, path = world_1x, GENERIC / sample
    secret, keys = CREDENTIALS[sample]
    if "Workflow" in [doc["kind"] for doc in docs(path)]:
        await create_all(world, (r.WORKFLOW, one(path, "Workflow")))
        await wait_ready(world, r.WORKFLOW, one(path, "Workflow")["metadata"]["name"])
    run = one(path, "WorkflowRun")
    name = run["metadata"]["name"]
    await create_all(world, (r.WORKFLOW_RUN, run))

    async def held():
        listed = await world.bp.list(
            r.POD, world.build_namespace, label_selector=f"workflows.argoproj.io/workflow={name}"
        )
        waiting = [p["metadata"]["annotations"].get("kwok.choreo.dev/waiting-for", "") for p in listed.items]
        return [w for w in waiting if w.startswith(f"secret/{secret} key ")] or None

    assert await async_wait_for(f"a step waiting for secret {secret}", held, within=90)
    await asyncio.to_thread(
        build_plane.kubectl, "create", "secret", "generic", secret, "-n", world.build_namespace,
        *[f"--from-literal={key}=not-a-real-{key.lower()}" for key in keys],
    )  # fmt: skip
    done = await world.wait_completed(name, within=120)

    assert_succeeded_with(done, pipeline_steps(one(path, "ClusterWorkflowTemplate")))
    assert_on_the_workflow_plane(world, done)


def pipeline_steps(template: dict) -> list[str]:
    """The step names of the template's entrypoint, in order (what the run's tasks must list)."""
    spec = template["spec"]
    (entry,) = [t for t in spec["templates"] if t["name"] == spec["entrypoint"]]
    return [step["name"] for group in entry["steps"] for step in group]
