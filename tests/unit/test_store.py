"""The informer cache: slimming, copy-on-read, change detection, secondary indexes, compression round trip."""

import copy

import pytest

from choreo_controller.contracts import ObjectKey
from choreo_controller.runtime.store import LAST_APPLIED, Store, field_index, namespace_index, slim


def run(namespace, name, workflow="docker", rv="1", uid=None, **extra):
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "uid": uid or f"uid-{name}",
            **extra,
        },
        "spec": {"workflow": {"name": workflow, "parameters": {"branch": "main"}}},
    }


@pytest.fixture
def store():
    return Store({"workflow": field_index("spec", "workflow", "name"), "namespace": namespace_index})


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(
            {"name": "a", "managedFields": [{"manager": "kubectl"}]}, {"name": "a"}, id="managed-fields"
        ),
        pytest.param(
            {"name": "a", "annotations": {LAST_APPLIED: "{...}", "keep": "me"}},
            {"name": "a", "annotations": {"keep": "me"}},
            id="last-applied-among-others",
        ),
        pytest.param(
            {"name": "a", "annotations": {LAST_APPLIED: "{...}"}}, {"name": "a"}, id="only-last-applied"
        ),
        pytest.param(
            {"name": "a", "annotations": {}}, {"name": "a", "annotations": {}}, id="nothing-to-strip"
        ),
    ],
)
def test_slim_strips_what_no_reconciler_reads(metadata, expected):
    assert {"metadata": expected} == slim({"metadata": metadata})


def test_cached_objects_are_slimmed_and_every_read_is_a_fresh_copy(store):
    store.upsert(run("ns", "a", managedFields=[{"manager": "x"}], annotations={LAST_APPLIED: "{}"}))

    first = store.get(ObjectKey("ns", "a"))
    first["spec"]["workflow"]["name"] = "mutated"
    second = store.get(ObjectKey("ns", "a"))

    assert run("ns", "a") == second
    assert first is not second


@pytest.mark.parametrize(
    ("second", "expected_changed", "expected_old_rv"),
    [
        pytest.param(run("ns", "a", rv="1", workflow="other"), False, None, id="same-resource-version"),
        pytest.param(run("ns", "a", rv="2", workflow="other"), True, "1", id="new-resource-version"),
    ],
)
def test_upsert_reports_a_change_only_when_the_resource_version_moved(
    store, second, expected_changed, expected_old_rv
):
    store.upsert(run("ns", "a", rv="1"))

    changed, old = store.upsert(second)

    assert (expected_changed, expected_old_rv) == (changed, old and old["metadata"]["resourceVersion"])


def test_indexes_follow_updates_and_deletes(store):
    store.upsert(run("team-a", "r1", workflow="docker"))
    store.upsert(run("team-a", "r2", workflow="docker"))
    store.upsert(run("team-b", "r3", workflow="docker"))
    store.upsert(run("team-a", "r2", workflow="buildpacks", rv="2"))
    store.delete(ObjectKey("team-a", "r1"))

    assert [] == store.index_keys("workflow", "team-a/docker")
    assert [ObjectKey("team-a", "r2")] == store.index_keys("workflow", "team-a/buildpacks")
    assert [ObjectKey("team-b", "r3")] == store.index_keys("workflow", "team-b/docker")
    assert ["r2"] == [o["metadata"]["name"] for o in store.by_index("namespace", "team-a")]
    assert {"workflow": {"team-a/buildpacks", "team-b/docker"}, "namespace": {"team-a", "team-b"}} == {
        name: set(index) for name, index in store._indexes.items()
    }


def test_an_index_added_late_covers_what_is_cached(store):
    store.upsert(run("ns", "a"))
    store.upsert(run("ns", "b", labels={"tier": "gold"}))

    store.add_indexer("tier", lambda o: [(o["metadata"].get("labels") or {}).get("tier", "none")])

    assert ([ObjectKey("ns", "a")], [ObjectKey("ns", "b")]) == (
        store.index_keys("tier", "none"),
        store.index_keys("tier", "gold"),
    )
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("tier", namespace_index)
    with pytest.raises(KeyError, match="no index"):
        store.index_keys("nope", "x")


def test_the_summary_follows_the_cached_version_without_decoding(store, monkeypatch):
    store.upsert(run("ns", "a"))  # cached before the summary function: summarised at once
    store.set_summary(lambda o: (o["spec"]["workflow"]["name"], "managedFields" in o["metadata"]))
    store.upsert(run("ns", "b", managedFields=[{"manager": "kubectl"}]))  # summarised slimmed
    store.upsert(run("ns", "a", workflow="buildpacks", rv="2"))
    store.upsert(run("ns", "c"))
    store.delete(ObjectKey("ns", "c"))
    monkeypatch.setattr(store, "_decode", None)  # reading a summary decodes nothing

    assert [("buildpacks", False), ("docker", False), None, None] == [
        store.summary(ObjectKey("ns", name)) for name in ("a", "b", "c", "missing")
    ]
    with pytest.raises(ValueError, match="already"):
        store.set_summary(len)


def test_a_store_without_a_summary_function_summarises_nothing(store):
    store.upsert(run("ns", "a"))
    assert store.summary(ObjectKey("ns", "a")) is None


@pytest.mark.parametrize(
    ("path", "namespaced", "obj", "expected"),
    [
        pytest.param(("spec", "workflow", "name"), True, run("ns", "a"), ["ns/docker"], id="namespaced"),
        pytest.param(("spec", "workflow", "name"), False, run("ns", "a"), ["docker"], id="cluster-wide"),
        pytest.param(("spec", "missing", "name"), True, run("ns", "a"), [], id="missing"),
        pytest.param(("spec", "workflow"), True, run("ns", "a"), [], id="not-a-string"),
    ],
)
def test_field_index(path, namespaced, obj, expected):
    assert expected == list(field_index(*path, namespaced=namespaced)(obj))


def test_delete_returns_the_last_version_and_list_filters_by_namespace(store):
    for ns, name in [("b", "x"), ("a", "y"), ("a", "x")]:
        store.upsert(run(ns, name))

    gone = store.delete(ObjectKey("b", "x"))

    assert (run("b", "x"), None) == (gone, store.delete(ObjectKey("b", "x")))
    assert [ObjectKey("a", "x"), ObjectKey("a", "y")] == store.list_keys()
    assert ["x", "y"] == [o["metadata"]["name"] for o in store.list("a")]
    assert (2, True, False) == (len(store), ObjectKey("a", "x") in store, ObjectKey("b", "x") in store)


def test_round_trip_of_objects_unlike_the_compression_dictionary(store):
    store.upsert(run("ns", "first"))
    big = run("ns", "big", annotations={"note": "ünïcødé ✓ " * 2000, "n": "1"})
    odd = {"metadata": {"name": "odd", "namespace": "ns", "resourceVersion": "7"}, "data": [1.5, None, True]}

    store.upsert(copy.deepcopy(big))
    store.upsert(copy.deepcopy(odd))

    assert (big, odd) == (store.get(ObjectKey("ns", "big")), store.get(ObjectKey("ns", "odd")))
    assert ("7", "") == (store.resource_version(ObjectKey("ns", "odd")), store.uid(ObjectKey("ns", "odd")))


def test_stored_bytes_are_a_fraction_of_the_json(store):
    objects = [
        run("team-a", f"run-{i}", rv=str(i), labels={"openchoreo.dev/component": f"c{i % 7}"})
        for i in range(50)
    ]
    for obj in objects:
        store.upsert(copy.deepcopy(obj))

    json_bytes = sum(len(repr(o)) for o in objects[1:])
    stored = sum(len(e.blob) for k, e in store._entries.items() if k.name != "run-0")
    assert stored * 4 < json_bytes
