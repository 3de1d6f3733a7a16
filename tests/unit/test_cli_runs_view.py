"""``runs`` output and ``rerun`` objects as pure functions: durations, tables, transitions, --set parsing."""

from datetime import UTC, datetime

import pytest

from choreo_controller.cli import runsview
from choreo_controller.cli.rerun import ANNOTATION_RERUN_OF, SetError, apply_sets, parse_set, rerun_object

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def cond(kind, status, reason, message="", at="2026-03-01T11:59:00Z"):
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": at}


def run(name="build-1", namespace="acme", *, conditions=(), tasks=(), started=None, completed=None, **spec):
    status = {"conditions": list(conditions), "tasks": list(tasks)}
    if started:
        status["startedAt"] = started
    if completed:
        status["completedAt"] = completed
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2026-03-01T11:58:00Z"},
        "spec": {"workflow": {"name": "docker", **spec}},
        "status": status,
    }


def task(name, phase, started=None, completed=None, message=""):
    return {"name": name, "phase": phase, "startedAt": started, "completedAt": completed, "message": message}


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-5, "<invalid>", id="clock-skew"),
        pytest.param(-0.5, "0s", id="tiny-negative"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(119, "119s", id="under-two-minutes"),
        pytest.param(120, "2m", id="two-minutes"),
        pytest.param(192, "3m12s", id="minutes-and-seconds"),
        pytest.param(600, "10m", id="ten-minutes"),
        pytest.param(3 * 3600 + 5 * 60, "3h5m", id="hours-and-minutes"),
        pytest.param(10 * 3600, "10h", id="hours"),
        pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-and-hours"),
        pytest.param(30 * 86400, "30d", id="days"),
        pytest.param(3 * 365 * 86400 + 86400, "3y1d", id="years-and-days"),
        pytest.param(10 * 365 * 86400, "10y", id="years"),
    ],
)
def test_human_duration(seconds, expected):
    assert expected == runsview.human_duration(seconds)


SUCCEEDED = run(
    conditions=[cond("WorkflowCompleted", "True", "WorkflowSucceeded", "done")],
    started="2026-03-01T11:58:00Z",
    completed="2026-03-01T11:58:42Z",
)
RUNNING = run(
    "build-2",
    conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
    started="2026-03-01T11:59:30Z",
)
FRESH = run("build-3", "other")


@pytest.mark.parametrize(
    ("the_run", "expected"),
    [
        pytest.param(
            SUCCEEDED,
            (
                "WorkflowSucceeded",
                "42s",
                runsview.Outcome(done=True, succeeded=True, reason="WorkflowSucceeded"),
            ),
            id="succeeded",
        ),
        pytest.param(
            RUNNING,
            (
                "WorkflowRunning",
                "30s",
                runsview.Outcome(done=False, succeeded=False, reason="WorkflowRunning"),
            ),
            id="running-counts-to-now",
        ),
        pytest.param(
            FRESH,
            ("-", "-", runsview.Outcome(done=False, succeeded=False, reason="")),
            id="not-reconciled-yet",
        ),
        pytest.param(
            run(
                conditions=[cond("WorkflowCompleted", "True", "Cancelled")],
                started="2026-03-01T11:58:00Z",
                completed="2026-03-01T11:59:00Z",
            ),
            ("Cancelled", "60s", runsview.Outcome(done=True, succeeded=False, reason="Cancelled")),
            id="cancelled-is-done-not-succeeded",
        ),
    ],
)
def test_status_duration_and_outcome(the_run, expected):
    assert expected == (
        runsview.status_text(the_run),
        runsview.run_duration(the_run, NOW),
        runsview.outcome(the_run),
    )


def test_list_table_in_one_namespace_and_across_all():
    runs = [RUNNING, SUCCEEDED, run("svc", conditions=[], kind="ClusterWorkflow")]
    assert (
        "NAME      WORKFLOW                 STATUS              AGE   DURATION\n"
        "build-1   docker                   WorkflowSucceeded   2m    42s\n"
        "build-2   docker                   WorkflowRunning     2m    30s\n"
        "svc       ClusterWorkflow/docker   -                   2m    -\n"
    ) == runsview.list_table(runs, NOW, all_namespaces=False)
    assert (
        "NAMESPACE   NAME      WORKFLOW   STATUS              AGE   DURATION\n"
        "acme        build-1   docker     WorkflowSucceeded   2m    42s\n"
        "other       build-3   docker     -                   2m    -\n"
    ) == runsview.list_table([FRESH, SUCCEEDED], NOW, all_namespaces=True)


def test_detail_shows_fields_conditions_and_tasks():
    the_run = run(
        conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning", "Argo Workflow is running")],
        tasks=[
            task("checkout", "Succeeded", "2026-03-01T11:59:00Z", "2026-03-01T11:59:02Z"),
            task("build", "Running", "2026-03-01T11:59:03Z", message="x" * 200),
        ],
        started="2026-03-01T11:58:59Z",
    )
    the_run["status"]["runReference"] = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "build-1", "namespace": "openchoreo-ci-acme"
    }  # fmt: skip
    the_run["status"]["plane"] = {"kind": "BuildPlane", "name": "default", "planeID": "p1"}
    assert (
        "Name:          build-1\n"
        "Namespace:     acme\n"
        "Workflow:      docker\n"
        "Status:        WorkflowRunning\n"
        "Created:       2026-03-01T11:58:00Z (2m ago)\n"
        "Started:       2026-03-01T11:58:59Z\n"
        "Completed:     -\n"
        "Duration:      61s\n"
        "Plane:         BuildPlane/default (planeID p1)\n"
        "Run object:    Argo Workflow openchoreo-ci-acme/build-1\n"
        "\n"
        "Conditions:\n"
        "TYPE                STATUS   REASON            AGE   MESSAGE\n"
        "WorkflowCompleted   False    WorkflowRunning   60s   Argo Workflow is running\n"
        "\n"
        "Tasks:\n"
        "NAME       PHASE       STARTED    DURATION   MESSAGE\n"
        "checkout   Succeeded   11:59:00   2s\n"
        f"build      Running     11:59:03   57s        {'x' * 77}...\n"
    ) == runsview.detail(the_run, NOW)


def test_detail_shows_the_failed_steps_log_lines_in_full():
    message = "Argo Workflow acme/build-1 failed\n--- step build: last 2 log lines ---\nerror: x\n\tat y"
    the_run = run(conditions=[cond("WorkflowFailed", "True", "WorkflowFailed", message)])
    text = runsview.detail(the_run, NOW)
    assert (
        "WorkflowFailed   True     WorkflowFailed   60s   Argo Workflow acme/build-1 failed --- step" in text
    )
    expected = ["Failure:", "  Argo Workflow acme/build-1 failed", "  --- step build: last 2 log lines ---",
                "  error: x", "  \tat y", "", "Tasks:"]  # fmt: skip
    assert expected == text.splitlines()[-8:-1]


def test_detail_shows_the_declared_results():
    the_run = run(conditions=[cond("WorkflowCompleted", "True", "WorkflowSucceeded")])
    the_run["status"]["results"] = [
        {"name": "image", "value": "registry.local/shop:9f3c2b1a"},
        {"name": "log", "value": "abc", "truncated": True},
        {"name": "coverage", "message": "step 'test' produced no output 'coverage'"},
    ]
    assert [
        "Results:",
        "NAME       VALUE",
        "image      registry.local/shop:9f3c2b1a",
        "log        abc (truncated)",
        "coverage   - (step 'test' produced no output 'coverage')",
    ] == runsview.detail(the_run, NOW).splitlines()[-5:]


def test_detail_of_a_run_not_reconciled_yet():
    text = runsview.detail(FRESH, NOW)
    assert ["Conditions:", "  none yet", "", "Tasks:", "  none yet"] == text.splitlines()[-5:]


def test_progress_block():
    the_run = run(
        conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
        tasks=[task("checkout", "Running", "2026-03-01T11:59:58Z")],
        started="2026-03-01T11:59:57Z",
    )
    assert (
        "acme/build-1   workflow docker   WorkflowRunning   3s\n"
        "STEP       PHASE     STARTED    DURATION   MESSAGE\n"
        "checkout   Running   11:59:58   2s\n"
    ) == runsview.progress(the_run, NOW)
    assert "other/build-3   workflow docker   -   -\n(no steps yet)\n" == runsview.progress(FRESH, NOW)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(None, FRESH, [], id="nothing-yet"),
        pytest.param(
            None,
            run(
                conditions=[
                    cond("WorkflowCompleted", "False", "WorkflowPending", "resolving\n  the workflow")
                ]
            ),
            ["12:00:00  run  WorkflowPending  resolving the workflow"],
            id="first-reason",
        ),
        pytest.param(
            run(
                conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
                tasks=[task("a", "Running", "2026-03-01T11:59:50Z")],
            ),
            run(
                conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
                tasks=[
                    task("a", "Succeeded", "2026-03-01T11:59:50Z", "2026-03-01T11:59:53Z"),
                    task("b", "Running", "2026-03-01T11:59:54Z"),
                ],
            ),
            ["12:00:00  step a  Succeeded  3s", "12:00:00  step b  Running"],
            id="task-phases",
        ),
        pytest.param(
            run(
                conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
                tasks=[task("a", "Running")],
            ),
            run(
                conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")],
                tasks=[task("a", "Running")],
            ),
            [],
            id="no-change-no-line",
        ),
        pytest.param(
            run(conditions=[cond("WorkflowCompleted", "False", "WorkflowRunning")]),
            run(
                conditions=[cond("WorkflowCompleted", "True", "WorkflowFailed", "step b failed")],
                tasks=[task("b", "Failed", message="exit code 1")],
            ),
            ["12:00:00  run  WorkflowFailed  step b failed", "12:00:00  step b  Failed  exit code 1"],
            id="failure",
        ),
    ],
)
def test_transitions(old, new, expected):
    assert expected == runsview.transitions(old, new, NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("image.tag=v2", (["image", "tag"], "v2"), id="string"),
        pytest.param("retries=3", (["retries"], 3), id="int"),
        pytest.param("image.push=false", (["image", "push"], False), id="bool"),
        pytest.param('tag="3"', (["tag"], "3"), id="quoted-string"),
        pytest.param(
            "platforms=[linux/amd64, linux/arm64]",
            (["platforms"], ["linux/amd64", "linux/arm64"]),
            id="yaml-list",
        ),
        pytest.param('env={"A": "1"}', (["env"], {"A": "1"}), id="json-object"),
        pytest.param("date=2024-01-01", (["date"], "2024-01-01"), id="timestamps-stay-strings"),
        pytest.param("script=a=b", (["script"], "a=b"), id="first-equals-splits"),
        pytest.param("tag=", (["tag"], ""), id="empty-is-empty-string"),
        pytest.param("x=null", (["x"], None), id="null"),
    ],
)
def test_parse_set(text, expected):
    assert expected == parse_set(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("image.tag", "--set 'image.tag': expected PATH=VALUE", id="no-equals"),
        pytest.param("=v", "--set '=v': PATH must be dotted parameter names", id="empty-path"),
        pytest.param("a..b=1", "--set 'a..b=1': PATH must be dotted parameter names", id="empty-segment"),
        pytest.param(".a=1", "--set '.a=1': PATH must be dotted parameter names", id="leading-dot"),
        pytest.param("a b=1", "--set 'a b=1': PATH must be dotted parameter names", id="space"),
        pytest.param("a=[1, 2", "--set 'a=[1, 2': VALUE is not valid YAML or JSON", id="bad-yaml"),
        pytest.param("a={x: 1", "--set 'a={x: 1': VALUE is not valid YAML or JSON", id="bad-flow-map"),
    ],
)
def test_parse_set_rejects(text, message):
    with pytest.raises(SetError) as refused:
        parse_set(text)
    assert str(refused.value).startswith(message)


def test_apply_sets_creates_objects_and_keeps_the_original():
    original = {"repository": {"url": "u", "revision": {"branch": "main"}}, "retries": None}
    result = apply_sets(original, ["repository.revision.branch=dev", "image.tag=v2", "retries.count=1"])
    assert {
        "repository": {"url": "u", "revision": {"branch": "dev"}},
        "image": {"tag": "v2"},
        "retries": {"count": 1},
    } == result
    assert "main" == original["repository"]["revision"]["branch"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        pytest.param(
            ["repository.url.host=x"],
            "parameters.repository.url is a string, not an object",
            id="through-string",
        ),
        pytest.param(["platforms.0=x"], "parameters.platforms is a list, not an object", id="through-list"),
    ],
)
def test_apply_sets_refuses_paths_through_non_objects(sets, message):
    with pytest.raises(SetError) as refused:
        apply_sets({"repository": {"url": "u"}, "platforms": ["a"]}, sets)
    assert message in str(refused.value)


def test_rerun_object_keeps_workflow_labels_and_parameters():
    original = run(parameters={"image": {"tag": "v1"}})
    original["spec"]["ttlAfterCompletion"] = "1h"
    original["metadata"].update(
        uid="u-1",
        resourceVersion="7",
        labels={"openchoreo.dev/project": "shop", "openchoreo.dev/component": "cart"},
        annotations={
            "openchoreo.dev/cancel": "true",
            "openchoreo.dev/autobuild-delivery": "d-1",
            "team": "qa",
        },
    )
    assert {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "namespace": "acme",
            "generateName": "build-1-",
            "labels": {"openchoreo.dev/project": "shop", "openchoreo.dev/component": "cart"},
            "annotations": {"team": "qa", ANNOTATION_RERUN_OF: "build-1"},
        },
        "spec": {
            "workflow": {"name": "docker", "parameters": {"image": {"tag": "v2"}}},
            "ttlAfterCompletion": "1h",
        },
    } == rerun_object(original, ["image.tag=v2"])


@pytest.mark.parametrize(
    ("name", "annotations", "wanted", "expected"),
    [
        pytest.param("build-1", {}, "again", {"name": "again"}, id="explicit-name"),
        pytest.param(
            "build-1-x7k2p",
            {ANNOTATION_RERUN_OF: "build-1"},
            None,
            {"generateName": "build-1-"},
            id="rerun-of-a-rerun-keeps-the-root",
        ),
        pytest.param("a" * 63, {}, None, {"generateName": "a" * 50 + "-"}, id="long-names-are-cut"),
    ],
)
def test_rerun_names(name, annotations, wanted, expected):
    original = run(name)
    original["metadata"]["annotations"] = annotations
    meta = rerun_object(original, [], wanted)["metadata"]
    assert expected == {k: v for k, v in meta.items() if k in {"name", "generateName"}}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param(
            {"plane": {"kind": "ClusterWorkflowPlane", "name": "default", "planeID": "ci"}},
            "ClusterWorkflowPlane/default (planeID ci)",
            id="1.x-plane",
        ),
        pytest.param(
            {"buildPlane": {"kind": "BuildPlane", "name": "default", "planeID": "p1"}},
            "BuildPlane/default (planeID p1)",
            id="legacy-field-of-runs-submitted-before-status-plane",
        ),
    ],
)
def test_detail_reads_the_recorded_plane_of_either_field(status, expected):
    the_run = run()
    the_run["status"].update(status)
    lines = runsview.detail(the_run, NOW).splitlines()
    assert [f"Plane:         {expected}"] == [line for line in lines if line.startswith("Plane:")]


def test_a_run_without_kind_shows_what_it_resolved_to():
    the_run = run()
    the_run["spec"]["workflow"].pop("kind", None)
    the_run["status"]["resolvedWorkflow"] = {"kind": "ClusterWorkflow", "name": "docker"}
    assert "ClusterWorkflow/docker" == runsview.workflow_text(the_run)
