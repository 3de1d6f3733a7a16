"""Component CI end to end: a signed GitHub push -> auto-build receiver -> WorkflowRun -> governance ->
Argo on kwok (the sample component workflow: checkout, build, publish, generate-workload-cr) -> Succeeded
-> the Workload applied in the control plane with the built image, and ``WorkloadUpdated`` on the run.
Twice: with OpenChoreo 0.17's shapes (a namespaced Workflow mapping its repository parameters in an
annotation, a ComponentType, ``componentType`` as a string) and with 1.x's (a labelled ClusterWorkflow
marking its parameters with ``x-openchoreo-component-parameter-repository-*`` on a ClusterWorkflowPlane, a
ClusterComponentType, ``componentType`` as ``{kind, name}``, a workflow reference without a kind).

The receiver runs in the test process (``AutoBuildServer`` on 127.0.0.1, real HTTP); the controller is the
session's ``choreo-controller controller`` process. Steps with declared outputs get them from
``argo_outputs.StepOutputs`` (kwok runs no Argo executor); the workspace PVC is provisioned by the build
plane's default StorageClass.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import io
import pathlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import yaml
from argo_outputs import StepOutputs, generated_workload
from e2e_support import BOTH_MODES, Holders
from gitpayloads import COMMIT, body_of, github_push, signed_github
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import PATH, AutoBuildServer
from choreo_controller.contracts import NotFound
from choreo_controller.reconcilers.concurrency import order_key

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"
SECRET = "e2e-github-secret"
CWTS = [
    SAMPLES / "cluster-workflow-templates" / "checkout-source.yaml",
    SAMPLES / "cluster-workflow-templates" / "docker.yaml",
    SAMPLES / "cluster-workflow-templates" / "publish-image.yaml",
    SAMPLES / "component" / "cluster-workflow-template-generate-workload.yaml",
]


def _sample(name, namespace, **changes):
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
    await world.cp.create(r.COMPONENT_TYPE, _sample("componenttype-service.yaml", ns))
    await world.cp.create(r.WORKFLOW, _sample("workflow-component-docker.yaml", ns))
    component = _sample("component-greeter.yaml", ns)
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
    await async_wait_for("the Component's Ready condition", _ready(world, want="True"), within=30)
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


def _image(world, commit):
    return f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{commit[:8]}"


def _published(inputs):
    """What the sample publish step reports: the image and tag the Workflow's arguments name."""
    return {"image": f"{inputs['workflow.parameters.image']}:{inputs['workflow.parameters.image-tag']}"}


#: The steps' outputs, each derived from the run's own commit: a build's Workload names its commit's image.
OUTPUTS = {
    "checkout-source": lambda inputs: {"git-revision": inputs["workflow.parameters.commit"]},
    "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
    "publish-image": _published,
    "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
}


async def test_a_push_builds_the_component_and_applies_its_workload(component_world):
    world, owner = component_world
    image = _image(world, COMMIT)
    server, task = await serve(world)
    try:
        async with StepOutputs(world.bp, world.build_namespace, OUTPUTS) as harness:
            status, answer = await push(server, owner)
            assert (200, 1) == (status, answer["triggeredBuilds"])
            run_name = answer["workflowRuns"][0].split("/")[1]
            run = await world.wait_completed(run_name, within=90)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    conditions = run["status"]["conditions"]
    assert [] == harness.errors
    assert ("True", c.R_SUCCEEDED) == (
        c.find(conditions, c.COMPLETED)["status"],
        c.find(conditions, c.COMPLETED)["reason"],
    )
    assert ["checkout-source", "build-image", "publish-image", "generate-workload-cr"] == [
        t["name"] for t in run["status"]["tasks"]
    ]
    updated = c.find(conditions, c.WORKLOAD_UPDATED)
    assert ("True", c.R_WORKLOAD_UPDATED) == (updated["status"], updated["reason"])
    assert [{"name": "image", "value": image}, {"name": "commit", "value": COMMIT}] == run["status"][
        "results"
    ]
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    assert (image, {"projectName": "shop", "componentName": "greeter"}, run_name) == (
        workload["spec"]["containers"]["main"]["image"],
        workload["spec"]["owner"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )


def _published_with_workload(inputs):
    """The publish step reporting the Workload as well (a declared result's source, not the magic step)."""
    found = _published(inputs)
    names = {k: inputs[f"workflow.parameters.{k}"] for k in ("component-name", "project-name")}
    return {**found, "workload": generated_workload({**names, "image": found["image"]})}


async def test_the_workload_is_taken_from_a_declared_result(component_world):
    world, owner = component_world
    declared = {
        "name": "workload-cr",
        "valueFrom": {"taskResult": {"task": "publish-image", "result": "workload"}},
    }
    await world.cp.merge_patch(
        r.WORKFLOW, "component-docker", {"spec": {"results": [declared]}}, namespace=world.namespace
    )
    outputs = {
        **OUTPUTS,
        "publish-image": _published_with_workload,
        "generate-workload-cr": lambda inputs: {
            "workload-cr": generated_workload({**inputs, "image": "not:used"})
        },
    }
    server, task = await serve(world)
    try:
        async with StepOutputs(world.bp, world.build_namespace, outputs) as harness:
            _, answer = await push(server, owner)
            run = await world.wait_completed(answer["workflowRuns"][0].split("/")[1], within=90)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    updated = c.find(run["status"]["conditions"], c.WORKLOAD_UPDATED)
    assert [] == harness.errors
    assert (
        "True",
        f"Workload {world.namespace}/greeter-workload applied from output 'workload' of step 'publish-image'",
    ) == (updated["status"], updated["message"])
    assert ["workload-cr"] == [entry["name"] for entry in run["status"]["results"]]
    assert (_image(world, COMMIT), run["metadata"]["name"]) == await _workload(world)


def _repo(suffix):
    return {f"x-openchoreo-component-parameter-repository-{suffix}": True}


#: The sample workflow's shorthand schema written as 1.x writes it: openAPIV3Schema, the repository fields
#: marked with OpenChoreo's extensions (the revision behind a $ref, which the mapping follows).
OPENAPI = {
    "type": "object",
    "required": ["repository"],
    "$defs": {
        "Revision": {
            "type": "object",
            "default": {},
            "properties": {
                "branch": {"type": "string", "default": "main", **_repo("branch")},
                "commit": {"type": "string", "default": "", **_repo("commit")},
            },
        }
    },
    "properties": {
        "repository": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", **_repo("url")},
                "revision": {"$ref": "#/$defs/Revision"},
                "appPath": {"type": "string", "default": ".", **_repo("app-path")},
                "secretRef": {"type": "string", "default": "", **_repo("secret-ref")},
            },
        },
        "docker": {"type": "object", "default": {}, "properties": {
            "context": {"type": "string", "default": "."}, "filePath": {"type": "string", "default": "./Dockerfile"}}},
        "image": {"type": "object", "default": {}, "properties": {
            "repository": {"type": "string", "default": "registry.openchoreo-data-plane:5000"}}},
    },
}  # fmt: skip


async def test_a_push_builds_a_1x_component_through_its_schema_extensions(component_world):
    world, owner = component_world
    suffix = world.namespace.rsplit("-", 1)[-1]
    cwf, plane, cct = f"component-docker-{suffix}", f"ci-{suffix}", f"service-{suffix}"
    workflow = copy.deepcopy(_sample("workflow-component-docker.yaml", world.namespace))
    workflow["kind"] = "ClusterWorkflow"
    workflow["metadata"] = {"name": cwf, "labels": {"openchoreo.dev/workflow-type": "component"}}
    del workflow["spec"]["schema"]
    workflow["spec"]["parameters"] = {"openAPIV3Schema": OPENAPI}
    workflow["spec"]["workflowPlaneRef"] = {"kind": "ClusterWorkflowPlane", "name": plane}
    await world.cp.create(r.CLUSTER_WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": plane},
        "spec": {"clusterAgent": {"clientCA": {"value": world.client_ca}}}})  # fmt: skip
    await world.cp.create(r.CLUSTER_WORKFLOW, workflow)
    await world.cp.create(r.CLUSTER_COMPONENT_TYPE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterComponentType", "metadata": {"name": cct},
        "spec": {"workloadType": "deployment", "allowedWorkflows": [{"kind": "ClusterWorkflow", "name": cwf}]}})  # fmt: skip
    await world.cp.merge_patch(r.COMPONENT, "greeter", {"spec": {
        "componentType": {"kind": "ClusterComponentType", "name": f"deployment/{cct}"},
        "workflow": {"kind": None, "name": cwf}}}, namespace=world.namespace)  # fmt: skip
    image = f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{COMMIT[:8]}"
    outputs = {
        "checkout-source": {"git-revision": COMMIT},
        "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
        "publish-image": {"image": image},
        "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
    }
    try:
        await async_wait_for("the Component Ready on its 1.x types", _ready(world, want="True"), within=30)
        server, task = await serve(world)
        try:
            async with StepOutputs(world.bp, f"workflows-{world.namespace}", outputs) as harness:
                status, answer = await push(server, owner)
                assert (200, 1) == (status, answer["triggeredBuilds"])
                run_name = answer["workflowRuns"][0].split("/")[1]
                run = await world.wait_completed(run_name, within=90)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        created = await world.cp.get(r.WORKFLOW_RUN, run_name, world.namespace)
        assert [] == harness.errors
        assert ("True", c.R_SUCCEEDED) == (c.find(run["status"]["conditions"], c.COMPLETED)["status"],
                                            c.find(run["status"]["conditions"], c.COMPLETED)["reason"])  # fmt: skip
        assert (
            {"kind": "ClusterWorkflow", "name": cwf},
            {"branch": "main", "commit": COMMIT},
            "ClusterWorkflowPlane",
            f"workflows-{world.namespace}",
        ) == (
            {k: created["spec"]["workflow"].get(k) for k in ("kind", "name")},
            created["spec"]["workflow"]["parameters"]["repository"]["revision"],
            run["status"]["plane"]["kind"],
            run["status"]["runReference"]["namespace"],
        )
        workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
        assert image == workload["spec"]["containers"]["main"]["image"]
    finally:
        for resource, name in ((r.CLUSTER_COMPONENT_TYPE, cct), (r.CLUSTER_WORKFLOW, cwf), (r.CLUSTER_WORKFLOW_PLANE, plane)):  # fmt: skip
            await world.cp.delete(resource, name)


async def test_a_push_for_a_component_whose_workflow_is_not_allowed_fails_governance(component_world):
    world, owner = component_world
    await world.cp.merge_patch(
        r.COMPONENT_TYPE, "service", {"spec": {"allowedWorkflows": []}}, namespace=world.namespace
    )
    # The Component controller reads the same cache as governance: once it reports the refusal, so will runs.
    assert ("False", "WorkflowNotAllowed") == await async_wait_for(
        "the Component to report WorkflowNotAllowed", _ready(world, want="False"), within=30
    )
    server, task = await serve(world)
    try:
        status, answer = await push(server, owner)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (200, 1) == (status, answer["triggeredBuilds"])
    run_name = answer["workflowRuns"][0].split("/")[1]

    run = await world.wait_reason(run_name, c.R_COMPONENT_VALIDATION_FAILED)

    message = c.find(run["status"]["conditions"], c.FAILED)["message"]
    assert (
        "Workflow/component-docker is not allowed by ComponentType 'service'; allowed: none (allowedWorkflows is empty)"
        == message
    )
    assert await world.argo(run_name) is None
    with pytest.raises(NotFound):
        await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)


async def test_the_component_reports_its_workflow_governance(component_world):
    world, _ = component_world
    assert ("True", "Valid") == await async_wait_for(
        "the Component's Ready condition", _ready(world, want="True"), within=30
    )


def _ready(world, *, want):
    async def probe():
        obj = await world.cp.get(r.COMPONENT, "greeter", world.namespace)
        cond = c.find((obj.get("status") or {}).get("conditions"), c.READY)
        return (cond["status"], cond["reason"]) if cond is not None and cond["status"] == want else None

    return probe


# ---- concurrency (Component.spec.workflow.concurrency) ------------------------------------------------
#: The issue's burst: every push of one test sent within this many seconds.
BURST_WINDOW = 2


def _commits(count):
    """``count`` distinct commits, one second apart in commit time, oldest first."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "after": hashlib.sha1(f"{i}".encode(), usedforsecurity=False).hexdigest(),
            "committed_at": (base + timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


async def _burst(world, owner, commits, within):
    """Push ``commits`` all at once (a burst: the webhooks reach the receiver in any order), then wait for
    every run; ``(runs in commit order, holders, errors)``.
    """
    server, task = await serve(world)
    try:
        async with (
            StepOutputs(world.bp, world.build_namespace, OUTPUTS) as harness,
            Holders(world) as holders,
        ):
            started = time.monotonic()
            answers = await asyncio.gather(*(push(server, owner, **commit) for commit in commits))
            window = time.monotonic() - started
            print(f"\n{len(commits)} pushes sent in {window:.2f}s")  # noqa: T201 - the figure
            assert window < BURST_WINDOW
            assert [(200, 1)] * len(commits) == [(s, a["triggeredBuilds"]) for s, a in answers], answers
            names = [answer["workflowRuns"][0].split("/")[1] for _, answer in answers]
            started = time.monotonic()
            runs = await asyncio.gather(*(world.wait_completed(name, within=within) for name in names))
            took = time.monotonic() - started
            print(f"{len(names)} pushes: every run completed {took:.1f}s after the last")  # noqa: T201 - the figure
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return runs, holders, harness.errors


def _outcome(run):
    cond = c.find(run["status"]["conditions"], c.COMPLETED)
    return cond["reason"], cond["message"]


async def _workload(world):
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    return (
        workload["spec"]["containers"]["main"]["image"],
        workload["metadata"]["annotations"]["openchoreo.dev/workflowrun"],
    )


def _wrote(run):
    """``(commit, WorkloadUpdated status, reason)`` of a finished build."""
    updated = c.find(run["status"]["conditions"], c.WORKLOAD_UPDATED) or {}
    commit = run["metadata"]["annotations"][labels.ANNOTATION_COMMIT]
    return commit, updated.get("status"), updated.get("reason")


def _admitted_out_of_order(runs, order):
    """Admissions that broke the gate's rule: a run admitted while a run older by ``order_key`` (creation,
    then commit time) already existed - created in an earlier second than the admission - and waited.

    A run created after the admission could not be seen by it; both timestamps have second precision, so
    only a run created in an earlier second surely existed.
    """
    by_name = {run["metadata"]["name"]: run for run in runs}
    broken = []
    for i, name in enumerate(order):
        admitted = by_name[name]["status"]["concurrency"]["admittedAt"]
        broken += [
            (name, later)
            for later in order[i + 1 :]
            if by_name[later]["metadata"]["creationTimestamp"] < admitted
            and order_key(by_name[later]) < order_key(by_name[name])
        ]
    return broken


@pytest.mark.timeout(900)
@pytest.mark.parametrize("count", [5, 10])
async def test_a_burst_of_pushes_under_queue_runs_one_at_a_time_in_commit_order(component_world, count):
    world, owner = component_world  # no policy set: Queue, the default
    commits = _commits(count)

    runs, holders, errors = await _burst(world, owner, commits, within=600)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert [c.R_SUCCEEDED] * count == [_outcome(run)[0] for run in runs]
    # Never two at once, and each admission in the gate's order (README, Concurrency). Sent all at once, the
    # webhooks may be answered - and their runs created - out of commit order; then an older commit can build
    # after a newer one, and the order guard keeps its Workload out.
    assert (sorted(names), 1) == (sorted(holders.order), holders.most)
    assert [] == _admitted_out_of_order(runs, holders.order)
    wrote = {("True", c.R_WORKLOAD_UPDATED), ("False", c.R_SUPERSEDED)}
    assert [(commit["after"], True) for commit in commits] == [
        (w[0], w[1:] in wrote) for w in map(_wrote, runs)
    ]
    assert (_image(world, commits[-1]["after"]), names[-1]) == await _workload(world)


@pytest.mark.timeout(420)
@BOTH_MODES  # relay: the cancels and the run objects go through the gateway and agent over mTLS
@pytest.mark.parametrize("component_world", ["CancelInProgress"], indirect=True)
async def test_five_pushes_under_cancel_in_progress_leave_only_the_newest_running(component_world):
    world, owner = component_world
    commits = _commits(5)

    runs, holders, errors = await _burst(world, owner, commits, within=300)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert (c.R_SUCCEEDED, "True") == (_outcome(runs[-1])[0], _wrote(runs[-1])[1])
    for older, run in enumerate(runs[:-1]):
        reason, message = _outcome(run)
        by = message.removeprefix("Cancelled: superseded by run '").split("'", 1)[0]
        assert (c.R_CANCELLED, True) == (reason, by in names[older + 1 :]), message
    assert 1 == holders.most
    assert (_image(world, commits[-1]["after"]), names[-1]) == await _workload(world)


@pytest.mark.timeout(420)
@pytest.mark.parametrize("component_world", ["Allow"], indirect=True)
async def test_five_pushes_under_allow_run_together_and_the_newest_workload_stays(component_world):
    world, owner = component_world
    commits = _commits(5)

    runs, holders, errors = await _burst(world, owner, commits, within=300)

    names = [run["metadata"]["name"] for run in runs]
    assert [] == errors
    assert [c.R_SUCCEEDED] * 5 == [_outcome(run)[0] for run in runs]
    assert holders.most > 1  # no gate: the builds overlap
    assert ("True", c.R_WORKLOAD_UPDATED) == _wrote(runs[-1])[1:]
    assert all(_wrote(run)[1:] in {("True", c.R_WORKLOAD_UPDATED), ("False", c.R_SUPERSEDED)} for run in runs)
    assert (_image(world, commits[-1]["after"]), names[-1]) == await _workload(world)
