"""The kinds the engine may create in a build plane, end to end (issue 14; ``api.buildkinds``).

* A Workflow whose ``spec.resources`` renders a ConfigMap runs to ``Succeeded``, its ConfigMap in the build
  plane while it runs, and the ConfigMap goes with the run (both modes).
* A Workflow rendering a kind outside the table (a Pod) is refused up front: ``Ready=False/InvalidTemplate``
  naming the kind, and its run fails ``InvalidTemplate`` with nothing created in the build plane.
* Through the relay, a build plane that answers 403 (an agent whose own identity may do nothing) and one
  that answers 404 for Argo Workflows (an agent in front of an apiserver without Argo's CRDs: the control
  plane's own) each show their specific waiting condition within 5 s of the run's creation, with a Warning
  Event; deleting the plane object and then the run releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from e2e_support import BOTH_MODES, CONFIGMAP, NO_SECRET, completed, http_ok, inventory, with_resource
from localcluster.pki import CA, write_pair
from localcluster.process import Proc, free_port, wait_until
from rbac_support import token_kubeconfig
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
RELAY = pytest.mark.parametrize("controller", ["relay"], indirect=True)
CLI = str(Path(sys.executable).parent / "choreo-controller")
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "${metadata.workflowRunName}-sidecar"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip


@BOTH_MODES
async def test_a_configmap_workflow_succeeds_and_its_configmap_goes_with_the_run(world, build_plane):
    await world.setup()
    await world.cp.create(
        r.WORKFLOW, with_resource(world.namespace, CONFIGMAP, steps={"build-image": {"delay": "3s"}})
    )
    run = await world.submit("cm-1", parameters=NO_SECRET)
    await world.wait_reason("cm-1", c.R_RUNNING, status="False", within=60)
    uid = run["metadata"]["uid"]
    held = await inventory(build_plane, world, {uid})
    assert {
        ("ConfigMap", f"{world.build_namespace}/cm-1-settings"),
        ("Workflow", f"{world.build_namespace}/cm-1"),
    } <= {(kind, name) for kind, name, _ in held}, held
    done = await world.wait_completed("cm-1", within=60)
    assert (("True", c.R_SUCCEEDED), [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm-1-settings",
                                        "namespace": world.build_namespace}]) == (completed(done), done["status"]["resources"])  # fmt: skip
    await world.cp.delete(r.WORKFLOW_RUN, "cm-1", namespace=world.namespace)
    await world.wait_gone("cm-1", within=30)
    assert [] == await inventory(build_plane, world, {uid})


@BOTH_MODES
async def test_a_kind_outside_the_table_is_refused_up_front(world, build_plane):
    await world.setup()
    await world.cp.create(r.WORKFLOW, with_resource(world.namespace, POD))

    async def ready():
        wf = await world.cp.get(r.WORKFLOW, "docker", world.namespace)
        return c.find((wf.get("status") or {}).get("conditions"), c.READY)

    condition = await async_wait_for("the Workflow's Ready condition", ready, within=30)
    assert ("False", c.R_INVALID_TEMPLATE, True) == (
        condition["status"], condition["reason"], "resources[1].template.kind: v1 Pod is not a kind" in condition["message"]
    )  # fmt: skip
    run = await world.submit("pod-1", parameters=NO_SECRET)
    done = await world.wait_completed("pod-1", within=30)
    assert (("True", c.R_INVALID_TEMPLATE), True) == (completed(done), "v1 Pod is not a kind" in c.find(done["status"]["conditions"], c.COMPLETED)["message"])  # fmt: skip
    assert [] == await inventory(build_plane, world, {run["metadata"]["uid"]})


def _agent_ca(directory: Path) -> CA:
    cert = x509.load_pem_x509_certificate((directory / "agent-ca.crt").read_bytes())
    key = serialization.load_pem_private_key((directory / "agent-ca.key").read_bytes(), password=None)
    return CA(key, cert)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def extra_agent(controller, plane_id: str, kubeconfig: Path, logdir: Path):
    """One more agent, for ``plane_id``, in front of the apiserver ``kubeconfig`` names, connected."""
    pki = controller.pki
    cert, key = write_pair(
        logdir, f"agent-{plane_id}", *_agent_ca(pki.dir).issue(plane_id, uris=(f"openchoreo://buildplane/{plane_id}",), client=True)
    )  # fmt: skip
    probe = free_port()
    agent = Proc(f"agent-{plane_id}", [
        CLI, "agent", f"--gateway-url=wss://localhost:{controller.gateway_port}/v1/agent",
        f"--gateway-ca={pki['gateway-ca.crt']}", f"--tls-cert={cert}", f"--tls-key={key}",
        f"--kubeconfig={kubeconfig}", f"--probe-listen=127.0.0.1:{probe}", f"--name={plane_id}", "--log-level=debug",
    ], logdir, env={"PYTHONUNBUFFERED": "1"})  # fmt: skip
    agent.start()
    try:
        await asyncio.to_thread(
            wait_until,
            f"agent {plane_id} connected",
            lambda: http_ok(f"http://127.0.0.1:{probe}/readyz"),
            timeout=60,
            procs=(agent,),
        )
        yield agent
    finally:
        agent.stop()


async def nobody_kubeconfig(control_plane, path: Path) -> Path:
    """A kubeconfig for a ServiceAccount of the control plane that may do nothing at all."""
    await asyncio.to_thread(
        control_plane.kubectl, "create", "serviceaccount", "e2e-nobody", "-n", "default", check=False
    )
    return await asyncio.to_thread(token_kubeconfig, control_plane, "e2e-nobody", path, "default")


@RELAY
@pytest.mark.parametrize(
    ("refusal", "reason", "words"),
    [
        pytest.param("forbidden", c.R_BUILD_PLANE_FORBIDDEN, "(HTTP 403: ", id="403"),
        pytest.param("no-argo", c.R_BUILD_PLANE_KIND_MISSING, "does not serve the kind of Workflow", id="404-no-argo-crds"),
    ],
)  # fmt: skip
async def test_a_refusing_build_plane_shows_a_specific_condition_within_5s(
    world, controller, control_plane, tmp_path, refusal, reason, words
):
    plane_id = f"{refusal}-{secrets.token_hex(3)}"
    kubeconfig = control_plane.kubeconfig if refusal == "no-argo" else await nobody_kubeconfig(control_plane, tmp_path / "nobody.kc")  # fmt: skip
    await world.setup(build_plane=False, secret_reference=False)
    await world.cp.create(r.BUILD_PLANE, {
        "apiVersion": r.API_VERSION, "kind": "BuildPlane", "metadata": {"name": "default", "namespace": world.namespace},
        "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"value": controller.client_ca}}},
    })  # fmt: skip
    async with extra_agent(controller, plane_id, kubeconfig, tmp_path):
        await world.workflow()
        started = time.monotonic()
        await world.submit("refused", parameters=NO_SECRET)
        run = await world.wait_run(
            "refused", reason, lambda o: completed(o) == ("False", reason), within=5, interval=0.05
        )
        took = time.monotonic() - started
        message = c.find(run["status"]["conditions"], c.COMPLETED)["message"]
        assert (True, True) == (took <= 5.0, words in message), (took, message)

        async def warned() -> bool:  # Events are written off the reconcile path, a moment later
            events = (await world.cp.list(r.EVENT, world.namespace)).items
            return ("Warning", reason) in {(e["type"], e["reason"]) for e in events}

        await async_wait_for(f"a Warning Event {reason}", warned, within=15)
        await world.cp.delete(r.BUILD_PLANE, "default", namespace=world.namespace)
        await world.cp.delete(r.WORKFLOW_RUN, "refused", namespace=world.namespace)
        await world.wait_gone("refused", within=30)  # released: its plane object is gone
    with contextlib.suppress(NotFound):  # what the no-argo agent created in the control plane
        await world.cp.delete(r.NAMESPACE, world.build_namespace)
