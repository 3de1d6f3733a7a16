"""Event handlers map objects to keys and enqueue; nothing else."""

import pytest

from choreo_controller.contracts import ObjectKey
from choreo_controller.runtime.handlers import (
    controller_owner,
    enqueue,
    generation_changed,
    labelled,
    own_key,
)


class Keys:
    def __init__(self):
        self.added = []

    def add(self, key):
        self.added.append(key)


def obj(name="a", namespace="ns", labels=None, owners=(), generation=1):
    meta = {"name": name, "namespace": namespace, "generation": generation, "labels": labels or {}}
    if owners:
        meta["ownerReferences"] = list(owners)
    return {"metadata": meta}


def owner(kind, name, api_version="openchoreo.dev/v1alpha1", controller=True):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": controller}


RUN_LABELS = {"openchoreo.dev/workflowrun": "build-1", "openchoreo.dev/workflowrun-namespace": "team-a"}


@pytest.mark.parametrize(
    ("mapper", "source", "expected"),
    [
        pytest.param(own_key, obj("a", "ns"), [ObjectKey("ns", "a")], id="own-key"),
        pytest.param(own_key, obj("node", ""), [ObjectKey("", "node")], id="own-key-cluster-scoped"),
        pytest.param(
            controller_owner("WorkflowRun", "openchoreo.dev"),
            obj(owners=[owner("Workflow", "w"), owner("WorkflowRun", "r")]),
            [ObjectKey("ns", "r")],
            id="controller-owner",
        ),
        pytest.param(
            controller_owner("WorkflowRun", "openchoreo.dev"),
            obj(owners=[owner("WorkflowRun", "r", controller=False)]),
            [],
            id="owner-not-controller",
        ),
        pytest.param(
            controller_owner("Workflow", "openchoreo.dev"),
            obj(owners=[owner("Workflow", "argo", api_version="argoproj.io/v1alpha1")]),
            [],
            id="owner-of-another-group",
        ),
        pytest.param(
            labelled("openchoreo.dev/workflowrun", "openchoreo.dev/workflowrun-namespace"),
            obj(labels=RUN_LABELS),
            [ObjectKey("team-a", "build-1")],
            id="labelled",
        ),
        pytest.param(
            labelled("openchoreo.dev/workflowrun"),
            obj(labels=RUN_LABELS),
            [ObjectKey("", "build-1")],
            id="labelled-cluster-scoped",
        ),
        pytest.param(labelled("openchoreo.dev/workflowrun"), obj(), [], id="label-missing"),
    ],
)
def test_key_mappers(mapper, source, expected):
    assert expected == list(mapper(source))


def test_enqueue_adds_on_add_update_and_delete():
    keys = Keys()
    handler = enqueue(keys)

    handler.on_add(obj("a"))
    handler.on_update(obj("b"), obj("b", generation=2))
    handler.on_delete(obj("c"))

    assert [ObjectKey("ns", "a"), ObjectKey("ns", "b"), ObjectKey("ns", "c")] == keys.added


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(obj(generation=1), obj(generation=2), [ObjectKey("ns", "a")], id="spec-changed"),
        pytest.param(
            obj(generation=1), obj(generation=1, labels={"x": "y"}), [], id="status-or-metadata-only"
        ),
    ],
)
def test_update_predicate_filters_updates_only(old, new, expected):
    keys = Keys()
    handler = enqueue(keys, update_if=generation_changed)

    handler.on_update(old, new)

    assert expected == keys.added


def test_a_relabelled_object_enqueues_its_old_and_new_owner():
    keys = Keys()
    handler = enqueue(keys, labelled("run"))

    handler.on_update(obj(labels={"run": "old"}), obj(labels={"run": "new"}))

    assert [ObjectKey("", "new"), ObjectKey("", "old")] == keys.added
