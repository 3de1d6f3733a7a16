"""The shipped RBAC is enough, and no more: the agent runs as the ServiceAccount of manifests/build-plane and
the gateway as the one of manifests/gateway, each with a real token from the TokenRequest API.

* Through the relay, the agent performs everything the engine needs (SPEC 5.6 prerequisites - including the
  Role and RoleBinding, which RBAC's escalation check only allows because the ClusterRole holds what the
  Role grants - Argo Workflows, and every extra kind of ``api.buildkinds``), while the same token is refused
  kinds outside that table (pods, events) directly.
* The gateway lists plane objects of both generations, reads a clientCA Secret from
  openchoreo-control-plane (``secretRef``, and 1.x's ``secretKeyRef``) and writes ``status.agentConnection``
  of a BuildPlane and of a ClusterWorkflowPlane.
"""

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from localcluster.pki import cert_pem
from relayharness import FakeApiserver, Pki, allowed_requests, running_agent, running_gateway, send
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.contracts import ApiResource, Forbidden
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

pytestmark = pytest.mark.cluster
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def kubectl(plane, *args, **kw):
    """kubectl off the event loop (it takes a second or two; the hygiene fixture fails a blocked loop)."""
    return asyncio.to_thread(plane.kubectl, *args, **kw)


async def token_kubeconfig(plane, namespace, service_account, path):
    token = (
        await kubectl(plane, "create", "token", service_account, "-n", namespace, "--duration=1h")
    ).stdout.strip()
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": {"server": plane.server,
                                               "certificate-authority": str(plane.pki / "serving-ca.crt")}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
    }))  # fmt: skip
    return path


async def apply_manifests(plane, *files, namespace):
    if (await kubectl(plane, "get", "namespace", namespace, check=False)).returncode != 0:
        await kubectl(plane, "create", "namespace", namespace)
    await asyncio.to_thread(plane.apply, *files)


async def test_the_agent_cluster_role_is_enough_and_no_more(tmp_path, build_plane):
    directory = MANIFESTS / "build-plane"
    await apply_manifests(build_plane, *(directory / f for f in ("serviceaccount.yaml", "clusterrole.yaml",
                                                           "clusterrolebinding.yaml")),
                    namespace="openchoreo-build-plane")  # fmt: skip
    kubeconfig = await token_kubeconfig(
        build_plane, "openchoreo-build-plane", "choreo-relay-agent", tmp_path / "agent.kc"
    )
    pki = Pki(tmp_path)
    ref = PlaneRef("BuildPlane", "acme", "rbac")
    ns = f"openchoreo-ci-rbac-{uuid.uuid4().hex[:6]}"
    async with (
        kube.connect(kubeconfig) as as_agent,
        running_gateway(pki, PlaneDirectory([pki.record("rbac", ref)])) as gateway,
        running_agent(gateway.port, pki, pki.agent("rbac"), as_agent.transport),
    ):
        requests = allowed_requests(ns)
        statuses = []
        for verb, method, path, query, ctype, body, _ in requests:
            (resp,) = await send(gateway.registry.pick("rbac"), [(verb, method, path, query, ctype, body)])
            statuses.append(resp.status)
        assert [r[-1] for r in requests] == statuses
        services = ApiResource("", "v1", "services", "Service")
        for res in (resources.LEASE, services):  # kinds outside api.buildkinds
            with pytest.raises(Forbidden):
                await as_agent.list(res, ns)
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns},
               "spec": {"containers": [{"name": "main", "image": "x"}]}}  # fmt: skip
        with pytest.raises(Forbidden):  # pods and events are read-only (what people read of a run)
            await as_agent.create(resources.POD, pod)
    await kubectl(build_plane, "delete", "namespace", ns, "--wait=false")


async def test_the_gateway_role_is_enough(tmp_path, control_plane):
    await apply_manifests(control_plane, MANIFESTS / "gateway" / "serviceaccount.yaml", MANIFESTS / "gateway" / "rbac.yaml",
                    namespace="openchoreo-control-plane")  # fmt: skip
    kubeconfig = await token_kubeconfig(
        control_plane, "openchoreo-control-plane", "choreo-relay-gateway", tmp_path / "gw.kc"
    )
    pki = Pki(tmp_path)
    plane_id = f"gw-rbac-{uuid.uuid4().hex[:6]}"
    secret = f"agent-ca-{plane_id}"
    ns = f"tenant-{plane_id}"
    await kubectl(control_plane, "create", "namespace", ns)
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(cert_pem(pki.plane_ca(plane_id).cert))
    await kubectl(
        control_plane, "create", "secret", "generic", secret, "-n", "openchoreo-control-plane",
        f"--from-file=ca.crt={ca_file}",
    )  # fmt: skip
    secret_ref = {"name": secret, "namespace": "openchoreo-control-plane", "key": "ca.crt"}
    plane = {"apiVersion": "openchoreo.dev/v1alpha1", "kind": "BuildPlane", "metadata": {"name": "default", "namespace": ns},
             "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"secretRef": secret_ref}}}}  # fmt: skip
    # The 1.x twin: a ClusterWorkflowPlane taking the same CA through OpenChoreo 1.x's secretKeyRef.
    modern = {"apiVersion": "openchoreo.dev/v1alpha1", "kind": "ClusterWorkflowPlane", "metadata": {"name": plane_id},
              "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"secretKeyRef": secret_ref}}}}  # fmt: skip
    await asyncio.to_thread(control_plane.apply, stdin=json.dumps(plane) + "\n---\n" + json.dumps(modern))
    modern_agent = pki.agent(plane_id, uris=(f"openchoreo://workflowplane/{plane_id}",))
    async with (
        kube.connect(kubeconfig) as as_gateway,
        kube.connect(control_plane.kubeconfig) as admin,
        running_gateway(pki, control_plane=as_gateway) as gateway,
        running_agent(gateway.port, pki, pki.agent(plane_id), FakeApiserver()),
        running_agent(gateway.port, pki, modern_agent, FakeApiserver(), name="agent-1x"),
    ):

        async def connected(resource, name, namespace=None):
            obj = await admin.get(resource, name, namespace)
            return ((obj.get("status") or {}).get("agentConnection") or {}).get("connected")

        for resource, name, namespace in ((resources.BUILD_PLANE, "default", ns), (resources.CLUSTER_WORKFLOW_PLANE, plane_id, None)):  # fmt: skip
            assert await async_wait_for(
                f"{resource.kind} status written by the gateway's own identity",
                lambda r=resource, n=name, s=namespace: connected(r, n, s),
                within=30,
            )
        with pytest.raises(Forbidden):
            await as_gateway.list(resources.SECRET, ns)
    await kubectl(control_plane, "delete", "namespace", ns, "--wait=false")
    await kubectl(control_plane, "delete", "clusterworkflowplane", plane_id, "--wait=false")
