"""``RelayBuildPlanes`` over a real gateway and agent (TLS websockets on 127.0.0.1); the apiserver is a fake.

Plane objects that share a planeID and a clientCA share one relayed Argo informer, each with its own API
(so a run's errors name its own plane object); an object with its own CA squatting on the planeID gets its
own informer and API, which no agent of the others serves.
"""

import asyncio
import contextlib
import json

import pytest
from relayharness import FakeApiserver, Pki, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller.api import labels
from choreo_controller.api.resources import ARGO_WORKFLOW as WF
from choreo_controller.contracts import ApiResponse, Forbidden, ObjectKey, Unavailable
from choreo_controller.reconcilers.ports import PlaneTarget
from choreo_controller.relay import authz
from choreo_controller.relay.buildplanes import RelayBuildPlanes, trust_key
from choreo_controller.relay.identity import PlaneRef, pem_of
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.store import Store

NS = "openchoreo-ci-acme"
TENANTS = ("team-a", "team-b")  # BuildPlanes "default" in these namespaces: planeID p1, the agents' CA


def plane_object(namespace, plane_id, ca_pem, name="default"):
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "BuildPlane",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1", "uid": namespace},
        "spec": {"planeID": plane_id, "clusterAgent": {"clientCA": {"value": ca_pem}}},
    }


def target(namespace, plane_id="p1"):
    return PlaneTarget(plane_id, "BuildPlane", namespace, "default")


def argo(name, rv):
    meta = {
        "name": name,
        "namespace": NS,
        "resourceVersion": str(rv),
        "labels": {labels.LABEL_MANAGED_BY: "x"},
    }
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": meta}


class World:
    def __init__(self, pki):
        self.pki = pki
        self.agents_ca = pem_of(pki.plane_ca("p1").cert)
        self.squatter_ca = pem_of(pki.plane_ca("squatter").cert)
        self.caches = Store()
        for namespace in TENANTS:
            self.caches.upsert(plane_object(namespace, "p1", self.agents_ca))
        self.caches.upsert(plane_object("evil", "p1", self.squatter_ca))
        # The 1.x twin of team-a's plane: the same planeID and CA, another kind (and URI family).
        self.workflow_planes = Store()
        self.workflow_planes.upsert({**plane_object("team-a", "p1", self.agents_ca), "kind": "WorkflowPlane"})
        self.directory = PlaneDirectory(self.records())
        self.apiserver = FakeApiserver(handler=self.list_workflows)
        self.events = []

    def records(self):
        records = []
        for kind, cache in (("BuildPlane", self.caches), ("WorkflowPlane", self.workflow_planes)):
            for obj in cache.list():
                meta = obj["metadata"]
                ca = self.pki.plane_ca("p1" if meta["namespace"] != "evil" else "squatter")
                records.append(self.pki.record("p1", PlaneRef(kind, meta["namespace"], "default"), ca))
        return records

    async def list_workflows(self, _req):
        items = [json.loads(line)["object"] for _, line in self.apiserver.log]
        body = {"kind": "WorkflowList", "metadata": {"resourceVersion": str(len(items))}, "items": items}
        return ApiResponse(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def handler(self):
        return EventHandler(on_add=lambda obj: self.events.append(obj["metadata"]["name"]))


@contextlib.asynccontextmanager
async def relay_planes(world, **options):
    async with running_gateway(world.pki, world.directory) as gateway:
        planes = RelayBuildPlanes(
            lambda plane_id, ref, grace: gateway.kube_api(plane_id, ref, connect_grace=grace),
            {
                "BuildPlane": world.caches,
                "WorkflowPlane": world.workflow_planes,
                "ClusterBuildPlane": Store(),
            },
            clock=RealClock(),
            connected=lambda plane_id, ref: gateway.registry.pick(plane_id, ref) is not None,
            **options,
        )
        planes.add_handler(world.handler())
        owner = asyncio.create_task(planes.run())
        await asyncio.sleep(
            0
        )  # run() owns the informers from its first step on (the manager starts it first)
        try:
            yield gateway, planes
        finally:
            owner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await owner


async def test_objects_sharing_a_plane_and_a_client_ca_share_one_relayed_informer(tmp_path):
    world = World(Pki(tmp_path))
    await world.apiserver.emit_object("ADDED", argo("w1", 1))
    async with (
        relay_planes(world, write_grace=0.2) as (gateway, planes),
        running_agent(gateway.port, world.pki, world.pki.agent("p1"), world.apiserver),
    ):
        view = planes.plane(target("team-a"))
        await async_wait_for("the relayed informer to sync", lambda: _synced(view), within=10)
        await world.apiserver.emit_object("ADDED", argo("w2", 2))
        await async_wait_for("a relayed event", lambda: _cached(view, "w2"), within=10)
        neighbour = planes.plane(target("team-b"))
        shared = (neighbour.synced(WF), neighbour.cached(WF, NS, "w2") is not None, neighbour is view)
        squatter = planes.plane(target("evil"))
        squatter_synced = squatter.synced(WF)
        with pytest.raises(Unavailable, match="no agent connected for plane p1 trusted by BuildPlane/evil"):
            await squatter.api.get(WF, "w1", NS)
        found = (await view.api.get(WF, "w1", NS))["kind"]
        targets = planes.targets()
    assert ((True, True, False), False) == (shared, squatter_synced)  # team-b: already synced, no new watch
    assert ("WorkflowList", ["w1", "w2"]) == (found, world.events)  # the fake answers every GET with a list
    assert [target("team-a")] == targets  # one per group, and only groups an agent serves


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            "delete", "BuildPlane/team-a/default (planeID 'p1') no longer exists", id="object-deleted"
        ),
        pytest.param("move", "now names planeID 'p2', not 'p1'", id="object-names-another-plane"),
    ],
)
async def test_a_target_whose_object_is_gone_or_moved_is_unavailable(tmp_path, change, message):
    world = World(Pki(tmp_path))
    if change == "delete":
        world.caches.delete(ObjectKey("team-a", "default"))
    else:
        world.caches.upsert({**plane_object("team-a", "p2", world.agents_ca), "metadata": {
            "name": "default", "namespace": "team-a", "resourceVersion": "2", "uid": "team-a"}})  # fmt: skip
    async with relay_planes(world) as (_, planes):
        with pytest.raises(Unavailable) as caught:
            planes.plane(target("team-a"))
    assert message in str(caught.value)


async def test_the_group_is_rebuilt_when_its_representative_leaves_and_errors_name_the_asking_object(
    tmp_path,
):
    world = World(Pki(tmp_path))
    async with relay_planes(world, write_grace=0.1) as (_, planes):
        first = planes.plane(target("team-a"))
        neighbour = planes.plane(target("team-b"))  # shares team-a's informer, with an API of its own
        with pytest.raises(Unavailable) as caught:
            await neighbour.api.get(WF, "w1", NS)
        world.caches.delete(ObjectKey("team-a", "default"))
        second = planes.plane(target("team-b"))
        again = planes.plane(target("team-b"))
        targets = planes.targets()
    assert "no agent connected for plane p1 trusted by BuildPlane/team-b/default" in str(caught.value)
    assert (False, False, True) == (second is first, second is neighbour, again is second)
    assert [] == targets  # no agent connected: nothing for the orphan sweep


def test_trust_key_names_the_agents_family_and_client_ca_without_key_material():
    by_value = trust_key("BuildPlane", plane_object("a", "p1", "-----BEGIN CERTIFICATE-----x"))
    secret = {"metadata": {"namespace": "a"}, "spec": {"clusterAgent": {"clientCA": {
        "secretRef": {"name": "ca", "key": "ca.crt"}}}}}  # fmt: skip
    key_ref = {"metadata": {}, "spec": {"clusterAgent": {"clientCA": {  # OpenChoreo 1.x's name
        "secretKeyRef": {"name": "ca", "namespace": "cp", "key": "ca.crt"}}}}}  # fmt: skip
    assert (
        True,
        "buildplane|secret:a/ca/ca.crt",
        "workflowplane|secret:cp/ca/ca.crt",
        "buildplane|none",
    ) == (
        by_value.startswith("buildplane|value:") and "BEGIN" not in by_value,
        trust_key("BuildPlane", secret),
        trust_key("ClusterWorkflowPlane", key_ref),
        trust_key("ClusterBuildPlane", {"spec": {}}),
    )


async def test_a_workflowplane_is_served_only_by_an_agent_of_the_1x_identity(tmp_path):
    """Same planeID, same CA: a BuildPlane's agent still never serves a WorkflowPlane, and the other way."""
    world = World(Pki(tmp_path))
    await world.apiserver.emit_object("ADDED", argo("w1", 1))
    modern = PlaneTarget("p1", "WorkflowPlane", "team-a", "default")
    async with relay_planes(world, write_grace=0.2) as (gateway, planes):
        async with running_agent(gateway.port, world.pki, world.pki.agent("p1"), world.apiserver):
            legacy = await planes.plane(target("team-a")).api.get(WF, "w1", NS)
            with pytest.raises(
                Unavailable, match="no agent connected for plane p1 trusted by WorkflowPlane/team-a"
            ):
                await planes.plane(modern).api.get(WF, "w1", NS)
            both_groups = planes.targets()
        pair = world.pki.agent("p1", uris=("openchoreo://workflowplane/p1",))
        async with running_agent(
            gateway.port, world.pki, pair, world.apiserver, scope=authz.SCOPES["workflowplane"]
        ):
            served = await planes.plane(modern).api.get(WF, "w1", "workflows-acme")
            with pytest.raises(Forbidden, match=r"relay policy: only workflows-\* namespaces are allowed"):
                await planes.plane(modern).api.get(WF, "w1", NS)  # its scope is workflows-*
            with pytest.raises(Unavailable, match="trusted by BuildPlane/team-a"):
                await planes.plane(target("team-a")).api.get(WF, "w1", NS)
    assert ("WorkflowList", "WorkflowList") == (legacy["kind"], served["kind"])
    assert [target("team-a")] == both_groups  # the 1.x group has no agent yet: not swept


async def _synced(view):
    return view.synced(WF)


async def _cached(view, name):
    return view.cached(WF, NS, name)
