"""A WorkflowRun's lifecycle transitions, status diffs and cache indexes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.contracts import ObjectKey
from choreo_controller.reconcilers.workflowrun import indexes, state

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def run(st=None, *, annotations=None, run_labels=None, deleting=False, kind="Workflow"):
    meta = {"name": "r", "namespace": "team", "uid": "u-1", "generation": 2}
    if annotations:
        meta["annotations"] = annotations
    if run_labels:
        meta["labels"] = run_labels
    if deleting:
        meta["deletionTimestamp"] = "2026-03-01T12:00:00Z"
    return {"metadata": meta, "spec": {"workflow": {"kind": kind, "name": "docker"}}, "status": st or {}}


def test_pending_sets_started_at_once():
    first = state.pending({}, "waiting", gen=2, now=NOW)
    again = state.pending(first, "waiting", gen=2, now=LATER)
    assert ("2026-03-01T12:00:00Z", None) == (again["startedAt"], state.status_patch(first, again))


def test_transitions_never_modify_their_input():
    start = state.pending({}, "waiting", gen=2, now=NOW)
    snapshot = repr(start)
    state.failed(start, c.R_INVALID_PARAMETERS, "bad", gen=2, now=NOW)
    state.running(start, "go", gen=2, now=NOW)
    assert snapshot == repr(start)


def test_early_failure_is_terminal_with_its_reason_and_completed_at():
    got = state.failed(
        state.pending({}, "p", gen=2, now=NOW), c.R_INVALID_PARAMETERS, "x: bad", gen=2, now=LATER
    )
    assert {
        "failed": ("True", c.R_INVALID_PARAMETERS, "x: bad", 2),
        "completed": ("True", c.R_INVALID_PARAMETERS),
        "running": None,
        "completedAt": "2026-03-01T12:05:00Z",
    } == {
        "failed": tuple(
            c.find(got["conditions"], c.FAILED)[k]
            for k in ("status", "reason", "message", "observedGeneration")
        ),
        "completed": tuple(c.find(got["conditions"], c.COMPLETED)[k] for k in ("status", "reason")),
        "running": c.find(got["conditions"], c.RUNNING),
        "completedAt": got["completedAt"],
    }


def _without_completed_at(st):
    return {k: v for k, v in st.items() if k != "completedAt"}


_SUCCEEDED = state.succeeded(state.pending({}, "p", gen=2, now=NOW), "done", gen=2, now=LATER)


@pytest.mark.parametrize(
    ("st", "expected"),
    [
        pytest.param(_SUCCEEDED, "2026-03-01T12:05:00Z", id="completedAt"),
        pytest.param(
            {**_without_completed_at(_SUCCEEDED), "completedAt": ""},
            "2026-03-01T12:05:00Z",
            id="condition-time",
        ),
        pytest.param({}, "", id="no-status"),
    ],
)
def test_completed_at_reads_completed_at_else_the_condition_time(st, expected):
    obj = run(st)
    snapshot = repr(obj)
    assert (expected, snapshot) == (state.completed_at(obj), repr(obj))


def test_revived_run_is_pending_again():
    failed = state.failed(
        state.pending({}, "p", gen=2, now=NOW), c.R_WORKFLOW_RESOLUTION_FAILED, "gone", gen=2, now=NOW
    )
    failed["resolvedWorkflow"] = {"uid": "w"}
    got = state.revived(failed, "again", gen=2, now=LATER)
    assert (
        [(c.COMPLETED, "False", c.R_PENDING)],
        None,
        None,
        "2026-03-01T12:00:00Z",
    ) == (
        [(x["type"], x["status"], x["reason"]) for x in got["conditions"]],
        got.get("completedAt"),
        got.get("resolvedWorkflow"),
        got["startedAt"],
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param({"startedAt": "t"}, {"startedAt": "t"}, None, id="equal"),
        pytest.param({}, {"startedAt": "t"}, {"startedAt": "t"}, id="added"),
        pytest.param({"completedAt": "t"}, {}, {"completedAt": None}, id="removed-is-null"),
        pytest.param({"foreign": 1}, {"foreign": 2}, None, id="unmanaged-ignored"),
        pytest.param(
            {"tasks": [{"name": "a"}]}, {"tasks": [{"name": "b"}]}, {"tasks": [{"name": "b"}]}, id="tasks"
        ),
    ],
)
def test_status_patch(old, new, expected):
    assert expected == state.status_patch(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            state.running({}, "r", gen=1, now=NOW),
            {**state.running({}, "r", gen=1, now=NOW), "tasks": [1]},
            False,
            id="progress-only",
        ),
        pytest.param(
            state.pending({}, "p", gen=1, now=NOW),
            state.running({}, "r", gen=1, now=NOW),
            True,
            id="phase-change",
        ),
        pytest.param(
            state.running({}, "r", gen=1, now=NOW),
            state.running({}, "other message", gen=1, now=NOW),
            False,
            id="message-only",
        ),
    ],
)
def test_conditions_changed(old, new, expected):
    assert expected == state.conditions_changed(old, new)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(run(), False, id="fresh"),
        pytest.param(run(annotations={labels.ANNOTATION_CANCEL: "true"}), True, id="cancel"),
        pytest.param(run(annotations={labels.ANNOTATION_CANCEL: "yes"}), False, id="cancel-needs-true"),
    ],
)
def test_cancel_requested(obj, expected):
    assert expected == state.cancel_requested(obj)


def failed_with(reason, **extra):
    st = state.failed({}, reason, "m", gen=1, now=NOW)
    st.update(extra)
    return st


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(run(), {indexes.UID: ["u-1"], indexes.IN_FLIGHT: ["*"]}, id="fresh"),
        pytest.param(
            run(failed_with(c.R_WORKFLOW_RESOLUTION_FAILED)),
            {indexes.UID: ["u-1"], indexes.REVIVABLE: ["Workflow/team/docker"]},
            id="missing-workflow",
        ),
        pytest.param(
            run(failed_with(c.R_INVALID_TEMPLATE), kind="ClusterWorkflow"),
            {indexes.UID: ["u-1"], indexes.REVIVABLE: ["ClusterWorkflow/docker"]},
            id="invalid-cluster-workflow",
        ),
        pytest.param(
            run(failed_with(c.R_INVALID_TEMPLATE, runReference={"name": "x"})),
            {indexes.UID: ["u-1"]},
            id="submitted-is-not-revivable",
        ),
        pytest.param(
            run(failed_with(c.R_INVALID_PARAMETERS)), {indexes.UID: ["u-1"]}, id="own-fault-not-revivable"
        ),
        pytest.param(
            run(state.waiting({}, c.R_BUILD_PLANE_NOT_FOUND, "m", gen=1, now=NOW)),
            {indexes.UID: ["u-1"], indexes.WAITING: ["team", "*"], indexes.IN_FLIGHT: ["*"]},
            id="waiting-for-plane",
        ),
        pytest.param(
            run(failed_with(c.R_FAILED), deleting=True),
            {indexes.UID: ["u-1"], indexes.IN_FLIGHT: ["*"]},
            id="deleting",
        ),
    ],
)
def test_indexes(obj, expected):
    got = {name: func(obj) for name, func in indexes.INDEXERS.items()}
    assert expected == {name: values for name, values in got.items() if values}


class FakeReader:
    def __init__(self, by_index):
        self.by_index = by_index
        self.has_synced = True

    def get(self, key):
        del key

    def index_keys(self, name, value):
        return self.by_index.get((name, value), [])


def test_workflow_event_maps_to_its_revivable_runs():
    runs = FakeReader({(indexes.REVIVABLE, "Workflow/team/docker"): [ObjectKey("team", "r")]})
    mapper = indexes.runs_of_workflow(runs, "Workflow")
    assert [ObjectKey("team", "r")] == mapper({"metadata": {"namespace": "team", "name": "docker"}})


@pytest.mark.parametrize(
    ("cluster", "namespace", "expected"),
    [
        pytest.param(False, "team", [ObjectKey("team", "r")], id="namespaced"),
        pytest.param(True, "", [ObjectKey("team", "r"), ObjectKey("other", "s")], id="cluster-wakes-all"),
    ],
)
def test_build_plane_event_maps_to_waiting_runs(cluster, namespace, expected):
    runs = FakeReader(
        {
            (indexes.WAITING, "team"): [ObjectKey("team", "r")],
            (indexes.WAITING, "*"): [ObjectKey("team", "r"), ObjectKey("other", "s")],
        }
    )
    mapper = indexes.runs_waiting_for_plane(runs, cluster=cluster)
    assert expected == mapper({"metadata": {"namespace": namespace, "name": "default"}})
