"""Issues 8 and 7: the controller runs under exactly manifests/rbac, and every verb there is needed.

The controller runs as a process authenticated with a TokenRequest token of the ServiceAccount the
manifests bind (what a Pod of the Deployment mounts), on the session planes; the shared e2e controller is
stopped meanwhile so nothing else touches these runs. The control plane's apiserver writes an audit log of
every request by a ServiceAccount of ``openchoreo-control-plane``.

* A full lifecycle - a run on a ClusterWorkflow (on a ClusterWorkflowPlane, so the four plane kinds'
  informers are exercised too) succeeds and is deleted by its TTL (finalizer cleanup in the build plane,
  namespace workflows-<ns>); a second run on a Workflow is cancelled with ``choreo-controller runs cancel``, then
  deleted while the build plane is unreachable (cleanup retried, ``CleanupPending`` events counted up),
  and cleaned up once the plane is back; a component build - the Component reported Ready, a signed
  GitHub push to the controller's own auto-build receiver (``--autobuild-bind-address``, the webhook
  Secret read from ``openchoreo-control-plane``) creates the run, which succeeds (step outputs injected:
  kwok runs no Argo executor) and server-side applies a new Workload; leader election throughout - ends
  with no request refused and no ``Forbidden`` in the controller's log, and the set of (verb, group,
  resource) the apiserver saw equals the set the manifests grant: nothing granted is unused, nothing used
  is missing. ``create`` on Workloads is the one verb not audited as such: the apply is a PATCH, and the
  apiserver's extra ``create`` check when it creates the object is implied by the 201 answer
  (``rbac_support.audited``) - so the Workload must not exist before the build, or ``create`` shows unused.
* Taking one verb away (a copy of the manifests bound to another ServiceAccount) makes the controller
  fail with ``Forbidden`` and what needs that verb go nowhere (the run, or the Component's status).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import secrets
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest
import yaml
from argo_outputs import StepOutputs, generated_workload
from e2e_support import World, completed, in_plane_thread
from gitpayloads import COMMIT, body_of, github_push, signed_github
from rbac_support import (
    AUDIT_POLICY,
    NAMESPACE,
    SERVICE_ACCOUNT,
    SaController,
    audited,
    granted,
    rbac_documents,
    sa_username,
    server_kubeconfig,
    token_kubeconfig,
)
from tcpproxy import TcpProxy
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import PATH as AUTOBUILD_PATH
from choreo_controller.contracts import ApiResource, NotFound
from choreo_controller.kube import connect

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]
SAMPLES = Path(__file__).resolve().parents[2] / "manifests" / "samples"
DEMO = SAMPLES / "demo"
CLI = str(Path(sys.executable).parent / "choreo-controller")
PARAMS = {"repository": {"url": "https://github.com/acme/payments"}, "stepSeconds": 1}
#: The sample component workflow's steps, as in test_component_e2e (outputs injected by ``StepOutputs``).
COMPONENT_TEMPLATES = [
    SAMPLES / "cluster-workflow-templates" / "checkout-source.yaml",
    SAMPLES / "cluster-workflow-templates" / "docker.yaml",
    SAMPLES / "cluster-workflow-templates" / "publish-image.yaml",
    SAMPLES / "component" / "cluster-workflow-template-generate-workload.yaml",
]
WEBHOOK_SECRET = "git-webhook-secrets"  # the Secret the auto-build receiver reads
PV = ApiResource("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False)


@pytest.fixture
async def audit_log(control_plane, build_plane, engines):
    """The shared e2e controllers stopped (the next test that needs one starts it), audit on, the manifests'
    RBAC applied."""
    await asyncio.to_thread(engines.stop)
    await in_plane_thread(lambda: control_plane.enable_audit(AUDIT_POLICY))
    await asyncio.to_thread(control_plane.kubectl, "create", "namespace", NAMESPACE, check=False)
    manifests = yaml.safe_dump_all(rbac_documents())
    await asyncio.to_thread(control_plane.apply, stdin=manifests)
    await asyncio.to_thread(build_plane.apply, DEMO / "cluster-workflow-templates.yaml", *COMPONENT_TEMPLATES)
    return control_plane.logdir / "audit.log"


async def start(ctl: SaController) -> None:
    ctl.start()
    await asyncio.to_thread(ctl.wait_ready)


async def setup(world: World, cluster_workflow: str, *, ready: bool = True) -> None:
    """Namespace, BuildPlane, the demo Workflow and a ClusterWorkflow copy of it on a ClusterWorkflowPlane of
    the same name (1.x: a ClusterWorkflow uses cluster-scoped planes only); with ``ready``, wait until the
    controller has set their Ready condition (so they are in its cache before any run is created)."""
    await world.setup(secret_reference=False)
    workflow = yaml.safe_load((DEMO / "workflow.yaml").read_text())
    workflow["metadata"]["namespace"] = world.namespace
    await world.cp.create(r.WORKFLOW, workflow)
    await world.cp.create(r.CLUSTER_WORKFLOW_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "ClusterWorkflowPlane", "metadata": {"name": cluster_workflow},
        "spec": {"clusterAgent": {"clientCA": {"value": "unused-in-direct-mode"}}},
    })  # fmt: skip
    cluster = copy.deepcopy(workflow)
    cluster["kind"], cluster["metadata"] = "ClusterWorkflow", {"name": cluster_workflow}
    cluster["spec"]["workflowPlaneRef"] = {"kind": "ClusterWorkflowPlane", "name": cluster_workflow}
    await world.cp.create(r.CLUSTER_WORKFLOW, cluster)
    if not ready:
        return
    for res, name, namespace in ((r.WORKFLOW, "demo-build", world.namespace), (r.CLUSTER_WORKFLOW, cluster_workflow, None)):  # fmt: skip
        await async_wait_for(f"{res.kind} {name} Ready", lambda res=res, name=name, ns=namespace: _ready(world, res, name, ns))  # fmt: skip


async def _ready(world: World, res, name: str, namespace: str | None) -> bool:
    obj = await world.cp.get(res, name, namespace)
    return c.is_true((obj.get("status") or {}).get("conditions"), c.READY)


def run_object(world: World, name: str, kind: str, workflow: str, *, seconds: int = 1, ttl: str = "") -> dict:
    spec = {"workflow": {"kind": kind, "name": workflow, "parameters": {**PARAMS, "stepSeconds": seconds}}}
    if ttl:
        spec["ttlAfterCompletion"] = ttl
    return {"apiVersion": r.API_VERSION, "kind": "WorkflowRun",
            "metadata": {"name": name, "namespace": world.namespace}, "spec": spec}  # fmt: skip


def _sample(name: str, namespace: str) -> dict:
    obj = yaml.safe_load((SAMPLES / "component" / name).read_text())
    obj["metadata"]["namespace"] = namespace
    return obj


async def _component_ready(world: World) -> bool:
    obj = await world.cp.get(r.COMPONENT, "greeter", world.namespace)
    return c.is_true((obj.get("status") or {}).get("conditions"), c.READY)


async def build_component(world: World, autobuild_port: int, webhook_secret: str) -> None:
    """The sample ComponentType, component Workflow and Component (autoBuild); once the Component is Ready,
    a signed GitHub push to the controller's receiver; the run it creates succeeds and applies the Workload,
    which did not exist before (so the apply creates it: the implied ``create``)."""
    owner = f"acme-{uuid.uuid4().hex[:6]}"
    await world.cp.create(r.COMPONENT_TYPE, _sample("componenttype-service.yaml", world.namespace))
    await world.cp.create(r.WORKFLOW, _sample("workflow-component-docker.yaml", world.namespace))
    component = _sample("component-greeter.yaml", world.namespace)
    component["spec"]["workflow"]["parameters"]["repository"]["url"] = f"https://github.com/{owner}/sample-workloads"  # fmt: skip
    await world.cp.create(r.COMPONENT, component)
    await async_wait_for("Component greeter Ready", lambda: _component_ready(world), within=30)
    with pytest.raises(NotFound):
        await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    image = f"registry.openchoreo-data-plane:5000/{world.namespace}-greeter:{COMMIT[:8]}"
    outputs = {
        "checkout-source": {"git-revision": COMMIT},
        "build-image": {"image-digest": "4f1c0e2d9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"},
        "publish-image": {"image": image},
        "generate-workload-cr": lambda inputs: {"workload-cr": generated_workload(inputs)},
    }
    pv = f"rbac-workspace-{uuid.uuid4().hex[:8]}"
    await world.bp.create(PV, {
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
        "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"],
                 "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/var/lib/{pv}"}},  # kwok: never mounted
    })  # fmt: skip
    try:
        async with StepOutputs(world.bp, world.build_namespace, outputs) as harness:
            body = body_of(github_push(owner, "sample-workloads", modified=("service-go-greeter/main.go",)))
            url = f"http://127.0.0.1:{autobuild_port}{AUTOBUILD_PATH}"
            async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=signed_github(body, webhook_secret)) as resp:  # fmt: skip
                status, answer = resp.status, await resp.json()
            assert (200, 1) == (status, answer["triggeredBuilds"]), answer
            run = await world.wait_completed(answer["workflowRuns"][0].split("/")[1], within=90)
    finally:
        await world.bp.delete(PV, pv)
    workload = await world.cp.get(r.WORKLOAD, "greeter-workload", world.namespace)
    assert ([], ("True", c.R_SUCCEEDED), ("True", c.R_WORKLOAD_UPDATED), image) == (
        harness.errors,
        completed(run),
        _condition(run, c.WORKLOAD_UPDATED),
        workload["spec"]["containers"]["main"]["image"],
    )


def _condition(run: dict, kind: str) -> tuple[str, str] | None:
    cond = c.find((run.get("status") or {}).get("conditions"), kind)
    return None if cond is None else (cond["status"], cond["reason"])


async def webhook_secret(cp) -> str:
    """A fresh ``git-webhook-secrets`` in the controller's namespace (replacing one a previous run left)."""
    value = secrets.token_hex(16)
    with contextlib.suppress(NotFound):
        await cp.delete(r.SECRET, WEBHOOK_SECRET, namespace=NAMESPACE)
    await async_wait_for("the old webhook Secret gone", lambda: _secret_gone(cp), within=30)
    await cp.create(r.SECRET, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": WEBHOOK_SECRET, "namespace": NAMESPACE},
        "data": {"github-secret": base64.b64encode(value.encode()).decode()},
    })  # fmt: skip
    return value


async def _secret_gone(cp) -> bool:
    try:
        await cp.get(r.SECRET, WEBHOOK_SECRET, NAMESPACE)
    except NotFound:
        return True
    return False


async def cleanup_pending_count(world: World, name: str) -> int:
    selector = f"involvedObject.name={name},reason=CleanupPending"
    events = await world.cp.list(r.EVENT, world.namespace, field_selector=selector)
    return sum(int(event.get("count") or 1) for event in events.items)


@pytest.mark.timeout(360)
async def test_full_lifecycle_uses_exactly_the_granted_verbs(audit_log, control_plane, build_plane, tmp_path):
    suffix = secrets.token_hex(3)
    namespace, cluster_workflow = f"rbac-{suffix}", f"rbac-demo-{suffix}"
    kubeconfig = await asyncio.to_thread(token_kubeconfig, control_plane, SERVICE_ACCOUNT, tmp_path / "sa.kubeconfig")  # fmt: skip
    proxy = TcpProxy(("127.0.0.1", build_plane.ports["apiserver"])).open()
    build = server_kubeconfig(
        build_plane.kubeconfig, f"https://127.0.0.1:{proxy.port}", tmp_path / "bp.kubeconfig"
    )
    ctl = SaController(
        "controller-rbac", kubeconfig, build, f"rbac-{suffix}", tmp_path, autobuild_namespace=NAMESPACE
    )
    audit_start = audit_log.stat().st_size if audit_log.exists() else 0
    try:
        await start(ctl)
        async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
            world = World(cp, bp, namespace)
            await setup(world, cluster_workflow)
            secret = await webhook_secret(cp)
            # 1. Succeeds, then its TTL deletes it; the finalizer cleans the build plane up.
            await cp.create(r.WORKFLOW_RUN, run_object(world, "ttl-1", "ClusterWorkflow", cluster_workflow, ttl="3s"))  # fmt: skip
            assert ("True", c.R_SUCCEEDED) == completed(await world.wait_completed("ttl-1", within=90))
            await world.wait_gone("ttl-1", within=60)
            modern = f"workflows-{namespace}"  # ttl-1 ran on the ClusterWorkflowPlane
            await async_wait_for(
                "ttl-1's Argo Workflow deleted", lambda: _gone(world, "ttl-1", modern), within=30
            )
            # 2. A component build: pushed, run created by the receiver, Workload created by the apply.
            assert ctl.autobuild_port is not None
            await build_component(world, ctl.autobuild_port, secret)
            # 3. Cancelled with the CLI while running.
            await cp.create(
                r.WORKFLOW_RUN, run_object(world, "cancel-1", "Workflow", "demo-build", seconds=30)
            )
            await world.wait_reason("cancel-1", c.R_RUNNING, status="False", within=60)
            cancel = await asyncio.create_subprocess_exec(
                CLI, "runs", "cancel", "cancel-1", "-n", namespace, f"--kubeconfig={control_plane.kubeconfig}"
            )
            assert 0 == await cancel.wait()
            await world.wait_reason("cancel-1", c.R_CANCELLED, within=60)
            # 4. Deleted while the build plane is unreachable: the finalizer holds, cleanup is retried.
            proxy.close()
            await cp.delete(r.WORKFLOW_RUN, "cancel-1", namespace=namespace)
            await async_wait_for(
                "a repeated CleanupPending event",
                lambda: _at_least(cleanup_pending_count(world, "cancel-1"), 2),
            )
            assert await world.get_run("cancel-1") is not None
            proxy.open()
            await world.wait_gone("cancel-1", within=60)
            await async_wait_for(
                "cancel-1's Argo Workflow deleted", lambda: _gone(world, "cancel-1"), within=30
            )
            # 5. The concurrency gate reads a group's members live before it cancels one (``get``; since
            #    read-your-writes decides on the controller's own copy, a read a run always makes there).
            await grouped_runs(world)
            await cp.delete(r.CLUSTER_WORKFLOW, cluster_workflow)
            await cp.delete(r.CLUSTER_WORKFLOW_PLANE, cluster_workflow)
            await cp.delete(r.SECRET, WEBHOOK_SECRET, namespace=NAMESPACE)
    finally:
        await asyncio.to_thread(ctl.stop)  # releases the Lease (an update) before exiting
        proxy.close()
    used, refused = audited(audit_log, sa_username(SERVICE_ACCOUNT), start=audit_start)
    assert ([], False) == (refused, "Forbidden" in ctl.log())
    assert granted(rbac_documents()) == used


async def grouped_runs(world: World) -> None:
    """A copy of the demo Workflow with a concurrency group, policy CancelInProgress: a second run cancels the
    first, which it reads from the apiserver before it acts (the cache's word is not enough to cancel)."""
    workflow = yaml.safe_load((DEMO / "workflow.yaml").read_text())
    workflow["metadata"] = {"name": "demo-grouped", "namespace": world.namespace}
    workflow["spec"]["concurrency"] = {"group": "rbac", "policy": "CancelInProgress"}
    await world.cp.create(r.WORKFLOW, workflow)
    await async_wait_for("Workflow demo-grouped Ready", lambda: _ready(world, r.WORKFLOW, "demo-grouped", world.namespace))  # fmt: skip
    await world.cp.create(r.WORKFLOW_RUN, run_object(world, "held-1", "Workflow", "demo-grouped", seconds=30))
    await world.wait_reason("held-1", c.R_RUNNING, status="False", within=60)
    await world.cp.create(r.WORKFLOW_RUN, run_object(world, "held-2", "Workflow", "demo-grouped"))
    assert ("True", c.R_CANCELLED) == completed(await world.wait_completed("held-1", within=90))
    assert ("True", c.R_SUCCEEDED) == completed(await world.wait_completed("held-2", within=90))


async def _gone(world: World, name: str, build_namespace: str | None = None) -> bool:
    return ("Workflow", name) not in await world.build_objects(build_namespace)


async def _at_least(count, minimum: int) -> bool:
    return await count >= minimum


def without(docs: list[dict], verb: str, group: str, resource: str, account: str) -> list[dict]:
    """The manifests for ServiceAccount ``account`` (names suffixed), minus one verb on one resource."""
    out = []
    for doc in copy.deepcopy(docs):
        doc["metadata"]["name"] = account if doc["kind"] == "ServiceAccount" else doc["metadata"]["name"] + "-" + account  # fmt: skip
        if doc["kind"].endswith("Binding"):
            doc["roleRef"]["name"] += "-" + account
            doc["subjects"] = [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
        rules = []
        for rule in doc.get("rules", []):
            if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                rest = [res for res in rule["resources"] if res != resource]
                rules += [{**rule, "resources": rest}] if rest else []
                rules.append(
                    {**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]}
                )
            else:
                rules.append(rule)
        if "rules" in doc:
            doc["rules"] = [rule for rule in rules if rule["verbs"]]
        out.append(doc)
    return out


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("verb", "group", "resource", "stuck"),
    [
        pytest.param("patch", "openchoreo.dev", "workflowruns/status", "run", id="no-status-writes"),
        pytest.param("create", "coordination.k8s.io", "leases", "run", id="no-lease"),
        pytest.param("watch", "openchoreo.dev", "workflowruns", "run", id="no-run-watch"),
        pytest.param("patch", "openchoreo.dev", "components/status", "component", id="no-component-status"),
    ],
)
async def test_one_verb_less_fails_with_forbidden(audit_log, control_plane, build_plane, tmp_path, verb, group, resource, stuck):  # fmt: skip
    suffix = secrets.token_hex(3)
    account = f"reduced-{suffix}"
    reduced = without(rbac_documents(), verb, group, resource, account)
    assert (verb, group, resource) in granted(rbac_documents()) - granted(reduced)
    await asyncio.to_thread(control_plane.apply, stdin=yaml.safe_dump_all(reduced))
    kubeconfig = await asyncio.to_thread(token_kubeconfig, control_plane, account, tmp_path / "sa.kubeconfig")
    ctl = SaController(
        f"controller-{account}", kubeconfig, build_plane.kubeconfig, f"rbac-{suffix}", tmp_path
    )
    try:
        ctl.start()
        async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
            world = World(cp, bp, f"rbac-{suffix}")
            await setup(world, f"rbac-demo-{suffix}", ready=False)
            await cp.create(r.WORKFLOW_RUN, run_object(world, "run-1", "Workflow", "demo-build"))
            # The Component controller writes every Component's Ready condition (a status patch).
            await cp.create(r.COMPONENT, _sample("component-greeter.yaml", world.namespace))
            forbidden = await async_wait_for(
                "Forbidden in the controller log", lambda: _forbidden(ctl), within=60, interval=0.2
            )
            assert resource.split("/")[0].rstrip("s") in forbidden
            if stuck == "run":
                assert completed(await world.get_run("run-1")) is None
            else:
                assert (await cp.get(r.COMPONENT, "greeter", world.namespace)).get("status") is None
            await cp.delete(r.CLUSTER_WORKFLOW, f"rbac-demo-{suffix}")
            await cp.delete(r.CLUSTER_WORKFLOW_PLANE, f"rbac-demo-{suffix}")
    finally:
        await asyncio.to_thread(ctl.stop)


async def _forbidden(ctl: SaController) -> str | None:
    lines = [line for line in ctl.log().splitlines() if "Forbidden" in line or "forbidden" in line]
    return "\n".join(lines) or None
