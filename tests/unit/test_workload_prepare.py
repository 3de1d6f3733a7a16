"""Workload generation's pure core: finding the step's output, checking and forcing the Workload."""

from datetime import UTC, datetime

import pytest

from choreo_controller.engines.argo import ARGO
from choreo_controller.engines.tekton import TEKTON
from choreo_controller.reconcilers.component.workload import (
    Outcome,
    WorkloadRejected,
    newer_writer,
    prepare_workload,
    with_outcome,
    workload_cr_text,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
T0, T1 = "2026-11-27T10:00:00Z", "2026-11-27T10:00:01Z"
WORKLOAD = """\
apiVersion: openchoreo.dev/v1alpha1
kind: Workload
metadata:
  name: shop-workload
  namespace: somewhere-else
  uid: 1234
  resourceVersion: "99"
  labels: {team: web}
spec:
  owner: {projectName: web, componentName: shop}
  containers:
    main: {image: "registry.local/shop:9f3c2b1a"}
status: {ready: true}
"""


def run(labels=None, **meta_fields):
    meta = {"name": "shop-run-1a2b3c4d", "namespace": "team", "creationTimestamp": T0, **meta_fields}
    if labels is not None:
        meta["labels"] = labels
    return {"metadata": meta}


COMPONENT_RUN = run({"openchoreo.dev/project": "web", "openchoreo.dev/component": "shop"})


def node(display, phase="Succeeded", value=None, finished="2026-11-27T10:00:00Z", **extra):
    out = {"displayName": display, "type": "Pod", "phase": phase, "finishedAt": finished, **extra}
    if value is not None:
        out["outputs"] = {
            "parameters": [{"name": "other", "value": "x"}, {"name": "workload-cr", "value": value}]
        }
    return out


def argo(*nodes):
    return {"status": {"phase": "Succeeded", "nodes": {f"n{i}": n for i, n in enumerate(nodes)}}}


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        pytest.param(
            argo(node("build-image"), node("generate-workload-cr", value="A")), "A", id="by-display-name"
        ),
        pytest.param(
            argo(
                node(
                    "gen",
                    value="B",
                    templateRef={"name": "generate-workload", "template": "generate-workload-cr"},
                )
            ),
            "B",
            id="by-template-ref",
        ),
        pytest.param(
            argo(node("x", value="C", templateName="generate-workload-cr")), "C", id="by-template-name"
        ),
        pytest.param(
            argo(
                node("generate-workload-cr", value="old", finished="2026-11-27T09:00:00Z"),
                node("generate-workload-cr", value="new", finished="2026-11-27T10:00:00Z"),
            ),
            "new",
            id="latest-retry-wins",
        ),
        pytest.param(argo(node("build-image")), None, id="no-workload-step"),
        pytest.param(argo(node("generate-workload-cr", phase="Omitted")), None, id="step-skipped"),
        pytest.param({"status": {}}, None, id="no-nodes"),
    ],
)
def test_workload_cr_text(workflow, expected):
    assert expected == workload_cr_text(ARGO.observe(workflow, {}))


def test_succeeded_step_without_output_is_rejected():
    with pytest.raises(WorkloadRejected, match="succeeded but has no output 'workload-cr'"):
        workload_cr_text(ARGO.observe(argo(node("generate-workload-cr")), {}))


def test_a_tekton_task_result_is_the_workload_too():
    succeeded = [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]
    pipeline_run = {
        "status": {
            "conditions": succeeded,
            "childReferences": [
                {"kind": "TaskRun", "name": "pr-gen", "pipelineTaskName": "generate-workload-cr"}
            ],
        }
    }
    task_run = {"metadata": {"name": "pr-gen"}, "status": {"conditions": succeeded, "completionTime": "t",
                "results": [{"name": "workload-cr", "type": "string", "value": "D"}]}}  # fmt: skip
    assert "D" == workload_cr_text(TEKTON.observe(pipeline_run, {"pr-gen": task_run}))


def test_prepare_forces_namespace_owner_labels_and_drops_server_fields():
    assert {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {
            "name": "shop-workload",
            "namespace": "team",
            "labels": {"team": "web", "openchoreo.dev/project": "web", "openchoreo.dev/component": "shop"},
            "annotations": {
                "openchoreo.dev/workflowrun": "shop-run-1a2b3c4d",
                "openchoreo.dev/workflowrun-created": T0,
            },
        },
        "spec": {
            "owner": {"projectName": "web", "componentName": "shop"},
            "containers": {"main": {"image": "registry.local/shop:9f3c2b1a"}},
        },
    } == prepare_workload(WORKLOAD, COMPONENT_RUN)


def test_prepare_fills_a_missing_owner_from_the_run_labels():
    text = WORKLOAD.replace("  owner: {projectName: web, componentName: shop}\n", "")
    assert {"projectName": "web", "componentName": "shop"} == prepare_workload(text, COMPONENT_RUN)["spec"][
        "owner"
    ]


def test_prepare_keeps_the_owner_of_a_generic_run():
    text = WORKLOAD.replace("componentName: shop", "componentName: other")
    assert "other" == prepare_workload(text, run())["spec"]["owner"]["componentName"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            "a: [1, 2",
            "not valid YAML: expected ',' or ']', but got '<stream end>' at line 1, column 9",
            id="yaml-error-position-only",
        ),
        pytest.param("- a\n- b\n", "not a YAML mapping (got list)", id="list"),
        pytest.param(
            WORKLOAD.replace("kind: Workload", "kind: Deployment"),
            "must be an openchoreo.dev/v1alpha1 Workload, not openchoreo.dev/v1alpha1/Deployment",
            id="wrong-kind",
        ),
        pytest.param(
            WORKLOAD.replace("openchoreo.dev/v1alpha1", "apps/v1"),
            "not apps/v1/Workload",
            id="wrong-api-version",
        ),
        pytest.param(
            WORKLOAD.replace("name: shop-workload", "name: Shop_Workload"),
            "'Shop_Workload' is not a valid DNS-1123 subdomain",
            id="bad-name",
        ),
        pytest.param(WORKLOAD.replace("spec:\n", "spec: 3\nx:\n"), "has no spec mapping", id="no-spec"),
        pytest.param(
            WORKLOAD.replace("componentName: shop", "componentName: billing"),
            "spec.owner.componentName is 'billing', but this run builds web/shop",
            id="other-components-workload",
        ),
        pytest.param("x" * (1024 * 1024 + 1), "larger than 1048576 bytes", id="too-large"),
    ],
)
def test_prepare_rejects(text, fragment):
    with pytest.raises(WorkloadRejected) as caught:
        prepare_workload(text, COMPONENT_RUN)
    assert fragment in caught.value.message


def test_yaml_errors_never_quote_the_document():
    secret_line = "env: {PASSWORD: hunter2, [broken"
    with pytest.raises(WorkloadRejected) as caught:
        prepare_workload(secret_line, COMPONENT_RUN)
    assert "hunter2" not in caught.value.message


def test_with_outcome_sets_the_condition_and_keeps_the_rest():
    status = {
        "conditions": [{"type": "WorkflowCompleted", "status": "True", "reason": "WorkflowSucceeded"}],
        "tasks": [],
    }
    new = with_outcome(status, Outcome("True", "WorkloadUpdated", "applied"), gen=3, now=NOW)
    assert [
        {"type": "WorkflowCompleted", "status": "True", "reason": "WorkflowSucceeded"},
        {
            "type": "WorkloadUpdated",
            "status": "True",
            "reason": "WorkloadUpdated",
            "message": "applied",
            "lastTransitionTime": "2026-11-27T10:00:00Z",
            "observedGeneration": 3,
        },
    ] == new["conditions"]
    assert [] == new["tasks"]
    assert 1 == len(status["conditions"])


# ---- the writer stamp and the order guard ----------------------------------------------------------------
AUTO_BUILD = {
    "openchoreo.dev/autobuild-commit": "9f3c",
    "openchoreo.dev/autobuild-commit-time": "2026-11-27T09:59:00Z",
}


def test_the_stamp_comes_from_the_run_never_from_the_document():
    forged = WORKLOAD.replace(
        "  labels: {team: web}",
        "  labels: {team: web}\n  annotations: {openchoreo.dev/workflowrun: x, openchoreo.dev/autobuild-commit: y}",
    )
    annotations = prepare_workload(forged, run(annotations=AUTO_BUILD))["metadata"]["annotations"]
    assert {
        "openchoreo.dev/workflowrun": "shop-run-1a2b3c4d",
        "openchoreo.dev/workflowrun-created": T0,
        **AUTO_BUILD,
    } == annotations


def stamped(name, created, commit_time=None):
    notes = {"openchoreo.dev/workflowrun": name, "openchoreo.dev/workflowrun-created": created}
    if commit_time:
        notes["openchoreo.dev/autobuild-commit-time"] = commit_time
    return {"metadata": {"annotations": notes}}


@pytest.mark.parametrize(
    ("existing", "me", "expected"),
    [
        pytest.param(None, run(), None, id="no-workload"),
        pytest.param({"metadata": {"annotations": {}}}, run(), None, id="written-by-hand"),
        pytest.param(stamped("shop-run-1a2b3c4d", T0), run(), None, id="itself"),
        pytest.param(stamped("shop-run-old", "2026-11-27T09:00:00Z"), run(), None, id="older-writer"),
        pytest.param(stamped("shop-run-new", T1), run(), "shop-run-new", id="newer-writer"),
        pytest.param(
            stamped("shop-run-0", T0, "2026-11-27T09:59:30Z"),
            run(annotations=AUTO_BUILD),
            "shop-run-0",
            id="same-second-newer-commit",
        ),
        pytest.param(
            stamped("shop-run-z", T0, "2026-11-27T09:58:00Z"),
            run(annotations=AUTO_BUILD),
            None,
            id="same-second-older-commit",
        ),
        pytest.param(
            stamped("shop-run-late", T1, "2026-11-27T09:58:00Z"),
            run(annotations=AUTO_BUILD),
            None,
            id="created-later-from-an-older-commit",
        ),
        pytest.param(
            stamped("shop-run-early", "2026-11-27T09:00:00Z", "2026-11-27T09:59:30Z"),
            run(annotations=AUTO_BUILD),
            "shop-run-early",
            id="created-earlier-from-a-newer-commit",
        ),
    ],
)
def test_a_run_never_overwrites_a_newer_runs_workload(existing, me, expected):
    assert expected == newer_writer(existing, me)
