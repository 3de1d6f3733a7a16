"""The gateway against the real control plane: it learns planeIDs and clientCAs from the plane objects of
both generations (BuildPlane, ClusterBuildPlane, WorkflowPlane, ClusterWorkflowPlane; inline PEM and Secret
references, ``secretRef`` or ``secretKeyRef``), keeps ``status.agentConnection`` current, binds an agent to
the kinds its certificate's URI names, and drops an agent the moment its plane object stops trusting the
agent's CA."""

import asyncio
import base64
import contextlib
import uuid

import pytest
from localcluster.pki import cert_pem
from relayharness import FakeApiserver, Pki, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.relay.identity import PlaneRef, load_anchors
from choreo_controller.relay.planes import PlaneDirectory, PlaneWatcher

pytestmark = pytest.mark.cluster


@pytest.fixture
async def control(control_plane):
    async with kube.connect(control_plane.kubeconfig) as api:
        yield api


@pytest.fixture
async def namespace(control):
    name = f"relay-planes-{uuid.uuid4().hex[:6]}"
    await control.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    await control.delete(resources.NAMESPACE, name)


def build_plane(ns, name, plane_id, client_ca):
    return {"apiVersion": "openchoreo.dev/v1alpha1", "kind": "BuildPlane", "metadata": {"name": name, "namespace": ns},
            "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": client_ca}}}  # fmt: skip


def connection(api, res, name, ns=None):
    async def probe():
        obj = await api.get(res, name, ns)
        return (obj.get("status") or {}).get("agentConnection")

    return probe


def until(probe, predicate):
    async def check():
        value = await probe()
        return value if value and predicate(value) else None

    return check


async def test_status_follows_the_agents_and_a_rotated_ca_drops_them(tmp_path, control, namespace):
    pki = Pki(tmp_path)
    plane_id = f"st-{uuid.uuid4().hex[:6]}"
    pem = cert_pem(pki.plane_ca(plane_id).cert).decode()
    await control.create(resources.BUILD_PLANE, build_plane(namespace, "default", plane_id, {"value": pem}))
    probe = connection(control, resources.BUILD_PLANE, "default", namespace)
    async with running_gateway(pki, control_plane=control) as gateway:
        async with running_agent(gateway.port, pki, pki.agent(plane_id), FakeApiserver()) as agent:
            up = await async_wait_for("connected status", until(probe, lambda c: c["connected"]), within=30)
            assert (1, "1 agent(s) connected") == (up["connectedAgents"], up["message"])
            assert {"lastConnectedTime", "lastHeartbeatTime"} <= set(up)
            assert {PlaneRef("BuildPlane", namespace, "default")} == gateway.registry.pick(
                plane_id
            ).identity.refs
            # Rotate the plane's clientCA: the connected agent's certificate is no longer vouched for.
            other = cert_pem(pki.plane_ca("rotated").cert).decode()
            await control.merge_patch(resources.BUILD_PLANE, "default",
                                      {"spec": {"clusterAgent": {"clientCA": {"value": other}}}}, namespace=namespace)  # fmt: skip
            await async_wait_for("the agent to be dropped", lambda: _dropped(agent, gateway), within=30)
        down = await async_wait_for(
            "disconnected status", until(probe, lambda c: not c["connected"]), within=30
        )
    assert (0, "no agent connected") == (down["connectedAgents"], down["message"])
    assert "lastDisconnectedTime" in down


async def _dropped(agent, gateway):
    return not agent.connected.is_set() and not gateway.registry.sessions()


async def test_client_ca_from_a_secret(tmp_path, control, namespace):
    pki = Pki(tmp_path)
    plane_id = f"sec-{uuid.uuid4().hex[:6]}"
    data = {"ca.crt": base64.b64encode(cert_pem(pki.plane_ca(plane_id).cert)).decode()}
    await control.create(resources.SECRET, {"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"name": "agent-ca", "namespace": namespace}, "data": data})  # fmt: skip
    cluster_plane = f"cbp-{plane_id}"
    await control.create(resources.CLUSTER_BUILD_PLANE, {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "ClusterBuildPlane", "metadata": {"name": cluster_plane},
        "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"secretRef": {
            "name": "agent-ca", "namespace": namespace, "key": "ca.crt"}}}}})  # fmt: skip
    # A namespaced BuildPlane may not borrow a Secret from another namespace.
    await control.create(resources.BUILD_PLANE, build_plane(namespace, "borrower", plane_id,
                                                            {"secretRef": {"name": "x", "namespace": "kube-system",
                                                                           "key": "ca.crt"}}))  # fmt: skip
    try:
        async with running_gateway(pki, control_plane=control) as gateway:
            async with running_agent(gateway.port, pki, pki.agent(plane_id), FakeApiserver()):
                refs = gateway.registry.pick(plane_id).identity.refs
                cluster = await async_wait_for(
                    "cluster plane status",
                    until(
                        connection(control, resources.CLUSTER_BUILD_PLANE, cluster_plane),
                        lambda c: c["connected"],
                    ),
                    within=30,
                )
            borrower = await async_wait_for(
                "borrower status",
                connection(control, resources.BUILD_PLANE, "borrower", namespace),
                within=30,
            )
    finally:
        await control.delete(resources.CLUSTER_BUILD_PLANE, cluster_plane)
    assert {PlaneRef("ClusterBuildPlane", "", cluster_plane)} == refs
    assert 1 == cluster["connectedAgents"]
    expected = (
        "agents cannot connect: a BuildPlane's clientCA Secret must be in its own namespace "
        "or in openchoreo-control-plane"
    )
    assert (False, expected) == (borrower["connected"], borrower["message"])


async def test_each_generation_is_served_by_agents_of_its_own_identity(tmp_path, control, namespace):
    """A BuildPlane and a WorkflowPlane with the same planeID and CA: each counts only its own agents."""
    pki = Pki(tmp_path)
    plane_id = f"gen-{uuid.uuid4().hex[:6]}"
    pem = cert_pem(pki.plane_ca(plane_id).cert)
    data = {"ca.crt": base64.b64encode(pem).decode()}
    await control.create(resources.SECRET, {"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"name": "agent-ca", "namespace": namespace}, "data": data})  # fmt: skip
    await control.create(
        resources.BUILD_PLANE, build_plane(namespace, "default", plane_id, {"value": pem.decode()})
    )
    await control.create(resources.WORKFLOW_PLANE, {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "WorkflowPlane", "metadata": {"name": "default", "namespace": namespace},
        "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"secretKeyRef": {"name": "agent-ca", "key": "ca.crt"}}}},
    })  # fmt: skip
    legacy = connection(control, resources.BUILD_PLANE, "default", namespace)
    modern = connection(control, resources.WORKFLOW_PLANE, "default", namespace)
    async with (
        running_gateway(pki, control_plane=control) as gateway,
        running_agent(gateway.port, pki, pki.agent(plane_id), FakeApiserver(), name="a017"),
    ):
        await async_wait_for("BuildPlane connected", until(legacy, lambda c: c["connected"]), within=30)
        alone = await async_wait_for("WorkflowPlane status", modern, within=30)
        pair = pki.agent(plane_id, uris=(f"openchoreo://workflowplane/{plane_id}",))
        async with running_agent(gateway.port, pki, pair, FakeApiserver(), name="a1x"):
            both = await async_wait_for(
                "WorkflowPlane connected", until(modern, lambda c: c["connected"]), within=30
            )
            refs = sorted(str(ref) for s in gateway.registry.sessions() for ref in s.identity.refs)
            counted = (await legacy())["connectedAgents"]
    assert (False, "no agent connected") == (alone["connected"], alone["message"])
    assert (1, 1) == (both["connectedAgents"], counted)
    assert [f"BuildPlane/{namespace}/default", f"WorkflowPlane/{namespace}/default"] == refs


async def test_status_writes_trigger_nothing_and_spec_changes_are_watched_not_relisted(
    control, namespace, tmp_path
):
    """After the first list the watcher never lists again: a spec change (planeID) arrives by watch, and
    status-only writes, such as the gateway's own ``agentConnection`` updates, do not even rebuild."""
    pki = Pki(tmp_path)
    plane_id = f"gen-{uuid.uuid4().hex[:6]}"
    ca = {"value": cert_pem(pki.plane_ca(plane_id).cert).decode()}
    await control.create(resources.BUILD_PLANE, build_plane(namespace, "default", plane_id, ca))
    directory = PlaneDirectory()
    watcher = PlaneWatcher(control, directory)
    ref = PlaneRef("BuildPlane", namespace, "default")
    async with watching(watcher):
        await async_wait_for(
            "the plane listed", record_is(directory, ref, lambda r: r.plane_id == plane_id), within=30
        )
        rebuilds = watcher.rebuilds
        for i in range(5):
            await control.merge_patch(
                resources.BUILD_PLANE, "default", {"status": {"agentConnection": {"connectedAgents": i}}},
                namespace=namespace, subresource="status",
            )  # fmt: skip
        await control.merge_patch(
            resources.BUILD_PLANE, "default", {"spec": {"planeID": f"{plane_id}-b"}}, namespace=namespace
        )
        await async_wait_for(
            "the new planeID", record_is(directory, ref, lambda r: r.plane_id == f"{plane_id}-b"), within=30
        )
        assert rebuilds + 1 == watcher.rebuilds
        assert {1} == {informer.lists for informer in watcher.planes.values()}


async def test_a_rotated_or_deleted_ca_secret_is_watched(control, namespace, tmp_path):
    """The clientCA Secret is watched on its own (no re-read): rotating its CA replaces the plane's anchors,
    deleting it leaves the plane with no anchors and a problem, recreating it restores them - each within
    the watch's delivery, not a resync period. A Secret no plane names any more is no longer watched."""
    pki = Pki(tmp_path)
    plane_id = f"rot-{uuid.uuid4().hex[:6]}"
    first, second = (cert_pem(pki.plane_ca(name).cert) for name in (plane_id, f"{plane_id}-next"))

    def secret(pem):
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "agent-ca", "namespace": namespace},
                "data": {"ca.crt": base64.b64encode(pem).decode()}}  # fmt: skip

    await control.create(resources.SECRET, secret(first))
    ref_ca = {"secretRef": {"name": "agent-ca", "key": "ca.crt"}}
    await control.create(resources.BUILD_PLANE, build_plane(namespace, "default", plane_id, ref_ca))
    directory = PlaneDirectory()
    watcher = PlaneWatcher(control, directory)
    ref = PlaneRef("BuildPlane", namespace, "default")
    anchored = {pem: load_anchors(pem.decode()) for pem in (first, second)}
    async with watching(watcher):
        await async_wait_for(
            "the first CA", record_is(directory, ref, lambda r: r.anchors == anchored[first]), within=30
        )
        await control.merge_patch(
            resources.SECRET, "agent-ca", {"data": secret(second)["data"]}, namespace=namespace
        )
        await async_wait_for(
            "the rotated CA", record_is(directory, ref, lambda r: r.anchors == anchored[second]), within=30
        )
        await control.delete(resources.SECRET, "agent-ca", namespace=namespace)
        gone = await async_wait_for(
            "the CA withdrawn", record_is(directory, ref, lambda r: not r.anchors), within=30
        )
        assert f"clientCA Secret {namespace}/agent-ca not found" == gone.problem
        await control.create(resources.SECRET, secret(first))
        await async_wait_for(
            "the CA restored", record_is(directory, ref, lambda r: r.anchors == anchored[first]), within=30
        )
        assert (namespace, "agent-ca") in watcher.secrets  # other tests' planes may name theirs
        await control.merge_patch(resources.BUILD_PLANE, "default",
                                  {"spec": {"clusterAgent": {"clientCA": {"value": first.decode(), "secretRef": None}}}},
                                  namespace=namespace)  # fmt: skip
        await async_wait_for(
            "the Secret unwatched", lambda: _true((namespace, "agent-ca") not in watcher.secrets), within=30
        )
        assert {1} == {informer.lists for informer in watcher.planes.values()}


async def _true(value):
    return value or None


def record_is(directory, ref, predicate):
    async def probe():
        record = directory.record(ref)
        return record if record is not None and predicate(record) else None

    return probe


@contextlib.asynccontextmanager
async def watching(watcher):
    task = asyncio.create_task(watcher.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
