"""Argo Workflow -> WorkflowRun status: the phase mapping, task order, cancel and vanish (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from choreo_controller.api import conditions as c
from choreo_controller.reconcilers.workflowrun import state, status

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
WHERE = "openchoreo-ci-a/run in build plane 'p'"


def node(name, phase="Succeeded", kind="Pod", display=None, started="", finished="", message=""):
    out = {"name": name, "type": kind, "phase": phase}
    if display is not None:
        out["displayName"] = display
    if started:
        out["startedAt"] = started
    if finished:
        out["finishedAt"] = finished
    if message:
        out["message"] = message
    return out


def argo(phase="", nodes=(), message=""):
    st = {"nodes": {f"id-{i}": n for i, n in enumerate(nodes)}}
    if phase:
        st["phase"] = phase
    if message:
        st["message"] = message
    return {"metadata": {"name": "run"}, "status": st}


def reasons(st):
    return {cond["type"]: (cond["status"], cond["reason"]) for cond in st.get("conditions", [])}


@pytest.mark.parametrize(
    ("argo_phase", "expected"),
    [
        pytest.param("", "Pending", id="not-picked-up"),
        pytest.param("Pending", "Pending", id="pending"),
        pytest.param("Running", "Running", id="running"),
        pytest.param("Succeeded", "Succeeded", id="succeeded"),
        pytest.param("Failed", "Failed", id="failed"),
        pytest.param("Error", "Failed", id="error-is-failure"),
        pytest.param("Weird", "Pending", id="unknown-waits"),
    ],
)
def test_phase_is_folded_to_four(argo_phase, expected):
    assert expected == status.observe(argo(argo_phase)).phase


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        pytest.param(
            [
                node("wf[2].publish", display="publish"),
                node("wf[0].checkout", display="checkout"),
                node("wf[1].build", display="build"),
            ],
            ["checkout", "build", "publish"],
            id="ordered-by-step-index",
        ),
        pytest.param(
            [node("wf[0].a[3].deep"), node("wf[1].shallow"), node("wf[0].a[0].first")],
            ["first", "shallow", "deep"],
            id="last-index-counts",
        ),
        pytest.param(
            [
                node("wf[0].b", display="b", started="2026-03-01T10:00:02Z"),
                node("wf[0].a", display="a", started="2026-03-01T10:00:01Z"),
            ],
            ["a", "b"],
            id="parallel-by-start-time",
        ),
        pytest.param(
            [node("wf", kind="Steps"), node("wf[0]", kind="StepGroup"), node("wf[0].only", display="only")],
            ["only"],
            id="only-pod-nodes",
        ),
        pytest.param([node("lonely-pod"), node("wf[0].x")], ["x", "lonely-pod"], id="unindexed-last"),
        pytest.param([], [], id="no-nodes"),
    ],
)
def test_tasks_come_from_pod_nodes_in_execution_order(nodes, expected):
    assert expected == [t["name"] for t in status.tasks_of(argo("Running", nodes))]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            node("wf[0].a", phase="Omitted", display="a"), {"name": "a", "phase": "Skipped"}, id="omitted"
        ),
        pytest.param(
            node("wf[0].a", phase="Failed", display="a", started="t1", finished="t2", message="exit code 1"),
            {
                "name": "a",
                "phase": "Failed",
                "startedAt": "t1",
                "completedAt": "t2",
                "message": "exit code 1",
            },
            id="failed-with-times",
        ),
        pytest.param(
            node("wf[0].a", phase="Running"), {"name": "a", "phase": "Running"}, id="name-from-node"
        ),
        pytest.param(node("wf[0].a", phase="Bogus"), {"name": "a", "phase": "Pending"}, id="unknown-phase"),
        pytest.param(
            node("wf[0].a", message="x" * 5000),
            {"name": "a", "phase": "Succeeded", "message": "x" * 1021 + "..."},
            id="message-clipped",
        ),
    ],
)
def test_task_fields(given, expected):
    assert [expected] == status.tasks_of(argo("Running", [given]))


@pytest.mark.parametrize(
    ("argo_phase", "cancelled", "expected"),
    [
        pytest.param(
            "Running",
            False,
            {c.RUNNING: ("True", c.R_RUNNING), c.COMPLETED: ("False", c.R_RUNNING)},
            id="running",
        ),
        pytest.param(
            "Succeeded",
            False,
            {
                c.RUNNING: ("False", c.R_SUCCEEDED),
                c.SUCCEEDED: ("True", c.R_SUCCEEDED),
                c.COMPLETED: ("True", c.R_SUCCEEDED),
            },
            id="succeeded",
        ),
        pytest.param(
            "Failed",
            False,
            {c.FAILED: ("True", c.R_FAILED), c.COMPLETED: ("True", c.R_FAILED)},
            id="failed",
        ),
        pytest.param(
            "Error",
            True,
            {c.FAILED: ("True", c.R_CANCELLED), c.COMPLETED: ("True", c.R_CANCELLED)},
            id="cancel-wins",
        ),
        pytest.param(
            "Succeeded",
            True,
            {
                c.RUNNING: ("False", c.R_SUCCEEDED),
                c.SUCCEEDED: ("True", c.R_SUCCEEDED),
                c.COMPLETED: ("True", c.R_SUCCEEDED),
            },
            id="finished-before-cancel",
        ),
        pytest.param("Pending", False, {c.COMPLETED: ("False", c.R_PENDING)}, id="pending-unchanged"),
    ],
)
def test_desired_conditions(argo_phase, cancelled, expected):
    start = state.pending({}, "submitted", gen=1, now=NOW)
    got = status.desired(
        start, status.observe(argo(argo_phase)), where=WHERE, cancelled=cancelled, gen=1, now=NOW
    )
    assert expected == reasons(got)


def test_completion_sets_completed_at_once():
    start = state.pending({}, "submitted", gen=1, now=NOW)
    done = status.desired(
        start, status.observe(argo("Succeeded")), where=WHERE, cancelled=False, gen=1, now=NOW
    )
    later = status.desired(
        done, status.observe(argo("Succeeded")), where=WHERE, cancelled=False, gen=1, now=NOW.replace(hour=13)
    )
    assert ("2026-03-01T12:00:00Z", None) == (done["completedAt"], state.status_patch(done, later))


def test_failure_message_names_the_workflow_and_argo_reason():
    got = status.desired(
        {},
        status.observe(argo("Failed", message="child x failed")),
        where=WHERE,
        cancelled=False,
        gen=1,
        now=NOW,
    )
    assert f"Argo Workflow {WHERE} failed: child x failed" == c.find(got["conditions"], c.FAILED)["message"]


@pytest.mark.parametrize(
    ("cancelled", "expected"),
    [
        pytest.param(False, c.R_FAILED, id="vanished"),
        pytest.param(True, c.R_CANCELLED, id="vanished-after-cancel"),
    ],
)
def test_vanished_argo_workflow_is_a_failure(cancelled, expected):
    got = status.vanished(
        state.running({}, "running", gen=1, now=NOW), where=WHERE, cancelled=cancelled, gen=1, now=NOW
    )
    assert (expected, expected, "False") == (
        c.find(got["conditions"], c.FAILED)["reason"],
        c.find(got["conditions"], c.COMPLETED)["reason"],
        c.find(got["conditions"], c.RUNNING)["status"],
    )


def test_no_empty_task_list_is_written_before_argo_reports_nodes():
    start = state.pending({}, "submitted", gen=1, now=NOW)
    assert (
        state.status_patch(
            start, status.desired(start, status.observe(argo()), where=WHERE, cancelled=False, gen=1, now=NOW)
        )
        is None
    )
