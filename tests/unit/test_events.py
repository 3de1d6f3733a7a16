"""KubeEventRecorder: queued, best effort, deduplicated by count."""

from __future__ import annotations

from fakeapi import FakeApi

from choreo_controller.api.resources import EVENT
from choreo_controller.contracts import ServerError
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.events import KubeEventRecorder

RUN = {
    "apiVersion": "openchoreo.dev/v1alpha1",
    "kind": "WorkflowRun",
    "metadata": {"name": "build-1", "namespace": "team", "uid": "u-1", "resourceVersion": "7"},
}


def events(api):
    return sorted(
        (
            (o["reason"], o["message"], o["count"], o["type"])
            for (p, _, _), o in api.objects.items()
            if p == "events"
        ),
    )


async def test_record_queues_and_flush_writes_an_event():
    api = FakeApi()
    recorder = KubeEventRecorder(api, FakeClock())
    await recorder.record(RUN, "Normal", "Submitted", "created")
    assert [] == events(api)  # nothing written on the reconcile path
    await recorder.flush()
    (event,) = [o for (p, _, _), o in api.objects.items() if p == "events"]
    assert (
        {"kind": "WorkflowRun", "name": "build-1", "namespace": "team", "uid": "u-1"},
        "team",
        True,
    ) == (
        {k: event["involvedObject"][k] for k in ("kind", "name", "namespace", "uid")},
        event["metadata"]["namespace"],
        event["metadata"]["name"].startswith("build-1."),
    )


async def test_repeated_event_counts_up_instead_of_creating():
    """One object per (object, type, reason): a repeat patches count, time and the latest message."""
    api = FakeApi()
    clock = FakeClock()
    recorder = KubeEventRecorder(api, clock)
    for _ in range(3):
        await recorder.record(RUN, "Warning", "CleanupPending", "plane down")
    await recorder.flush()
    clock.step(30)
    await recorder.record(RUN, "Warning", "CleanupPending", "plane still down")
    await recorder.record(RUN, "Normal", "CleanupPending", "other type")
    await recorder.record(RUN, "Warning", "BuildPlaneGone", "other reason")
    await recorder.record(
        {**RUN, "metadata": {**RUN["metadata"], "uid": "u-2"}}, "Warning", "CleanupPending", "x"
    )
    await recorder.flush()
    assert [
        ("BuildPlaneGone", "other reason", 1, "Warning"),
        ("CleanupPending", "other type", 1, "Normal"),
        ("CleanupPending", "plane still down", 4, "Warning"),
        ("CleanupPending", "x", 1, "Warning"),
    ] == events(api)
    (counted,) = [o for (p, _, _), o in api.objects.items() if p == "events" and o["count"] == 4]
    assert counted["lastTimestamp"] > counted["firstTimestamp"]


async def test_api_failures_are_dropped_not_raised():
    api = FakeApi()
    api.fail("create", ServerError("boom"))
    recorder = KubeEventRecorder(api, FakeClock())
    await recorder.record(RUN, "Normal", "Pending", "first")
    await recorder.record(RUN, "Normal", "Running", "second")
    await recorder.flush()
    assert ([("Running", "second", 1, "Normal")], 1) == (events(api), recorder.written)


async def test_full_queue_drops_and_counts():
    recorder = KubeEventRecorder(FakeApi(), FakeClock(), max_pending=2)
    for i in range(5):
        await recorder.record(RUN, "Normal", "Pending", str(i))
    assert 3 == recorder.dropped


async def test_event_gone_from_apiserver_is_created_again():
    api = FakeApi()
    recorder = KubeEventRecorder(api, FakeClock())
    await recorder.record(RUN, "Normal", "Pending", "p")
    await recorder.flush()
    (key,) = [k for k in api.objects if k[0] == "events"]
    await api.remove(EVENT, key[1], key[2])
    await recorder.record(RUN, "Normal", "Pending", "p")
    await recorder.flush()
    assert [("Pending", "p", 1, "Normal")] == events(api)


async def test_a_deleted_object_is_forgotten():
    """After ``forget`` (the runs informer's delete handler) nothing about the object is remembered: a
    later Event about the same uid is a new object, not a count on the old one."""
    api = FakeApi()
    recorder = KubeEventRecorder(api, FakeClock())
    other = {**RUN, "metadata": {**RUN["metadata"], "uid": "u-2"}}
    for obj in (RUN, other):
        await recorder.record(obj, "Normal", "Submitted", "s")
    await recorder.flush()
    recorder.forget(RUN)
    for obj in (RUN, other):
        await recorder.record(obj, "Normal", "Submitted", "s")
    await recorder.flush()
    assert [
        ("Submitted", "s", 1, "Normal"),
        ("Submitted", "s", 1, "Normal"),
        ("Submitted", "s", 2, "Normal"),
    ] == (events(api))


async def test_the_memory_is_bounded_by_objects():
    """The LRU holds ``cache_size`` objects, each with all its (type, reason) pairs."""
    api = FakeApi()
    recorder = KubeEventRecorder(api, FakeClock(), cache_size=2)
    runs = [{**RUN, "metadata": {**RUN["metadata"], "uid": f"u-{i}"}} for i in range(3)]
    for obj in runs:
        for reason in ("Submitted", "Succeeded"):
            await recorder.record(obj, "Normal", reason, "m")
    await recorder.flush()
    for obj in reversed(runs):  # u-2 and u-1 remembered (both reasons), u-0 evicted
        for reason in ("Submitted", "Succeeded"):
            await recorder.record(obj, "Normal", reason, "m")
    await recorder.flush()
    assert [1, 1, 1, 1, 2, 2, 2, 2] == sorted(e[2] for e in events(api))


async def test_long_messages_are_clipped():
    api = FakeApi()
    recorder = KubeEventRecorder(api, FakeClock())
    await recorder.record(RUN, "Warning", "RenderFailed", "x" * 5000)
    await recorder.flush()
    assert [1024] == [len(e[1]) for e in events(api)]
