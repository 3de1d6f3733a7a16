"""``choreo-controller runs logs`` through the real relay: the CLI as a child process, the controller and a
standalone gateway (mode ``remote``: the CLI reads the build plane through the gateway's internal API, with the
controller's client certificate) or the gateway embedded in the controller (mode ``relay``: the same internal
API, served by the controller with ``--gateway-internal-client-ca``), the agent with the build plane's least-privilege RBAC, Argo, and kwok
serving every simulated container's log (``localcluster.buildplane.POD_LOG_LINES``: its first line dated 2020).
The demo pipeline has three steps of ``stepSeconds`` each, so ``--follow`` meets running steps. Also: a failed
step's last log lines in the run's message (read by the controller through the relay when the failure is
first seen), and ``runs get``'s Warning events of an unschedulable step.
"""

from __future__ import annotations

import re

import pytest
from demo_support import cli, ready, submit
from localcluster.buildplane import POD_LOG_LINES
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
STEPS = ("checkout", "build", "publish")


def relay_flags(controller) -> list[str]:
    return [f"--gateway-url=https://localhost:{controller.internal_port}",
            f"--gateway-ca={controller.pki['gateway-ca.crt']}",
            f"--gateway-client-cert={controller.pki['controller.crt']}",
            f"--gateway-client-key={controller.pki['controller.key']}"]  # fmt: skip


def lines_of(*steps: str, first: int = 0) -> list[str]:
    return [f"[{step}] {line}" for step in steps for line in POD_LOG_LINES[first:]]


@pytest.mark.timeout(300)  # the first test of a session boots the planes and a relay-mode controller
@pytest.mark.parametrize("controller", ["relay", "remote"], indirect=True)
async def test_logs_follow_a_run_through_the_relay_then_filter(demo, controller):
    ns, kube, flags = demo.namespace, demo.kubeconfig, relay_flags(controller)
    await submit(demo, "build-1", stepSeconds=3)
    code, out, err = await cli("runs", "logs", "build-1", "-n", ns, "-f", *flags, kubeconfig=kube)
    assert (0, "", lines_of(*STEPS)) == (code, err, out.splitlines())

    code, out, err = await cli(
        "runs", "logs", "build-1", "-n", ns, "--task", "build", *flags, kubeconfig=kube
    )
    assert (0, "", lines_of("build")) == (code, err, out.splitlines())
    code, out, err = await cli("runs", "logs", "build-1", "-n", ns, "--since", "1h", *flags, kubeconfig=kube)
    assert (0, "", lines_of(*STEPS, first=1)) == (code, err, out.splitlines()), "the 2020 line is older"
    code, out, _ = await cli("runs", "logs", "build-1", "-n", ns, "--tail", "1", "--timestamps", *flags,
                             kubeconfig=kube)  # fmt: skip
    cut = [line.split(" ", 2) for line in out.splitlines()]
    assert (0, [[f"[{step}]", POD_LOG_LINES[-1]] for step in STEPS]) == (code, [[c[0], c[2]] for c in cut])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", c[1]) for c in cut), out

    code, out, err = await cli("runs", "logs", "build-1", "-n", ns, "--task", "nope", *flags, kubeconfig=kube)
    assert (1, "", f"error: run {ns}/build-1 has no step 'nope'\n") == (code, out, err)
    code, out, err = await cli("runs", "logs", "build-1", "-n", ns, kubeconfig=kube)
    assert (2, "") == (code, out)
    assert "runs logs needs --gateway-url" in err


@pytest.mark.timeout(300)
@pytest.mark.parametrize("controller", ["remote"], indirect=True)
async def test_logs_of_a_run_whose_pods_were_deleted_say_so(demo, controller):
    ns, kube, flags = demo.namespace, demo.kubeconfig, relay_flags(controller)
    await submit(demo, "build-1", stepSeconds=1)
    await demo.wait_completed("build-1")
    build_ns = f"openchoreo-ci-{ns}"
    selector = "workflows.argoproj.io/workflow=build-1"
    pods = await demo.bp.list(r.POD, build_ns, label_selector=selector)
    assert len(pods.items) == 3
    for pod in pods.items:
        await demo.bp.delete(r.POD, pod["metadata"]["name"], namespace=build_ns)

    async def deleted() -> bool:
        return not (await demo.bp.list(r.POD, build_ns, label_selector=selector)).items

    await async_wait_for("the run's pods deleted", deleted)
    gone = [f"step {step}: its pod is gone (deleted or garbage-collected); no log lines" for step in STEPS]
    code, out, err = await cli("runs", "logs", "build-1", "-n", ns, *flags, kubeconfig=kube)
    assert (1, "", gone) == (code, out, err.splitlines())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("controller", ["remote"], indirect=True)
async def test_get_shows_the_warning_events_of_an_unschedulable_step(demo, controller):
    ns, kube, flags = demo.namespace, demo.kubeconfig, relay_flags(controller)
    pod = {
        "name": "main",
        "nodeSelector": {"choreo.dev/no-such-node": "true"},
        "container": {"image": "alpine:3.20", "command": ["true"]},
    }
    await one_pod_run(demo, "stuck", pod)
    build_ns = f"openchoreo-ci-{ns}"

    async def failed_scheduling() -> bool:
        events = await demo.bp.list(r.EVENT, build_ns, field_selector="type=Warning")
        return any(e.get("reason") == "FailedScheduling" for e in events.items)

    await async_wait_for("the scheduler's Warning event", failed_scheduling)
    code, out, err = await cli("runs", "get", "stuck-1", "-n", ns, *flags, kubeconfig=kube)
    section = out.split("\nWarning events (build plane):\n")[1].splitlines()
    assert (0, "", ["STEP", "REASON", "COUNT", "MESSAGE"]) == (code, err, section[0].split()[:4])
    assert ["stuck-1", "FailedScheduling"] == section[1].split()[:2]
    assert "didn't match Pod's node affinity/selector" in section[1]
    code, out, _ = await cli("runs", "get", "stuck-1", "-n", ns, kubeconfig=kube)
    assert (0, False) == (code, "Warning events" in out), "without a build plane, runs get reads none"
    await cli("runs", "cancel", "stuck-1", "-n", ns, kubeconfig=kube)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("controller", ["remote"], indirect=True)
async def test_a_failed_steps_last_log_lines_stay_in_the_runs_message(demo, controller):
    pod = {
        "name": "main",
        "metadata": {"annotations": {"kwok.choreo.dev/fail": "true"}},
        "container": {"image": "alpine:3.20", "command": ["false"]},
    }
    await one_pod_run(demo, "fails", pod)
    failed = await demo.wait_reason("fails-1", c.R_FAILED, within=120)
    message = c.find(failed["status"]["conditions"], c.FAILED)["message"]
    tail = message.split("\n")[1:]
    assert ["--- step fails-1: last 3 log lines ---", *POD_LOG_LINES] == tail, message


async def one_pod_run(demo, workflow: str, pod: dict) -> None:
    """A Workflow ``workflow`` of the one template ``pod`` (waited Ready), and its run ``<workflow>-1``."""
    ns = demo.namespace
    run_template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "${metadata.workflowRunName}", "namespace": "${metadata.namespace}"},
        "spec": {"entrypoint": "main", "templates": [pod]},
    }
    await demo.cp.create(r.WORKFLOW, {"apiVersion": r.API_VERSION, "kind": "Workflow",
                                      "metadata": {"name": workflow, "namespace": ns},
                                      "spec": {"runTemplate": run_template}})  # fmt: skip
    await async_wait_for("the Workflow Ready", lambda: ready(demo, workflow))
    await demo.cp.create(r.WORKFLOW_RUN, {"apiVersion": r.API_VERSION, "kind": "WorkflowRun",
                                          "metadata": {"name": f"{workflow}-1", "namespace": ns},
                                          "spec": {"workflow": {"name": workflow}}})  # fmt: skip
