"""Workload generation against real planes: Argo runs a ``generate-workload-cr`` step on kwok (its output
reported by the harness, as Argo's executor would), and ``WorkloadWriter`` applies the Workload it
describes into the control plane; refusals become ``WorkloadUpdateFailed`` and nothing is written; a run
older than the one that last wrote the Workload leaves it alone (``Superseded``), and a Workload changed
between the comparison and the apply is not overwritten (the apply's resourceVersion precondition)."""

import pathlib
import uuid
from datetime import UTC, datetime

import pytest
import yaml
from argo_outputs import StepOutputs, generated_workload
from waiting import async_wait_for

from choreo_controller.api import resources as r
from choreo_controller.contracts import Conflict, NotFound
from choreo_controller.engines.argo import ARGO
from choreo_controller.kube.config import connect  # imports kubernetes_asyncio at collection, not on the loop
from choreo_controller.reconcilers.component.generation import WorkloadWriter
from choreo_controller.reconcilers.component.workload import Outcome

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


async def component_run(cp, namespace, name="shop-run-0a1b2c3d"):
    run = {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": name,
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

    writer = WorkloadWriter(cp)
    outcome = await writer.generate(run, seen(succeeded_argo))

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
    again = await writer.generate(run, seen(succeeded_argo))
    assert outcome == again
    rv = (await cp.get(r.WORKLOAD, "shop-workload", team))["metadata"]["resourceVersion"]
    assert workload["metadata"]["resourceVersion"] == rv  # applying the same Workload changes nothing


async def test_workload_status_sets_the_condition_once(cp, team, succeeded_argo):
    run = await component_run(cp, team)
    writer = WorkloadWriter(cp)
    first = await writer.status(run, seen(succeeded_argo), {}, gen=1, now=_now())
    await cp.delete(r.WORKLOAD, "shop-workload", namespace=team)

    second = await writer.status(run, seen(succeeded_argo), first, gen=1, now=_now())

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
    outcome = await WorkloadWriter(cp).generate(run, seen(_argo_with(document)))
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

    outcome = await WorkloadWriter(cp).generate(run, seen(_argo_with(document)))

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
    assert await WorkloadWriter(cp).generate(run, seen(argo)) is None
    assert {} == await WorkloadWriter(cp).status(run, seen(argo), {}, gen=1, now=_now())


async def test_the_workload_can_come_from_a_declared_result_of_any_step(cp, team):
    run = await component_run(cp, team)
    node = {
        "displayName": "describe",
        "type": "Pod",
        "phase": "Succeeded",
        "outputs": {"parameters": [{"name": "doc", "value": _document("shop:from-result")}]},
    }
    argo = {"status": {"phase": "Succeeded", "nodes": {"n": node}}}

    outcome = await WorkloadWriter(cp).generate(run, seen(argo), ("describe", "doc"))

    assert (
        Outcome(
            "True",
            "WorkloadUpdated",
            f"Workload {team}/shop-workload applied from output 'doc' of step 'describe'",
        )
        == outcome
    )
    workload = await cp.get(r.WORKLOAD, "shop-workload", team)
    assert "shop:from-result" == workload["spec"]["containers"]["main"]["image"]
    assert await WorkloadWriter(cp).generate(run, seen(argo)) is None  # no generate-workload-cr step


def _now():
    return datetime.now(UTC)


def seen(argo):
    """What the tracker hands Workload generation: the engine's observation of the run object."""
    return ARGO.observe(argo, {})


def _document(image):
    return generated_workload({"component-name": "shop", "project-name": "web", "image": image})


async def test_an_older_run_never_overwrites_the_workload_of_a_newer_one(cp, team):
    older = await component_run(cp, team, "shop-run-00000001")
    newer = await component_run(cp, team, "shop-run-00000002")  # same second, or later: newer either way
    writer = WorkloadWriter(cp)
    assert "True" == (await writer.generate(newer, seen(_argo_with(_document("shop:new"))))).status

    outcome = await writer.generate(older, seen(_argo_with(_document("shop:old"))))

    assert (
        Outcome(
            "False",
            "Superseded",
            f"Workload {team}/shop-workload was written by run 'shop-run-00000002', newer than this one; "
            "not overwritten",
        )
        == outcome
    )
    workload = await cp.get(r.WORKLOAD, "shop-workload", team)
    assert ("shop:new", "shop-run-00000002") == (
        workload["spec"]["containers"]["main"]["image"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )


class _ChangedBeforeApply:
    """The real API, except that someone changes the Workload between the writer's read and its apply."""

    def __init__(self, api, namespace):
        self._api, self._namespace = api, namespace

    def __getattr__(self, name):
        return getattr(self._api, name)

    async def apply(self, res, obj, **kw):
        patch = {"metadata": {"labels": {"edited": "by-hand"}}}
        await self._api.merge_patch(r.WORKLOAD, "shop-workload", patch, namespace=self._namespace)
        return await self._api.apply(res, obj, **kw)


async def test_a_workload_changed_after_the_comparison_is_not_overwritten(cp, team):
    first, second = (
        await component_run(cp, team, "shop-run-00000001"),
        await component_run(cp, team, "shop-run-00000002"),
    )
    await WorkloadWriter(cp).generate(first, seen(_argo_with(_document("shop:1"))))

    with pytest.raises(Conflict):  # transient: the engine retries, reads again and compares again
        await WorkloadWriter(_ChangedBeforeApply(cp, team)).generate(
            second, seen(_argo_with(_document("shop:2")))
        )

    workload = await cp.get(r.WORKLOAD, "shop-workload", team)
    assert ("shop:1", "by-hand") == (
        workload["spec"]["containers"]["main"]["image"],
        workload["metadata"]["labels"]["edited"],
    )
