"""``choreo-controller runs ...`` as a user runs it: the installed console script, as a child process, against
the session planes and the shared e2e controller, on the demo pipeline (manifests/samples/demo, three
kwok-friendly steps). Every command, and bad input: unknown run, unknown namespace, malformed ``--set``,
an unreachable or missing cluster. Exit codes are the contract: 0 ok, 1 failed/not found, 2 usage,
3 unreachable."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from demo_support import PARAMS, cli, submit
from e2e_support import completed
from localcluster.process import free_port
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.cli.rerun import ANNOTATION_RERUN_OF

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]


async def test_watch_list_and_get_a_run_that_succeeds(demo):
    ns, kube = demo.namespace, demo.kubeconfig
    await submit(demo, "build-1")
    code, out, err = await cli("runs", "watch", "build-1", "-n", ns, kubeconfig=kube)
    assert (0, "") == (code, err)
    steps = [line.split()[2:4] for line in out.splitlines() if "  step " in line]
    assert {"checkout", "build", "publish"} == {name for name, phase in steps if phase == "Succeeded"}
    assert f"run {ns}/build-1 WorkflowSucceeded in " in out.splitlines()[-1]

    code, out, _ = await cli("runs", "list", "-n", ns, kubeconfig=kube)
    assert 0 == code
    assert ["NAME", "WORKFLOW", "STATUS", "AGE", "DURATION"] == out.splitlines()[0].split()
    assert ["build-1", "demo-build", "WorkflowSucceeded"] == out.splitlines()[1].split()[:3]
    code, out, _ = await cli("runs", "list", "-A", kubeconfig=kube)
    assert 0 == code
    assert [ns, "build-1", "demo-build", "WorkflowSucceeded"] in [
        line.split()[:4] for line in out.splitlines()
    ]

    code, out, _ = await cli("runs", "get", "build-1", "-n", ns, kubeconfig=kube)
    assert 0 == code
    lines = out.splitlines()
    tasks = [line.split()[:2] for line in lines[lines.index("Tasks:") + 2 :]]
    assert [["checkout", "Succeeded"], ["build", "Succeeded"], ["publish", "Succeeded"]] == tasks
    assert ["WorkflowCompleted", "True", "WorkflowSucceeded"] in [line.split()[:3] for line in lines]
    stored = await demo.cp.get(r.WORKFLOW_RUN, "build-1", ns)
    stored["metadata"].pop("managedFields", None)
    for output, parse in (("json", json.loads), ("yaml", yaml.safe_load)):
        code, out, _ = await cli("runs", "get", "build-1", "-n", ns, "-o", output, kubeconfig=kube)
        assert (0, stored) == (code, parse(out))


async def test_cancel_while_watching(demo):
    ns, kube = demo.namespace, demo.kubeconfig
    await submit(demo, "slow-1", stepSeconds=30)
    await demo.wait_reason("slow-1", c.R_RUNNING, status="False")
    watcher = asyncio.create_task(cli("runs", "watch", "slow-1", "-n", ns, kubeconfig=kube))
    assert (0, f"workflowrun {ns}/slow-1: cancel requested\n", "") == await cli("runs", "cancel", "slow-1", "-n", ns, kubeconfig=kube)  # fmt: skip
    code, out, err = await watcher
    assert (1, "") == (code, err)
    assert f"run {ns}/slow-1 Cancelled in " in out.splitlines()[-1]
    assert (1, "", f"error: {ns}/slow-1: already completed (Cancelled); nothing to cancel\n") == await cli(
        "runs", "cancel", "slow-1", "-n", ns, kubeconfig=kube
    )
    code, _, err = await cli("runs", "watch", "slow-1", "-n", ns, kubeconfig=kube)
    assert 1 == code, "watching a finished, failed run exits 1 at once"


async def test_rerun_with_overrides(demo):
    ns, kube = demo.namespace, demo.kubeconfig
    await submit(demo, "build-1", image={"tag": "v1"})
    await demo.wait_completed("build-1")
    code, out, err = await cli(
        "runs", "rerun", "build-1", "-n", ns, "--set", "image.tag=v2", "--set", "publish=false", "--name", "again", "--watch",
        kubeconfig=kube,
    )  # fmt: skip
    assert (0, "") == (code, err)
    assert f"workflowrun {ns}/again created (rerun of build-1)" == out.splitlines()[0]
    again = await demo.cp.get(r.WORKFLOW_RUN, "again", ns)
    assert {
        "parameters": {**PARAMS, "image": {"tag": "v2"}, "publish": False},
        "labels": {"team": "qa"},
        "rerun-of": "build-1",
        "outcome": ("True", c.R_SUCCEEDED),
        "tasks": [("checkout", "Succeeded"), ("build", "Succeeded")],  # a skipped step runs no pod: no task
    } == {
        "parameters": again["spec"]["workflow"]["parameters"],
        "labels": again["metadata"]["labels"],
        "rerun-of": again["metadata"]["annotations"][ANNOTATION_RERUN_OF],
        "outcome": completed(again),
        "tasks": [(t["name"], t["phase"]) for t in again["status"]["tasks"]],
    }
    code, out, _ = await cli("runs", "rerun", "again", "-n", ns, kubeconfig=kube)
    created = out.split()[1].split("/")[1]
    assert (0, True) == (code, created.startswith("build-1-")), (
        "a rerun of a rerun is named after the first run"
    )


async def test_submit_checks_parameters_as_the_controller_does_and_creates_nothing(demo):
    ns, kube = demo.namespace, demo.kubeconfig
    sets = ["--set", "repository.url=ftp://example.com/x", "--set", "stepSeconds=0"]
    code, out, err = await cli("runs", "submit", "demo-build", "-n", ns, *sets, kubeconfig=kube)
    assert (1, "", []) == (code, out, (await demo.cp.list(r.WORKFLOW_RUN, ns)).items)
    assert err.startswith("error: invalid parameters for Workflow 'demo-build': parameters.")
    # The controller answers the same parameters, in a run created behind the CLI's back, with the same text.
    params = {"repository": {"url": "ftp://example.com/x"}, "stepSeconds": 0}
    body = {"apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": {"name": "direct", "namespace": ns},
            "spec": {"workflow": {"name": "demo-build", "parameters": params}}}  # fmt: skip
    await demo.cp.create(r.WORKFLOW_RUN, body)
    run = await demo.wait_reason("direct", c.R_INVALID_PARAMETERS)
    message = c.find(run["status"]["conditions"], c.COMPLETED)["message"]
    assert "parameters.repository.url" in message
    assert "parameters.stepSeconds" in message
    assert f"error: invalid parameters for Workflow 'demo-build': {message}\n" == err


async def test_submit_from_a_file_with_sets_then_watch_exits_with_the_outcome(demo, tmp_path):
    ns, kube = demo.namespace, demo.kubeconfig
    params = tmp_path / "params.yaml"
    params.write_text("repository:\n  url: https://github.com/acme/payments\nstepSeconds: 30\n")
    code, out, err = await cli(
        "runs", "submit", "demo-build", "-n", ns, "--from-file", str(params), "--set", "stepSeconds=1",
        "--set", "publish=false", "--name", "sub-1", "--watch", kubeconfig=kube,
    )  # fmt: skip
    assert (0, "", f"workflowrun {ns}/sub-1 created") == (code, err, out.splitlines()[0])
    assert f"run {ns}/sub-1 WorkflowSucceeded in " in out.splitlines()[-1]
    run = await demo.cp.get(r.WORKFLOW_RUN, "sub-1", ns)
    expected = {"kind": "Workflow", "name": "demo-build", "parameters": {
        "repository": {"url": "https://github.com/acme/payments"}, "stepSeconds": 1, "publish": False}}  # fmt: skip
    assert expected == run["spec"]["workflow"]

    # A ClusterWorkflow (no namespaced Workflow of that name): the run names it, and - as docs/planes.md says
    # of ClusterWorkflows - waits for a cluster-scoped plane, which this namespace's BuildPlane is not.
    name = f"fails-{ns}"[:60]
    schema = {"parameters": {"fail": "boolean | default=false"}}
    failing = {"apiVersion": r.API_VERSION, "kind": "ClusterWorkflow", "metadata": {"name": name},
               "spec": {"schema": schema, "runTemplate": _one_step_workflow("${string(parameters.fail)}")}}  # fmt: skip
    await demo.cp.create(r.CLUSTER_WORKFLOW, failing)
    try:
        await async_wait_for("the ClusterWorkflow Ready", lambda: _ready(demo, r.CLUSTER_WORKFLOW, name))
        code, out, err = await cli("runs", "submit", name, "-n", ns, "--set", "fail=true", kubeconfig=kube)
        created = out.split()[1].split("/")[1]
        assert (0, "") == (code, err)
        run = await demo.cp.get(r.WORKFLOW_RUN, created, ns)
        assert {"kind": "ClusterWorkflow", "name": name, "parameters": {"fail": True}} == run["spec"][
            "workflow"
        ]
        waiting = await demo.wait_reason(created, c.R_BUILD_PLANE_NOT_FOUND, status="False", within=30)
        message = c.find(waiting["status"]["conditions"], c.COMPLETED)["message"]
        assert "ClusterBuildPlane 'default' or ClusterWorkflowPlane 'default' does not exist" in message
        code, out, err = await cli(
            "runs", "submit", name, "-n", ns, "--cluster", "--set", "fail=maybe", kubeconfig=kube
        )
        assert (1, f"error: invalid parameters for ClusterWorkflow '{name}': parameters.fail: 'maybe' is not of type 'boolean'\n") == (code, err)  # fmt: skip
    finally:
        await demo.cp.delete(r.CLUSTER_WORKFLOW, name)

    # A Workflow whose step fails: --watch exits 1.
    failing = {"apiVersion": r.API_VERSION, "kind": "Workflow", "metadata": {"name": "fails", "namespace": ns},
               "spec": {"schema": schema, "runTemplate": _one_step_workflow("${string(parameters.fail)}")}}  # fmt: skip
    await demo.cp.create(r.WORKFLOW, failing)
    await async_wait_for("the Workflow Ready", lambda: _ready(demo, r.WORKFLOW, "fails", ns))
    code, out, err = await cli(
        "runs", "submit", "fails", "-n", ns, "--set", "fail=true", "--watch", kubeconfig=kube
    )
    created = out.splitlines()[0].split()[1]
    assert (1, "", True) == (code, err, created.startswith(f"{ns}/fails-"))
    assert f"run {created} WorkflowFailed in " in out.splitlines()[-1]


def _one_step_workflow(fail: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": "${metadata.workflowRunName}", "namespace": "${metadata.namespace}"},
            "spec": {"entrypoint": "main", "templates": [{
                "name": "main", "metadata": {"annotations": {"kwok.choreo.dev/fail": fail}},
                "container": {"image": "alpine:3.20", "command": ["true"]}}]}}  # fmt: skip


async def _ready(world, res, name, namespace=None) -> bool:
    obj = await world.cp.get(res, name, namespace)
    return c.find((obj.get("status") or {}).get("conditions"), c.READY) is not None


@pytest.mark.parametrize(
    ("argv", "expected_code", "expected_error"),
    [
        pytest.param(
            ["get", "nope"],
            1,
            'error: workflowrun "nope" not found in namespace "{ns}"',
            id="get-unknown-run",
        ),
        pytest.param(
            ["watch", "nope"],
            1,
            'error: workflowrun "nope" not found in namespace "{ns}"',
            id="watch-unknown-run",
        ),
        pytest.param(
            ["cancel", "nope"],
            1,
            'error: workflowrun "nope" not found in namespace "{ns}"',
            id="cancel-unknown-run",
        ),
        pytest.param(
            ["rerun", "nope"],
            1,
            'error: workflowrun "nope" not found in namespace "{ns}"',
            id="rerun-unknown-run",
        ),
        pytest.param(
            ["get", "run-1", "-n", "no-such-ns"],
            1,
            'error: namespace "no-such-ns" not found',
            id="get-unknown-namespace",
        ),
        pytest.param(
            ["list", "-n", "no-such-ns"],
            1,
            'error: namespace "no-such-ns" not found',
            id="list-unknown-namespace",
        ),
        pytest.param(
            ["rerun", "run-1", "--set", "stepSeconds"],
            2,
            "error: --set 'stepSeconds': expected PATH=VALUE",
            id="set-without-equals",
        ),
        pytest.param(
            ["rerun", "run-1", "--set", "a..b=1"],
            2,
            "error: --set 'a..b=1': PATH must be dotted parameter names",
            id="set-empty-segment",
        ),
        pytest.param(
            ["rerun", "run-1", "--set", "tags=[v1, v2"],
            2,
            "error: --set 'tags=[v1, v2': VALUE is not valid YAML or JSON",
            id="set-bad-yaml",
        ),
        pytest.param(
            ["rerun", "run-1", "--set", "repository.url.host=x"],
            2,
            "error: --set 'repository.url.host=x': parameters.repository.url is a string, not an object",
            id="set-through-a-string",
        ),
        pytest.param(
            ["rerun", "nope", "--set", "=1"],
            2,
            "error: --set '=1': PATH must be dotted parameter names",
            id="set-checked-before-the-cluster",
        ),
        pytest.param(["get", "run-1", "-o", "xml"], 2, "invalid choice: 'xml'", id="bad-output-format"),
        pytest.param(["frobnicate"], 2, "invalid choice: 'frobnicate'", id="unknown-subcommand"),
        pytest.param(["get"], 2, "the following arguments are required: RUN", id="missing-run"),
        pytest.param(
            ["submit", "nope"],
            1,
            'error: workflow "nope" not found in namespace "{ns}", nor a clusterworkflow "nope"',
            id="submit-unknown-workflow",
        ),
        pytest.param(
            ["submit", "demo-build", "--cluster"],
            1,
            'error: clusterworkflow "demo-build" not found',
            id="submit-cluster-only",
        ),
        pytest.param(
            ["submit", "demo-build", "--set", "stepSeconds=2"],
            1,
            "error: invalid parameters for Workflow 'demo-build': parameters.repository: 'repository' is a required property",
            id="submit-missing-required",
        ),
        pytest.param(
            ["submit", "demo-build", "--set", "stepSeconds"],
            2,
            "error: --set 'stepSeconds': expected PATH=VALUE",
            id="submit-set-without-equals",
        ),
        pytest.param(
            ["submit", "demo-build", "--from-file", "/no/such/params.yaml"],
            4,
            "choreo-controller runs: --from-file /no/such/params.yaml: cannot be read (No such file or directory)",
            id="submit-missing-file",
        ),
    ],
)
async def test_bad_input(demo, argv, expected_code, expected_error):
    ns = demo.namespace
    await submit(demo, "run-1")
    before = len((await demo.cp.list(r.WORKFLOW_RUN, ns)).items)
    namespace = [] if "-n" in argv else ["-n", ns]
    code, out, err = await cli("runs", *argv, *namespace, kubeconfig=demo.kubeconfig)
    assert (expected_code, "") == (code, out)
    assert expected_error.format(ns=ns) in err
    assert before == len((await demo.cp.list(r.WORKFLOW_RUN, ns)).items), "bad input creates nothing"


async def test_empty_namespace_lists_nothing(demo):
    assert (0, "", f"No runs found in namespace {demo.namespace}.\n") == await cli(
        "runs", "list", "-n", demo.namespace, kubeconfig=demo.kubeconfig
    )


@pytest.mark.parametrize("command", [["list"], ["get", "x"], ["watch", "x"], ["cancel", "x"], ["rerun", "x"], ["submit", "x"]], ids=lambda a: a[0])  # fmt: skip
async def test_unreachable_cluster_exits_3_and_a_bad_kubeconfig_or_context_4(
    control_plane, tmp_path, command
):
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    code, out, err = await cli("runs", *command, "-n", "default", kubeconfig=str(dead))
    assert (3, "", True) == (code, out, err.startswith("error: cannot reach the cluster: "))
    code, _, err = await cli("runs", *command, kubeconfig=str(tmp_path / "missing.kubeconfig"))
    assert (4, f"choreo-controller runs: --kubeconfig {tmp_path / 'missing.kubeconfig'}: no such file\n") == (code, err)  # fmt: skip
    code, _, err = await cli("runs", *command, "--context", "nope", kubeconfig=str(control_plane.kubeconfig))
    assert (4, True) == (
        code,
        err.startswith("choreo-controller runs: --context 'nope': no such context in "),
    ), err
