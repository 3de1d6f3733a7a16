"""Issue 8 acceptance: the controller runs under exactly manifests/rbac, and every verb there is needed.

The controller runs as a process authenticated with a TokenRequest token of the ServiceAccount the
manifests bind (what a Pod of the Deployment mounts), on the session planes; the shared e2e controller is
stopped meanwhile so nothing else touches these runs. The control plane's apiserver writes an audit log of
every request by a ServiceAccount of ``openchoreo-control-plane``.

* A full lifecycle - a run on a ClusterWorkflow succeeds and is deleted by its TTL (finalizer cleanup in
  the build plane); a second run on a Workflow is cancelled with ``choreo-controller runs cancel``, then
  deleted while the build plane is unreachable (cleanup retried, ``CleanupPending`` events counted up),
  and cleaned up once the plane is back; leader election throughout - ends with no request refused and no
  ``Forbidden`` in the controller's log, and the set of (verb, group, resource) the apiserver saw equals
  the set the manifests grant: nothing granted is unused, nothing used is missing.
* Taking one verb away (a copy of the manifests bound to another ServiceAccount) makes the controller
  fail with ``Forbidden`` and the run go nowhere.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import sys
from pathlib import Path

import pytest
import yaml
from e2e_support import World, completed, in_plane_thread
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
from choreo_controller.kube import connect

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.slow]
DEMO = Path(__file__).resolve().parents[2] / "manifests" / "samples" / "demo"
CLI = str(Path(sys.executable).parent / "choreo-controller")
PARAMS = {"repository": {"url": "https://github.com/acme/payments"}, "stepSeconds": 1}


@pytest.fixture
async def audit_log(control_plane, build_plane, engines):
    """The shared e2e controllers stopped (the next test that needs one starts it), audit on, the manifests'
    RBAC applied."""
    await asyncio.to_thread(engines.stop)
    await in_plane_thread(lambda: control_plane.enable_audit(AUDIT_POLICY))
    await asyncio.to_thread(control_plane.kubectl, "create", "namespace", NAMESPACE, check=False)
    manifests = yaml.safe_dump_all(rbac_documents())
    await asyncio.to_thread(control_plane.apply, stdin=manifests)
    await asyncio.to_thread(build_plane.apply, DEMO / "cluster-workflow-templates.yaml")
    return control_plane.logdir / "audit.log"


async def start(ctl: SaController) -> None:
    ctl.start()
    await asyncio.to_thread(ctl.wait_ready)


async def setup(world: World, cluster_workflow: str, *, ready: bool = True) -> None:
    """Namespace, BuildPlane, the demo Workflow and a ClusterWorkflow copy of it; with ``ready``, wait until
    the controller has set their Ready condition (so they are in its cache before any run is created)."""
    await world.setup(secret_reference=False)
    workflow = yaml.safe_load((DEMO / "workflow.yaml").read_text())
    workflow["metadata"]["namespace"] = world.namespace
    await world.cp.create(r.WORKFLOW, workflow)
    cluster = copy.deepcopy(workflow)
    cluster["kind"], cluster["metadata"] = "ClusterWorkflow", {"name": cluster_workflow}
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


async def cleanup_pending_count(world: World, name: str) -> int:
    selector = f"involvedObject.name={name},reason=CleanupPending"
    events = await world.cp.list(r.EVENT, world.namespace, field_selector=selector)
    return sum(int(event.get("count") or 1) for event in events.items)


@pytest.mark.timeout(300)
async def test_full_lifecycle_uses_exactly_the_granted_verbs(audit_log, control_plane, build_plane, tmp_path):
    suffix = secrets.token_hex(3)
    namespace, cluster_workflow = f"rbac-{suffix}", f"rbac-demo-{suffix}"
    kubeconfig = await asyncio.to_thread(token_kubeconfig, control_plane, SERVICE_ACCOUNT, tmp_path / "sa.kubeconfig")  # fmt: skip
    proxy = TcpProxy(("127.0.0.1", build_plane.ports["apiserver"])).open()
    build = server_kubeconfig(
        build_plane.kubeconfig, f"https://127.0.0.1:{proxy.port}", tmp_path / "bp.kubeconfig"
    )
    ctl = SaController("controller-rbac", kubeconfig, build, f"rbac-{suffix}", tmp_path)
    audit_start = audit_log.stat().st_size if audit_log.exists() else 0
    try:
        await start(ctl)
        async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
            world = World(cp, bp, namespace)
            await setup(world, cluster_workflow)
            # 1. Succeeds, then its TTL deletes it; the finalizer cleans the build plane up.
            await cp.create(r.WORKFLOW_RUN, run_object(world, "ttl-1", "ClusterWorkflow", cluster_workflow, ttl="3s"))  # fmt: skip
            assert ("True", c.R_SUCCEEDED) == completed(await world.wait_completed("ttl-1", within=90))
            await world.wait_gone("ttl-1", within=60)
            await async_wait_for("ttl-1's Argo Workflow deleted", lambda: _gone(world, "ttl-1"), within=30)
            # 2. Cancelled with the CLI while running.
            await cp.create(
                r.WORKFLOW_RUN, run_object(world, "cancel-1", "Workflow", "demo-build", seconds=30)
            )
            await world.wait_reason("cancel-1", c.R_RUNNING, status="False", within=60)
            cancel = await asyncio.create_subprocess_exec(
                CLI, "runs", "cancel", "cancel-1", "-n", namespace, f"--kubeconfig={control_plane.kubeconfig}"
            )
            assert 0 == await cancel.wait()
            await world.wait_reason("cancel-1", c.R_CANCELLED, within=60)
            # 3. Deleted while the build plane is unreachable: the finalizer holds, cleanup is retried.
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
            # 4. Read-your-writes: a reconcile that finds the cache behind the controller's own last write
            #    reads the run once (GET). It depends on timing, so concurrent runs are added until the
            #    audit log shows one (a deadline, not a fixed number).
            await async_wait_for(
                "a read-your-writes GET of a WorkflowRun",
                lambda: _burst_until_get(world, audit_log, audit_start),
                within=150,
                interval=0,
            )
            await cp.delete(r.CLUSTER_WORKFLOW, cluster_workflow)
    finally:
        await asyncio.to_thread(ctl.stop)  # releases the Lease (an update) before exiting
        proxy.close()
    used, refused = audited(audit_log, sa_username(SERVICE_ACCOUNT), start=audit_start)
    assert ([], False) == (refused, "Forbidden" in ctl.log())
    assert granted(rbac_documents()) == used


BATCHES = itertools.count()


async def _burst_until_get(world: World, audit_log: Path, start: int) -> bool:
    used, _ = audited(audit_log, sa_username(SERVICE_ACCOUNT), start=start)
    if ("get", "openchoreo.dev", "workflowruns") in used:
        return True
    batch = next(BATCHES)
    names = [f"burst-{batch}-{i}" for i in range(4)]
    for name in names:
        await world.cp.create(r.WORKFLOW_RUN, run_object(world, name, "Workflow", "demo-build"))
    for name in names:
        await world.wait_completed(name, within=90)
    return False


async def _gone(world: World, name: str) -> bool:
    return await world.argo(name) is None


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
    ("verb", "group", "resource"),
    [
        pytest.param("patch", "openchoreo.dev", "workflowruns/status", id="no-status-writes"),
        pytest.param("create", "coordination.k8s.io", "leases", id="no-lease"),
        pytest.param("watch", "openchoreo.dev", "workflowruns", id="no-run-watch"),
    ],
)
async def test_one_verb_less_fails_with_forbidden(audit_log, control_plane, build_plane, tmp_path, verb, group, resource):  # fmt: skip
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
            forbidden = await async_wait_for(
                "Forbidden in the controller log", lambda: _forbidden(ctl), within=60, interval=0.2
            )
            assert resource.split("/")[0].rstrip("s") in forbidden
            assert completed(await world.get_run("run-1")) is None
            await cp.delete(r.CLUSTER_WORKFLOW, f"rbac-demo-{suffix}")
    finally:
        await asyncio.to_thread(ctl.stop)


async def _forbidden(ctl: SaController) -> str | None:
    lines = [line for line in ctl.log().splitlines() if "Forbidden" in line or "forbidden" in line]
    return "\n".join(lines) or None
