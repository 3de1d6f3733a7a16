"""Issue 6 acceptance: KubeClient(RelayTransport) -> gateway -> agent -> the real build plane, with Argo running.

An Argo Workflow is created, read, patched and deleted through the relay while a relayed watch and a direct
watch (the ground truth) run side by side from the same resourceVersion. Midway the agent is killed; while
no agent is connected the workflows change behind the relay's back; a new agent connects. The relayed watch
must resume from the last resourceVersion it delivered and end up with exactly the direct watch's events.
"""

import asyncio
import contextlib
import uuid

import pytest
from relayharness import Pki, Recording, running_agent, running_gateway
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
WF = resources.ARGO_WORKFLOW
REF = PlaneRef("BuildPlane", "acme", "e2e")


def workflow(ns, name, tag):
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": ns, "labels": {"relay-test": tag}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
    }


async def collect(events, into):
    async for event in events:
        if event.type != "BOOKMARK":
            meta = event.object["metadata"]
            into.append((event.type, meta["name"], meta["resourceVersion"]))


def saw(events, kind, name, predicate=lambda _: True):
    async def probe():
        return any(t == kind and n == name and predicate(rv) for t, n, rv in events)

    return probe


@pytest.fixture
async def planes(tmp_path, build_plane):
    pki = Pki(tmp_path)
    async with (
        kube.connect(build_plane.kubeconfig) as direct,
        running_gateway(pki, PlaneDirectory([pki.record("e2e", REF)])) as gateway,
    ):
        yield pki, gateway, direct


async def test_workflow_lifecycle_and_a_watch_that_survives_an_agent_restart(planes):
    pki, gateway, direct = planes
    tag = uuid.uuid4().hex[:8]
    ns = f"openchoreo-ci-e2e-{tag}"
    api = gateway.kube_api("e2e", REF, resume_within=60)
    relayed, truth = [], []
    tasks = []
    try:
        async with running_agent(gateway.port, pki, pki.agent("e2e"), direct.transport, name="first"):
            await api.create(
                resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            )
            start = (await api.list(WF, ns)).resource_version
            selector = f"relay-test={tag}"
            tasks = [
                asyncio.create_task(
                    collect(api.watch(WF, ns, resource_version=start, label_selector=selector), relayed)
                ),
                asyncio.create_task(
                    collect(direct.watch(WF, ns, resource_version=start, label_selector=selector), truth)
                ),
            ]
            created = await api.create(WF, workflow(ns, "w1", tag))
            fetched = await api.get(WF, "w1", ns)
            patched = await api.merge_patch(
                WF, "w1", {"metadata": {"annotations": {"step": "1"}}}, namespace=ns
            )
            assert (created["metadata"]["uid"], "1") == (
                fetched["metadata"]["uid"],
                patched["metadata"]["annotations"]["step"],
            )
            await async_wait_for("the relayed MODIFIED", saw(relayed, "MODIFIED", "w1"), within=30)
        last_delivered = relayed[-1][2]
        # No agent now: the build plane moves on without the relay.
        await direct.merge_patch(WF, "w1", {"metadata": {"annotations": {"step": "2"}}}, namespace=ns)
        await direct.create(WF, workflow(ns, "w2", tag))
        await direct.delete(WF, "w1", namespace=ns)
        served = Recording(direct.transport)
        async with running_agent(gateway.port, pki, pki.agent("e2e"), served, name="second"):
            await async_wait_for("the missed DELETED of w1", saw(relayed, "DELETED", "w1"), within=60)
            await api.delete(WF, "w2", namespace=ns)
            await async_wait_for("the DELETED of w2", saw(relayed, "DELETED", "w2"), within=60)
            await async_wait_for("the direct DELETED of w2", saw(truth, "DELETED", "w2"), within=60)
        resumed_from = [
            dict(c.query).get("resourceVersion") for c in served.calls if dict(c.query).get("watch")
        ]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await direct.delete(resources.NAMESPACE, ns)
    kinds = {t for t, _, _ in relayed}
    assert {"ADDED", "MODIFIED", "DELETED"} <= kinds
    assert [last_delivered] == resumed_from
    assert truth == relayed


async def test_reads_across_namespaces_see_build_namespaces_only(planes):
    pki, gateway, direct = planes
    tag = uuid.uuid4().hex[:8]
    ours, theirs = f"openchoreo-ci-across-{tag}", f"team-{tag}"
    selector = f"relay-test={tag}"
    for ns in (ours, theirs):
        await direct.create(
            resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        )
    try:
        async with running_agent(gateway.port, pki, pki.agent("e2e"), direct.transport):
            api = gateway.kube_api("e2e", REF)
            start = (await direct.list(WF, label_selector=selector)).resource_version
            events = api.watch(WF, resource_version=start, label_selector=selector)
            # In resourceVersion order: ours/w, theirs/w, ours/last - theirs must not come through.
            for ns, name in ((ours, "w"), (theirs, "w"), (ours, "last")):
                await direct.create(WF, workflow(ns, name, tag))
            seen = []
            async for event in events:
                seen.append(
                    (event.type, event.object["metadata"]["namespace"], event.object["metadata"]["name"])
                )
                if event.object["metadata"]["name"] == "last":
                    break
            await events.aclose()
            listed = await api.list(WF, label_selector=selector)
            truth = await direct.list(WF, label_selector=selector)
    finally:
        for ns in (ours, theirs):
            await direct.delete(resources.NAMESPACE, ns)
    assert {ours, theirs} == {i["metadata"]["namespace"] for i in truth.items}
    assert [ours, ours] == [i["metadata"]["namespace"] for i in listed.items]
    assert [("ADDED", ours, "w"), ("ADDED", ours, "last")] == [e for e in seen if e[0] == "ADDED"]
    assert theirs not in {ns for _, ns, _ in seen}
