"""Workload generation against real planes: Argo runs a ``generate-workload-cr`` step on kwok (its output
reported by the harness, as Argo's executor would), and ``generate_workload`` applies the Workload it
describes into the control plane; refusals become ``WorkloadUpdateFailed`` and nothing is written."""

import pathlib
import uuid
from datetime import UTC, datetime

import pytest
import yaml
from argo_outputs import StepOutputs, generated_workload
from waiting import async_wait_for

from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound
from choreo_controller.engines.argo import ARGO
from choreo_controller.kube.config import connect  # imports kubernetes_asyncio at collection, not on the loop
from choreo_controller.reconcilers.component.workload import Outcome, generate_workload, workload_status

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples" / "component"
IMAGE = "registry.local/acme-shop:9f3c2b1a"

ARGO_WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: {name}
  namespace: {namespace}
spec:
  entrypoint: main
  arguments:
    parameters:
    - {{name: project-name, value: web}}
    - {{name: component-name, value: shop}}
  templates:
  - name: main
    steps:
    - - name: generate-workload-cr
        templateRef: {{name: generate-workload, template: generate-workload-cr, clusterScope: true}}
        arguments:
          parameters:
          - {{name: image, value: "{image}"}}
"""


@pytest.fixture
async def cp(control_plane):
    async with connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def bp(build_plane):
    async with connect(build_plane.kubeconfig) as client:
        yield client


async def _namespace(api, prefix):
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await api.create(r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture
async def team(cp):
    name = await _namespace(cp, "team")
    yield name
    await cp.delete(r.NAMESPACE, name)


async def component_run(cp, namespace):
    run = {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": "shop-run-0a1b2c3d",
            "namespace": namespace,
            "labels": {"openchoreo.dev/project": "web", "openchoreo.dev/component": "shop"},
        },
        "spec": {"workflow": {"name": "component-docker", "parameters": {}}},
    }
    return await cp.create(r.WORKFLOW_RUN, run)


@pytest.fixture
async def succeeded_argo(bp):
    template = yaml.safe_load((SAMPLES / "cluster-workflow-template-generate-workload.yaml").read_text())
    await bp.apply(r.ARGO_CLUSTER_WORKFLOW_TEMPLATE, template, field_manager="test")
    namespace = await _namespace(bp, "wl")
    name = f"wl-{uuid.uuid4().hex[:6]}"
    outputs = {"generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)}}
    async with StepOutputs(bp, namespace, outputs) as harness:
        argo = yaml.safe_load(ARGO_WORKFLOW.format(name=name, namespace=namespace, image=IMAGE))
        await bp.create(r.ARGO_WORKFLOW, argo)

        async def finished():
            argo = await bp.get(r.ARGO_WORKFLOW, name, namespace)
            return argo if argo.get("status", {}).get("phase") in {"Succeeded", "Failed", "Error"} else None

        argo = await async_wait_for(f"Argo Workflow {name} to finish", finished, within=90)
    assert [] == harness.errors
    yield argo
    await bp.delete(r.NAMESPACE, namespace)


async def test_the_generated_workload_is_applied_in_the_runs_namespace(cp, team, succeeded_argo):
    assert "Succeeded" == succeeded_argo["status"]["phase"]
    run = await component_run(cp, team)

    outcome = await generate_workload(cp, run, seen(succeeded_argo))

    assert (
        Outcome(
            "True",
            "WorkloadUpdated",
            f"Workload {team}/shop-workload applied from step 'generate-workload-cr'",
        )
        == outcome
    )
    workload = await cp.get(r.WORKLOAD, "shop-workload", team)
    assert (
        {"projectName": "web", "componentName": "shop"},
        {"main": {"image": IMAGE}},
        {"openchoreo.dev/project": "web", "openchoreo.dev/component": "shop"},
        "shop-run-0a1b2c3d",
    ) == (
        workload["spec"]["owner"],
        workload["spec"]["containers"],
        workload["metadata"]["labels"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )
    again = await generate_workload(cp, run, seen(succeeded_argo))
    assert outcome == again
    rv = (await cp.get(r.WORKLOAD, "shop-workload", team))["metadata"]["resourceVersion"]
    assert workload["metadata"]["resourceVersion"] == rv  # applying the same Workload changes nothing


async def test_workload_status_sets_the_condition_once(cp, team, succeeded_argo):
    run = await component_run(cp, team)
    first = await workload_status(cp, run, seen(succeeded_argo), {}, gen=1, now=_now())
    await cp.delete(r.WORKLOAD, "shop-workload", namespace=team)

    second = await workload_status(cp, run, seen(succeeded_argo), first, gen=1, now=_now())

    assert [("WorkloadUpdated", "True", "WorkloadUpdated")] == [
        (c["type"], c["status"], c["reason"]) for c in first["conditions"]
    ]
    assert first == second
    with pytest.raises(NotFound):  # already updated for this run: not applied again
        await cp.get(r.WORKLOAD, "shop-workload", team)


def _argo_with(document, phase="Succeeded"):
    node = {
        "displayName": "generate-workload-cr",
        "type": "Pod",
        "phase": phase,
        "outputs": {"parameters": [{"name": "workload-cr", "value": document}]},
    }
    return {"status": {"phase": phase, "nodes": {"n": node}}}


@pytest.mark.parametrize(
    ("document", "expected_message"),
    [
        pytest.param(
            generated_workload({"component-name": "billing", "project-name": "web", "image": IMAGE}),
            "workload-cr spec.owner.componentName is 'billing', but this run builds web/shop; a build may only "
            "write its own component's Workload",
            id="another-components-workload",
        ),
        pytest.param(
            generated_workload({"component-name": "shop", "project-name": "web", "image": IMAGE})
            .replace("  owner:", "  replicas: many\n  owner:")
            .replace("containers:", "containers: 3\n  x:"),
            None,
            id="accepted-free-form-spec",
        ),
    ],
)
async def test_refusals_write_nothing(cp, team, document, expected_message):
    run = await component_run(cp, team)
    outcome = await generate_workload(cp, run, seen(_argo_with(document)))
    if expected_message is None:
        assert "True" == outcome.status
        return
    assert Outcome("False", "WorkloadUpdateFailed", expected_message) == outcome
    assert [] == (await cp.list(r.WORKLOAD, team)).items


async def test_the_apiserver_refusing_the_workload_is_a_failed_condition(cp, team):
    run = {
        "metadata": {"name": "generic-1", "namespace": team},  # a generic run: the owner is taken as given
        "spec": {"workflow": {"name": "x"}},
    }
    document = generated_workload({"component-name": "shop", "project-name": "p" * 64, "image": IMAGE})

    outcome = await generate_workload(cp, run, seen(_argo_with(document)))

    assert ("False", "WorkloadUpdateFailed") == (outcome.status, outcome.reason)
    assert outcome.message.startswith(f"Workload {team}/shop-workload was refused: ")
    assert "spec.owner.projectName" in outcome.message


async def test_a_build_without_the_step_has_no_workload_outcome(cp, team):
    run = await component_run(cp, team)
    argo = {
        "status": {
            "phase": "Succeeded",
            "nodes": {"n": {"displayName": "build", "type": "Pod", "phase": "Succeeded"}},
        }
    }
    assert await generate_workload(cp, run, seen(argo)) is None
    assert {} == await workload_status(cp, run, seen(argo), {}, gen=1, now=_now())


def _now():
    return datetime.now(UTC)


def seen(argo):
    """What the tracker hands Workload generation: the engine's observation of the run object."""
    return ARGO.observe(argo, {})
