"""The pure core of concurrency groups: a run's group, the order of runs, and each policy's decision."""

from __future__ import annotations

import pytest

from choreo_controller.api import labels
from choreo_controller.reconcilers.concurrency import (
    Decision,
    Member,
    by_group,
    decide,
    group_key,
    membership_changed,
    order_key,
    policy_of,
)

T0, T1 = "2026-05-01T10:00:00Z", "2026-05-01T10:00:01Z"


def run(name, *, created=T0, commit_time="", component="", group="", status=None, annotations=None, **meta):
    found = {labels.LABEL_PROJECT: "shop", labels.LABEL_COMPONENT: component} if component else {}
    if group:
        found[labels.LABEL_CONCURRENCY_GROUP] = group
    notes = dict(annotations or {})
    if commit_time:
        notes[labels.ANNOTATION_COMMIT_TIME] = commit_time
    metadata = {"name": name, "namespace": "team", "creationTimestamp": created, "labels": found}
    return {"metadata": {**metadata, "annotations": notes, **meta}, "status": status or {}}


DONE = {"conditions": [{"type": "WorkflowCompleted", "status": "True", "reason": "WorkflowSucceeded"}]}
ADMITTED = {"concurrency": {"group": "greeter", "policy": "Queue", "admittedAt": T0}}
SUBMITTED = {"runReference": {"name": "x"}}  # a run submitted before the gate existed holds too


def m(name, order=None, *, holding=False, stopping=False):
    return Member(name, order or (T0, "", name), holding, stopping)


# ---- groups and order ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(run("a", component="greeter"), "team/component/greeter", id="component"),
        pytest.param(run("a", group="3f2a"), "team/group/3f2a", id="workflow-group"),
        pytest.param(
            run("a", component="greeter", group="3f2a"), "team/component/greeter", id="component-wins"
        ),
        pytest.param(run("a"), None, id="none"),
    ],
)
def test_a_runs_group_comes_from_its_labels(obj, expected):
    assert expected == group_key(obj)


def test_only_runs_in_flight_are_indexed():
    assert (["team/component/g"], []) == (
        by_group(run("a", component="g")),
        by_group(run("b", component="g", status=DONE)),
    )


def test_order_is_creation_then_commit_time_then_name():
    runs = [
        run("z", created=T0, commit_time="2026-05-01T09:59:58Z"),
        run("a", created=T1),
        run("b", created=T0, commit_time="2026-05-01T09:59:59Z"),
        run("c", created=T0),  # no commit time: a manual run sorts before the auto-builds of its second
    ]
    assert ["c", "z", "b", "a"] == [r["metadata"]["name"] for r in sorted(runs, key=order_key)]


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"policy": "CancelInProgress"}, "CancelInProgress"),
        ({"policy": "Allow"}, "Allow"),
        ({}, "Queue"),
        (None, "Queue"),
    ],
)
def test_the_default_policy_is_queue(block, expected):
    assert expected == policy_of(block)


@pytest.mark.parametrize(
    ("new", "wakes"),
    [
        pytest.param({"status": DONE}, True, id="completed"),
        pytest.param({"status": ADMITTED}, True, id="admitted"),
        pytest.param({"annotations": {labels.ANNOTATION_CANCEL: "true"}}, True, id="cancel-requested"),
        pytest.param({"deletionTimestamp": T1}, True, id="deleting"),
        pytest.param({"status": {"tasks": [{"name": "build", "phase": "Running"}]}}, False, id="progress"),
    ],
)
def test_only_changes_that_matter_to_the_group_wake_it(new, wakes):
    assert wakes == membership_changed(run("a", component="g"), run("a", component="g", **new))


# ---- decisions ----------------------------------------------------------------------------------------
QUEUE = [
    pytest.param(m("a"), [], Decision(start=True), id="alone"),
    pytest.param(
        m("b"), [m("a", holding=True)], Decision(start=False, wait_for="a", ahead=1), id="behind-holder"
    ),
    pytest.param(
        m("c"),
        [m("a", holding=True), m("b")],
        Decision(start=False, wait_for="a", ahead=2),
        id="second-in-line",
    ),
    pytest.param(
        m("b"), [m("a")], Decision(start=False, wait_for="a", ahead=1), id="behind-older-not-started"
    ),
    pytest.param(m("a"), [m("b")], Decision(start=True), id="oldest-goes-first"),
    pytest.param(m("b"), [m("a", stopping=True)], Decision(start=True), id="older-cancelled-is-skipped"),
    pytest.param(
        m("b"),
        [m("a", holding=True, stopping=True)],
        Decision(start=False, wait_for="a", ahead=1),
        id="holder-still-stopping",
    ),
    pytest.param(
        m("a"),
        [m("b", holding=True)],
        Decision(start=False, wait_for="b", ahead=1),
        id="older-arrived-after-a-newer-started",
    ),
    pytest.param(m("b", holding=True), [m("a")], Decision(start=True), id="already-admitted-keeps-going"),
]


@pytest.mark.parametrize(("me", "others", "expected"), QUEUE)
def test_queue(me, others, expected):
    assert expected == decide(me, others, "Queue")


CANCEL_IN_PROGRESS = [
    pytest.param(m("a"), [], Decision(start=True), id="alone"),
    pytest.param(
        m("c"),
        [m("a", holding=True), m("b")],
        Decision(start=False, wait_for="a", ahead=1, cancel=("a", "b")),
        id="cancels-older-waits-for-holder",
    ),
    pytest.param(
        m("c"), [m("a"), m("b")], Decision(start=True, cancel=("a", "b")), id="cancels-older-not-started"
    ),
    pytest.param(
        m("c"),
        [m("a", holding=True, stopping=True)],
        Decision(start=False, wait_for="a", ahead=1),
        id="already-cancelled-holder",
    ),
    pytest.param(
        m("a"), [m("b"), m("c")], Decision(start=False, superseded_by="c"), id="superseded-by-newest"
    ),
    pytest.param(
        m("a", holding=True),
        [m("b")],
        Decision(start=False, superseded_by="b"),
        id="superseded-even-if-admitted",
    ),
    pytest.param(
        m("a"), [m("b", stopping=True)], Decision(start=True), id="a-stopping-newer-does-not-supersede"
    ),
]


@pytest.mark.parametrize(("me", "others", "expected"), CANCEL_IN_PROGRESS)
def test_cancel_in_progress(me, others, expected):
    assert expected == decide(me, others, "CancelInProgress")


def test_allow_starts_whatever_else_runs():
    assert Decision(start=True) == decide(m("b"), [m("a", holding=True), m("c")], "Allow")


def test_members_are_read_from_run_objects():
    assert ([Member("a", (T0, "", "a"), True, False), Member("b", (T1, "", "b"), True, True)]) == [
        Member.of(run("a", status=ADMITTED)),
        Member.of(run("b", created=T1, status=SUBMITTED, annotations={labels.ANNOTATION_CANCEL: "true"})),
    ]
