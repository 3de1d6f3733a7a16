"""The informer against the real apiserver: it stays consistent through an apiserver restart mid-watch, a
"resourceVersion too old" after an etcd compaction, and deletes made while its watch was down.

Consistent means: the store holds exactly what a fresh LIST returns (names and resourceVersions), and
every object deleted reached the handler as a delete - including those only the relist could reveal.
"""

import asyncio
import concurrent.futures
import contextlib
import uuid

import pytest
from gatedapi import GatedApi
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.runtime.backoff import Backoff
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer

pytestmark = pytest.mark.cluster
CM = resources.CONFIG_MAP
# localcluster starts its processes with PR_SET_PDEATHSIG, which fires when the *thread* that started the
# child exits: an apiserver started from asyncio.to_thread's executor dies with that executor at the end
# of the test. Restart it from a thread that lives as long as the test session.
_PLANE_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="plane-restart")


async def in_plane_thread(call):
    return await asyncio.get_running_loop().run_in_executor(_PLANE_THREAD, call)


def config_map(namespace, name, value="1", labels=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"suite": "informer"}},
        "data": {"v": value},
    }


class Recorder:
    def __init__(self):
        self.adds, self.updates, self.deletes = [], [], []

    def handler(self):
        return EventHandler(
            on_add=lambda o: self.adds.append(o["metadata"]["name"]),
            on_update=lambda _old, new: self.updates.append((new["metadata"]["name"], new["data"]["v"])),
            on_delete=lambda o: self.deletes.append(o["metadata"]["name"]),
        )


@pytest.fixture
async def api(control_plane):
    async with kube.connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"informer-{uuid.uuid4().hex[:8]}"
    await api.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    await api.delete(resources.NAMESPACE, name)


@contextlib.asynccontextmanager
async def running(informer):
    task = asyncio.create_task(informer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def cached_versions(informer):
    return {k.name: informer.store.resource_version(k) for k in informer.store.list_keys()}


async def listed_versions(api, namespace):
    listed = await api.list(CM, namespace, label_selector="suite=informer")
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed.items}


async def test_consistent_through_restart_compaction_and_deletes_while_down(control_plane, api, namespace):
    for i in range(30):
        await api.create(CM, config_map(namespace, f"cm-{i:02}"))
    await api.create(CM, config_map(namespace, "unrelated", labels={"suite": "other"}))
    gate = GatedApi(kube.KubeClient(api.transport, page_size=4))  # each (re)list streams 8-9 pages
    informer = Informer(
        gate,
        CM,
        clock=RealClock(),
        namespace=namespace,
        label_selector="suite=informer",
        backoff=Backoff(initial=0.2, cap=1.0),
    )
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 30)
        await api.merge_patch(CM, "cm-00", {"data": {"v": "2"}}, namespace=namespace)
        await async_wait_for("the watch to deliver an update", lambda: _true(("cm-00", "2") in rec.updates))

        # (a) the apiserver goes away mid-watch; the gate keeps the informer from coming back too early.
        gate.close()
        await in_plane_thread(control_plane.stop_apiserver)
        try:
            await async_wait_for("the informer to notice and retry", lambda: _true(gate.waiting > 0))
        finally:
            await in_plane_thread(control_plane.start_apiserver)

        # (c) while its watch is down: deletes, updates, creates, and a delete-and-recreate.
        deleted = [f"cm-{i:02}" for i in range(1, 11)]
        for name in deleted:
            await api.delete(CM, name, namespace=namespace)
        for i in range(11, 16):
            await api.merge_patch(CM, f"cm-{i}", {"data": {"v": "3"}}, namespace=namespace)
        for i in range(30, 35):
            await api.create(CM, config_map(namespace, f"cm-{i}"))
        await api.delete(CM, "cm-16", namespace=namespace)
        await api.create(CM, config_map(namespace, "cm-16", "reborn"))

        # (b) compact etcd: the resourceVersion the informer will resume from is now too old for sure.
        await in_plane_thread(control_plane.compact_etcd)
        gate.open()
        await async_wait_for("a relist after Gone", lambda: _true(informer.lists == 2), within=60)

        # The watch works again after the relist.
        await api.create(CM, config_map(namespace, "after"))
        await async_wait_for("the new watch to deliver", lambda: _true("after" in rec.adds))
        fresh = await listed_versions(api, namespace)

    assert fresh == cached_versions(informer)
    assert set(deleted) | {"cm-16"} <= set(rec.deletes)
    assert {f"cm-{i}" for i in range(30, 35)} | {"cm-16", "after"} <= set(rec.adds)
    assert {(f"cm-{i}", "3") for i in range(11, 16)} <= set(rec.updates)
    assert "unrelated" not in fresh
    assert informer.expired >= 1


async def test_resumes_across_watch_timeouts_without_relisting(api, namespace):
    counting = GatedApi(api)  # never closed: it counts the watches
    informer = Informer(
        counting, CM, clock=RealClock(), namespace=namespace, label_selector="suite=informer", watch_timeout=1
    )
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 30)
        for i in range(4):  # each change lands in a later watch (server-side timeout 1-2 s)
            watches = counting.watches
            await api.create(CM, config_map(namespace, f"t-{i}"))
            await async_wait_for(f"t-{i}", lambda i=i: _true(f"t-{i}" in rec.adds))
            await async_wait_for("the next watch", lambda w=watches: _true(counting.watches > w))
        await api.delete(CM, "t-0", namespace=namespace)
        await async_wait_for("the delete", lambda: _true("t-0" in rec.deletes))
        fresh = await listed_versions(api, namespace)

    assert fresh == cached_versions(informer)
    assert (1, 0) == (informer.lists, informer.expired)


class StoreAtEachRequest:
    """The apiserver's transport, noting how many objects the informer had stored at each LIST request."""

    def __init__(self, transport, informer_ref):
        self._transport, self._informer_ref = transport, informer_ref
        self.stored_before_list = []

    async def request(self, req):
        if req.method == "GET" and any(key == "limit" for key, _ in req.query):
            self.stored_before_list.append(len(self._informer_ref[0].store))
        return await self._transport.request(req)

    def __getattr__(self, name):
        return getattr(self._transport, name)


async def test_a_paged_list_is_stored_page_by_page(api, namespace):
    for i in range(7):
        await api.create(CM, config_map(namespace, f"p-{i}"))
    ref = []
    transport = StoreAtEachRequest(api.transport, ref)
    informer = Informer(
        kube.KubeClient(transport, page_size=3), CM, clock=RealClock(), namespace=namespace,
        label_selector="suite=informer",
    )  # fmt: skip
    ref.append(informer)
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 30)
        await api.create(CM, config_map(namespace, "after"))  # the watch starts from the list's version
        await async_wait_for("the watch", lambda: _true("after" in rec.adds))
        fresh = await listed_versions(api, namespace)

    # 7 objects, 3 a page: each next page is asked for as soon as a page arrives and served while that page
    # is stored; so the first page was in the store before the last page was asked for.
    assert [0, 0, 3] == transport.stored_before_list
    assert [f"p-{i}" for i in range(7)] + ["after"] == rec.adds
    assert fresh == cached_versions(informer)
    assert (1, 0) == (informer.lists, informer.expired)


async def _true(value):
    return value
