"""Run object -> WorkflowRun status: conditions, completion, cancel and vanish (pure; Argo's observations)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from choreo_controller.api import conditions as c
from choreo_controller.engines.argo import ARGO
from choreo_controller.reconcilers.workflowrun import state, status

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
WHERE = "openchoreo-ci-a/run in build plane 'p'"
NAMED = {"title": "Argo Workflow", "where": WHERE}


def argo(phase="", message=""):
    st = {}
    if phase:
        st["phase"] = phase
    if message:
        st["message"] = message
    return {"metadata": {"name": "run"}, "status": st}


def observe(obj):
    return ARGO.observe(obj, {})


def reasons(st):
    return {cond["type"]: (cond["status"], cond["reason"]) for cond in st.get("conditions", [])}


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
    got = status.desired(start, observe(argo(argo_phase)), **NAMED, cancelled=cancelled, gen=1, now=NOW)
    assert expected == reasons(got)


def test_completion_sets_completed_at_once():
    start = state.pending({}, "submitted", gen=1, now=NOW)
    done = status.desired(start, observe(argo("Succeeded")), **NAMED, cancelled=False, gen=1, now=NOW)
    later = status.desired(
        done, observe(argo("Succeeded")), **NAMED, cancelled=False, gen=1, now=NOW.replace(hour=13)
    )
    assert ("2026-03-01T12:00:00Z", None) == (done["completedAt"], state.status_patch(done, later))


def test_failure_message_names_the_workflow_and_argo_reason():
    got = status.desired(
        {},
        observe(argo("Failed", message="child x failed")),
        **NAMED,
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
        state.running({}, "running", gen=1, now=NOW), **NAMED, cancelled=cancelled, gen=1, now=NOW
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
            start, status.desired(start, observe(argo()), **NAMED, cancelled=False, gen=1, now=NOW)
        )
        is None
    )
