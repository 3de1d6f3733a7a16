"""TLS trust per plane: a tenant CA that copies another plane CA's subject and key identifier never locks that
plane's agents out (relay-review finding 4). Real TLS and websockets on 127.0.0.1, seven configurations.

OpenSSL looks a client certificate's issuer up by subject and key identifier and takes the first match, so
before ``identity.trusted_records`` the look-alike loaded first decided. Each case starts a gateway with the
victim's plane and the attacker's look-alike (in the order the plane watcher would list them, or added
while the gateway runs) and shows that a fresh victim agent completes TLS, is authenticated and is served.
"""

import pytest
from relayharness import FakeApiserver, Pki, key_identified_ca, lookalike, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller.api import resources
from choreo_controller.relay.identity import PlaneRecord, PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

NS = "openchoreo-ci-acme"
OLD, NEW = "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"
CBP = PlaneRef("ClusterBuildPlane", "", "shared")
TENANT = PlaneRef("BuildPlane", "team-v", "p")
PLATFORM = PlaneRef("BuildPlane", "openchoreo-control-plane", "p")
EVIL = PlaneRef("BuildPlane", "aaa-evil", "p")  # sorts (and is listed) before the victim's namespace

# (victim ref, victim created, attacker planeID, attacker created, copy key id, attacker added while running)
CONFIGURATIONS = [
    pytest.param(CBP, NEW, "evil", OLD, True, False, id="cluster-victim-attacker-listed-first"),
    pytest.param(CBP, NEW, "evil", OLD, True, True, id="cluster-victim-attacker-added-live"),
    pytest.param(TENANT, OLD, "evil", NEW, True, False, id="older-tenant-victim-attacker-listed-first"),
    pytest.param(PLATFORM, NEW, "evil", OLD, True, False, id="platform-namespace-victim-older-attacker"),
    pytest.param(TENANT, OLD, "victim", NEW, True, False, id="attacker-squats-the-victims-planeid"),
    pytest.param(TENANT, OLD, "evil", NEW, False, False, id="attacker-copies-the-subject-only"),
    pytest.param(TENANT, OLD, "evil", NEW, True, True, id="attacker-added-while-the-victim-is-connected"),
]


async def one_session(gateway):
    return len(gateway.registry.sessions("victim")) == 1


async def served(gateway, ref, plane_id):
    return (await gateway.kube_api(plane_id, ref).get(resources.ARGO_WORKFLOW, "w", NS))["served_by"]


@pytest.mark.parametrize(
    ("victim_ref", "victim_created", "attacker_plane", "attacker_created", "copy_key_id", "live"),
    CONFIGURATIONS,
)
async def test_a_lookalike_ca_never_locks_the_victim_out(
    tmp_path, victim_ref, victim_created, attacker_plane, attacker_created, copy_key_id, live
):
    pki = Pki(tmp_path)
    victim_ca = key_identified_ca("plane-agent-ca")
    evil_ca = lookalike(victim_ca, copy_key_id=copy_key_id)
    victim = PlaneRecord(victim_ref, "victim", (victim_ca.cert,), created=victim_created)
    attacker = PlaneRecord(EVIL, attacker_plane, (evil_ca.cert,), created=attacker_created)
    directory = PlaneDirectory([victim] if live else [attacker, victim])
    async with running_gateway(pki, directory) as gateway:
        if live:
            async with running_agent(
                gateway.port, pki, pki.agent("victim", ca=victim_ca), FakeApiserver("v0")
            ):
                directory.replace([attacker, victim])
                assert "v0" == await served(gateway, victim_ref, "victim")  # the live session goes on
        fresh = pki.agent("victim", ca=victim_ca)
        async with running_agent(gateway.port, pki, fresh, FakeApiserver("victim"), name="fresh"):
            await async_wait_for("only the fresh session", lambda: one_session(gateway), 10)
            assert "victim" == await served(gateway, victim_ref, "victim")
        if not copy_key_id:  # no collision: the attacker's own plane works too, nobody is shadowed
            async with running_agent(gateway.port, pki, pki.agent("evil", ca=evil_ca), FakeApiserver("evil")):
                assert "evil" == await served(gateway, EVIL, "evil")
