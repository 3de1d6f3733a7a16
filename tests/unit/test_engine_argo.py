"""Argo Workflows as an ``Engine``: phase folding, tasks in execution order, outputs, results, cancel (pure)."""

from __future__ import annotations

import pytest

from choreo_controller.api import buildkinds
from choreo_controller.api import resources as r
from choreo_controller.engines.argo import ARGO


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


def observe(obj):
    return ARGO.observe(obj, {})


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
    assert expected == observe(argo(argo_phase)).phase


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
    assert expected == [t["name"] for t in observe(argo("Running", nodes)).tasks]


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
    assert [expected] == observe(argo("Running", [given])).tasks


def with_outputs(node_, **params):
    node_["outputs"] = {"parameters": [{"name": k, "value": v} for k, v in params.items()]}
    return node_


def test_results_are_the_workflow_outputs_and_steps_answer_to_every_name():
    step = with_outputs(
        node("wf[1].gen", display="gen", finished="2026-03-01T10:00:05Z"), image="r/app@sha256:1"
    )
    step |= {"templateName": "generate", "templateRef": {"name": "cwt", "template": "generate-workload-cr"}}
    obj = argo("Succeeded", [node("wf[0].checkout", display="checkout"), step])
    obj["status"]["outputs"] = {"parameters": [{"name": "commit", "value": "abc"}, {"name": "no-value"}]}

    seen = observe(obj)

    assert {"commit": "abc"} == seen.results
    assert {"gen", "generate", "generate-workload-cr"} == next(s.names for s in seen.outputs if s.values)
    assert ("r/app@sha256:1", "r/app@sha256:1", None) == (
        seen.output("gen", "image"),
        seen.output("generate-workload-cr", "image"),
        seen.output("checkout", "image"),
    )


def test_the_output_of_the_last_attempt_wins():
    first = with_outputs(node("wf[0].a(0)", display="a", finished="2026-03-01T10:00:01Z"), v="old")
    retry = with_outputs(node("wf[0].a(1)", display="a", finished="2026-03-01T10:00:09Z"), v="new")
    assert "new" == observe(argo("Succeeded", [retry, first])).output("a", "v")


@pytest.mark.parametrize(
    ("phase", "spec", "expected"),
    [
        pytest.param("Running", {}, {"spec": {"shutdown": "Terminate"}}, id="running"),
        pytest.param("", {}, {"spec": {"shutdown": "Terminate"}}, id="not-picked-up"),
        pytest.param("Running", {"shutdown": "Terminate"}, None, id="already-asked"),
        pytest.param("Succeeded", {}, None, id="finished"),
        pytest.param("Error", {}, None, id="failed"),
    ],
)
def test_cancel_asks_argo_to_terminate_once(phase, spec, expected):
    obj = argo(phase) | {"spec": spec}
    assert expected == ARGO.cancel(obj)


def test_prerequisites_grant_workflow_sa_the_argo_grant_rows_of_the_table():
    (role_res, role), (binding_res, binding) = ARGO.prerequisites("openchoreo-ci-x")
    assert (r.ROLE, r.ROLE_BINDING) == (role_res, binding_res)
    assert [
        {"apiGroups": [row.resource.group], "resources": [row.resource.plural], "verbs": sorted(row.verbs)}
        for row in buildkinds.grants("argo")
    ] == role["rules"]
    assert [{"kind": "ServiceAccount", "name": "workflow-sa", "namespace": "openchoreo-ci-x"}] == binding[
        "subjects"
    ]
    assert ("choreo-workflow-taskresults", "choreo-workflow-taskresults") == (
        role["metadata"]["name"],
        binding["roleRef"]["name"],
    )
