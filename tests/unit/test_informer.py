"""The informer's list/watch loop against an in-memory apiserver: sync, events, Gone, reconnects, handlers.

Time is a FakeClock (backoff sleeps are stepped, never waited); the only waiting is yielding to the loop
until a condition holds, under a deadline.
"""

import asyncio
import contextlib
import json
import random

import pytest
from fakeapi import FakeApi

from choreo_controller.api.resources import CONFIG_MAP
from choreo_controller.contracts import ApiResponse, ObjectKey, ServerError, Unavailable
from choreo_controller.kube import client as kube_client
from choreo_controller.kube.client import KubeClient
from choreo_controller.runtime.backoff import Backoff
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer


async def until(predicate):
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


def cm(name, value="1", namespace="ns", labels=None):
    meta = {"name": name, "namespace": namespace, "labels": labels or {"app": "x"}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


class Recorder:
    def __init__(self):
        self.events = []

    def handler(self):
        return EventHandler(
            on_add=lambda o: self.events.append(("add", o["metadata"]["name"])),
            on_update=lambda old, new: self.events.append(
                ("update", new["metadata"]["name"], old["data"]["v"], new["data"]["v"])
            ),
            on_delete=lambda o: self.events.append(("delete", o["metadata"]["name"])),
        )


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def clock():
    return FakeClock()


@contextlib.asynccontextmanager
async def running(informer):
    task = asyncio.create_task(informer.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def cached(informer):
    return {
        k.name: o["data"]["v"] for k, o in zip(informer.store.list_keys(), informer.store.list(), strict=True)
    }


def listed(api):
    return {name: o["data"]["v"] for (plural, _, name), o in api.objects.items() if plural == "configmaps"}


def informer_for(api, clock, **kwargs):
    backoff = Backoff(initial=1.0, cap=4.0, jitter=0.0)
    return Informer(api, CONFIG_MAP, clock=clock, backoff=backoff, label_selector="app=x", **kwargs)


async def test_lists_then_watches_and_tells_handlers_in_order(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    await api.put(CONFIG_MAP, cm("other", labels={"app": "y"}))
    informer = informer_for(api, clock)
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await informer.wait_synced()
        await api.put(CONFIG_MAP, cm("b"))
        await api.put(CONFIG_MAP, cm("a", "2"), event="MODIFIED")
        await api.remove(CONFIG_MAP, "ns", "b")
        await until(lambda: len(rec.events) == 4)

    assert [("add", "a"), ("add", "b"), ("update", "a", "1", "2"), ("delete", "b")] == rec.events
    assert {"a": "2"} == cached(informer)
    assert (1, True) == (informer.lists, informer.has_synced)


async def test_gone_relists_and_reports_what_changed_while_away(api, clock):
    for name in ["keep", "change", "vanish", "recreate"]:
        await api.put(CONFIG_MAP, cm(name))
    informer = informer_for(api, clock)
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await informer.wait_synced()
        rec.events.clear()
        await api.drop_watches()  # the watch breaks; while it is down (backing off):
        await api.put(CONFIG_MAP, cm("change", "2"), event="MODIFIED")
        await api.remove(CONFIG_MAP, "ns", "vanish")
        await api.remove(CONFIG_MAP, "ns", "recreate")
        await api.put(
            CONFIG_MAP, {**cm("recreate", "new"), "metadata": {**cm("recreate")["metadata"], "uid": "u2"}}
        )
        await api.put(CONFIG_MAP, cm("born"))
        api.compact()
        await until(lambda: clock.pending)
        clock.step(1.0)  # the backoff ends; the watch resumes from a compacted version: Gone
        await until(lambda: informer.lists == 2)

    assert sorted(
        [
            ("update", "change", "1", "2"),
            ("delete", "vanish"),
            ("delete", "recreate"),
            ("add", "recreate"),
            ("add", "born"),
        ]
    ) == sorted(rec.events)
    assert rec.events.index(("delete", "recreate")) < rec.events.index(("add", "recreate"))
    assert listed(api) == cached(informer)
    assert 1 == informer.expired


async def test_connection_loss_backs_off_then_resumes_without_relisting(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    informer = informer_for(api, clock)
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await informer.wait_synced()
        await api.drop_watches()
        api.fail("watch", ServerError("boom"))
        await api.put(CONFIG_MAP, cm("b"))
        sleeps = []
        for _ in range(2):
            await until(lambda: clock.pending)
            sleeps.append(clock.next_deadline() - clock.monotonic())
            clock.step(sleeps[-1])
        await until(lambda: len(rec.events) == 2)

    assert [1.0, 2.0] == sleeps  # exponential, from the backoff's initial delay
    assert [("add", "a"), ("add", "b")] == rec.events
    assert (1, 0) == (informer.lists, informer.expired)


async def test_a_failing_first_list_is_retried(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    api.fail("list", Unavailable("refused"))
    informer = informer_for(api, clock)

    async with running(informer):
        await until(lambda: clock.pending)
        assert not informer.has_synced
        clock.step(1.0)
        await informer.wait_synced()

    assert {"a": "1"} == cached(informer)


async def test_a_raising_handler_does_not_stop_the_others_or_the_informer(api, clock):
    informer = informer_for(api, clock)
    rec = Recorder()

    def explode(_obj):
        raise RuntimeError("handler bug")

    informer.add_handler(EventHandler(on_add=explode))
    informer.add_handler(rec.handler())

    async with running(informer):
        await informer.wait_synced()
        await api.put(CONFIG_MAP, cm("a"))
        await api.put(CONFIG_MAP, cm("b"))
        await until(lambda: len(rec.events) == 2)

    assert [("add", "a"), ("add", "b")] == rec.events


async def test_a_late_handler_first_hears_of_everything_cached(api, clock):
    await api.put(CONFIG_MAP, cm("a"))
    await api.put(CONFIG_MAP, cm("b"))
    informer = informer_for(api, clock)

    async with running(informer):
        await informer.wait_synced()
        rec = Recorder()
        informer.add_handler(rec.handler())
        await api.put(CONFIG_MAP, cm("c"))
        await until(lambda: len(rec.events) == 3)

    assert [("add", "a"), ("add", "b"), ("add", "c")] == rec.events


async def test_a_watch_that_ends_at_once_counts_as_a_failure(api, clock):
    class Hangup(FakeApi):
        async def watch(self, *_args, **_kwargs):
            await self._check("watch")
            return
            yield

    hangup = Hangup()
    informer = informer_for(hangup, clock)

    async with running(informer):
        await informer.wait_synced()
        await until(lambda: clock.pending)

    assert 1 == informer._backoff.attempts


def test_backoff_is_capped_jittered_and_resettable():
    plain = Backoff(initial=0.8, cap=30.0, jitter=0.0)
    assert [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0] == [plain.next() for _ in range(8)]
    plain.reset()
    assert 0.8 == plain.next()
    jittered = Backoff(initial=1.0, cap=8.0, rng=random.Random(7))  # noqa: S311 - jitter
    delays = [jittered.next() for _ in range(6)]
    assert all(top / 2 <= d <= top for d, top in zip(delays, [1, 2, 4, 8, 8, 8], strict=True))
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=2.0, cap=1.0)


def test_informer_name_and_key_type():
    informer = Informer(FakeApi(), CONFIG_MAP, clock=FakeClock())
    assert ("configmaps", ObjectKey("ns", "a")) == (informer.name, ObjectKey.of(cm("a")))


class PagedApiserver:
    """A ``Transport`` answering a paginated LIST from scripted pages, and watches with nothing.

    Before answering page ``n`` it records the keys the informer had stored by then, so a test can see
    what was cached while the list was still under way.
    """

    def __init__(self, informer_ref, *pages):
        self.pages = list(pages)
        self.informer_ref = informer_ref
        self.stored_before = []  # per LIST request: names in the store when it was made
        self.watched_from = []

    async def request(self, _req):
        self.stored_before.append(sorted(k.name for k in self.informer_ref[0].store.list_keys()))
        answer = self.pages.pop(0)
        return answer if isinstance(answer, ApiResponse) else _page_response(*answer)

    async def stream(self, req):
        self.watched_from.append(dict(req.query)["resourceVersion"])
        await asyncio.Event().wait()  # a watch with no events, until cancelled
        yield b""

    async def close(self):
        pass


def _page_response(names, rv, token=""):
    items = [{**cm(n), "metadata": {**cm(n)["metadata"], "resourceVersion": rv}} for n in names]
    body = {"kind": "ConfigMapList", "metadata": {"resourceVersion": rv, "continue": token}, "items": items}
    return ApiResponse(200, json.dumps(body).encode())


def paged_informer(clock, *pages, page_size=2):
    ref = []
    server = PagedApiserver(ref, *pages)
    informer = informer_for(KubeClient(server, page_size=page_size), clock)
    ref.append(informer)
    return informer, server


async def test_list_pages_are_stored_as_they_arrive_and_sync_after_the_last(clock):
    informer, server = paged_informer(
        clock, (["a", "b"], "10", "t1"), (["c", "d"], "10", "t2"), (["e"], "10")
    )
    rec = Recorder()
    informer.add_handler(rec.handler())
    synced_at_last_request = []
    server.request = _also(server.request, lambda: synced_at_last_request.append(informer.has_synced))

    async with running(informer):
        await informer.wait_synced()
        await until(lambda: server.watched_from)

    # The next page is requested as soon as a page arrives, and fetched while that page is stored: the
    # first page was in the store (and told to the handlers) before the last one was requested.
    assert [[], [], ["a", "b"]] == server.stored_before
    assert [False, False, False] == synced_at_last_request
    assert [("add", n) for n in "abcde"] == rec.events
    assert ["10"] == server.watched_from  # the watch starts from the list's resourceVersion


async def test_a_relist_deletes_what_is_missing_only_after_its_last_page(clock):
    informer, server = paged_informer(clock, (["a", "gone", "b"], "5"), page_size=3)
    rec = Recorder()
    informer.add_handler(rec.handler())
    async with running(informer):
        await informer.wait_synced()
        await until(lambda: server.watched_from)
    rec.events.clear()
    # The second LIST (after a Gone): page 1 lacks "gone", which is still cached while page 2 is fetched.
    server.pages = [(["a", "b"], "20", "t"), (["c"], "20")]
    server.stored_before.clear()
    informer._rv = None  # as after a Gone
    async with running(informer):
        await until(lambda: informer.lists == 2)

    assert [["a", "b", "gone"], ["a", "b", "gone"]] == server.stored_before
    assert [
        ("update", "a", "1", "1"),
        ("update", "b", "1", "1"),
        ("add", "c"),
        ("delete", "gone"),
    ] == rec.events
    assert ["a", "b", "c"] == sorted(cached(informer))
    assert "20" == informer._rv


async def test_a_list_that_starts_over_forgets_its_earlier_pages(clock):
    # Page 1 holds "stale"; then the continue token expires and the list starts over in one piece, which
    # no longer holds it: it must be deleted (it was stored from page 1), and the watch starts from the
    # new list's resourceVersion.
    expired = ApiResponse(410, json.dumps({"kind": "Status", "code": 410, "reason": "Expired"}).encode())
    informer, server = paged_informer(clock, (["a", "stale"], "10", "t1"), expired, (["a", "b"], "12"))
    rec = Recorder()
    informer.add_handler(rec.handler())

    async with running(informer):
        await informer.wait_synced()
        await until(lambda: server.watched_from)

    assert ["a", "b"] == sorted(cached(informer))
    assert ("delete", "stale") in rec.events
    assert ["12"] == server.watched_from


def _also(call, before):
    async def wrapped(req):
        before()
        return await call(req)

    return wrapped


async def test_the_list_comes_without_managed_fields_never_decoded(clock, monkeypatch):
    """The store drops managedFields anyway: the informer lists without them, so most are never decoded."""
    managed = [{"apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}, "manager": "m"}]
    items = [{**cm(n), "metadata": {**cm(n)["metadata"], "managedFields": managed, "resourceVersion": "10"}}
             for n in "ab"]  # fmt: skip
    listed = {"items": items, "kind": "ConfigMapList", "metadata": {"resourceVersion": "10"}}
    body = json.dumps(
        listed, sort_keys=True, separators=(",", ":")
    ).encode()  # as the apiserver sends a CR list
    decoded, decode = [], kube_client._decode
    monkeypatch.setattr(kube_client, "_decode", lambda req, b: decoded.append(b) or decode(req, b))
    informer, _ = paged_informer(clock, ApiResponse(200, body))
    async with running(informer):
        await informer.wait_synced()
    assert [False] == [b"fieldsV1" in b for b in decoded]
    assert [cm(n)["metadata"]["name"] for n in "ab"] == [k.name for k in informer.store.list_keys()]
    assert "managedFields" not in informer.store.get(informer.store.list_keys()[0])["metadata"]
