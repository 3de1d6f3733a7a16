"""Issue 18: the control-plane requests of one WorkflowRun to ``Succeeded`` stay within the budget.

Not a timing test: the control plane's apiserver audits every request of a controller (direct mode, the
shared e2e controllers stopped meanwhile) that runs under a user of its own, and the test counts that
user's writes about one run of the e2e Docker Workflow (a TTL to copy, three steps, Argo and kwok running)
per (resource, verb, subresource), progress-only status patches (``tasks`` alone, coalesced) left out. Every
count must be within ``localcluster.audit.BUDGET`` - the table ``hack/bench/bench_writes_per_run.py``
reports against - and anything outside the table is budgeted at 0. The run is created once a probe run has
shown that the controller's cache holds the BuildPlane (a run that meets no plane waits: not the happy path).

The count ends when nothing of the run can still be in flight: the reconcile that wrote ``Succeeded`` has
ended (waiting for the TTL; the watch's echo of that write enqueues no other), and a second run, whose
Workflow does not exist, has had its Warning Event written - Events go out through one queue and one writer,
so every Event of the first run is written by then.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from e2e_support import Controller, World, completed, in_plane_thread
from localcluster import audit
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.kube import connect

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
USER = "choreo-controller-budget"
TTL_SECONDS = 3600


@pytest.fixture
async def audited_controller(control_plane, build_plane, engines, e2e_templates, tmp_path):
    """A controller under ``USER``, alone on the planes, with the control plane auditing that user."""
    await asyncio.to_thread(engines.stop)
    await in_plane_thread(lambda: control_plane.enable_audit(audit.policy(USER, r.GROUP)))
    log = control_plane.logdir / "audit.log"
    kubeconfig = await asyncio.to_thread(control_plane.user_kubeconfig, USER, ("system:masters",))
    ctl = Controller(control_plane, build_plane, tmp_path / "controller", kubeconfig=kubeconfig)
    await in_plane_thread(ctl.start)
    yield ctl, log
    await asyncio.to_thread(ctl.stop)


def waiting_for_ttl(ctl: Controller, namespace: str, run: str) -> int:
    """Reconciles of ``run`` the log shows ending in the wait for its 1 h TTL (so: after ``Succeeded``)."""
    key = f'"key": "{namespace}/{run}"'
    with ctl.log.open(errors="replace") as lines:
        records = [json.loads(line) for line in lines if key in line and '"event": "reconciled"' in line]
    return sum(float(rec.get("requeue_after") or 0) > TTL_SECONDS / 2 for rec in records)


def about(found: list[dict], namespace: str, run: str) -> list[dict]:
    """The requests about ``run``: to it, and to its Events (named ``<run>.<hex>``, client-go's way)."""

    def ours(entry: dict) -> bool:
        ref = entry.get("objectRef") or {}
        if ref.get("namespace") != namespace:
            return False
        name = str(ref.get("name") or "")
        return name == run if ref.get("resource") == "workflowruns" else name.startswith(f"{run}.")

    return [e for e in found if ours(e)]


async def test_one_run_to_succeeded_stays_within_the_request_budget(
    audited_controller, control_plane, build_plane
):
    ctl, log = audited_controller
    start = log.stat().st_size if log.exists() else 0
    namespace = f"e2e-budget-{secrets.token_hex(3)}"
    async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
        world = World(cp, bp, namespace)
        await world.setup()
        await world.workflow(ttl=f"{TTL_SECONDS}s")
        # The BuildPlane must be in the controller's cache first (else the run waits BuildPlaneNotFound: not
        # the happy path). A run with invalid parameters fails right after resolving its plane, creating
        # nothing; it records the plane only once the cache holds it.
        await world.submit("probe", parameters={"repository": "not-an-object"})
        probe = await world.wait_completed("probe")
        assert probe["status"].get("plane"), probe["status"]
        await world.submit("build-1")
        done = await world.wait_completed("build-1", within=120)
        assert ("True", c.R_SUCCEEDED) == completed(done), done.get("status")
        assert (
            f"{TTL_SECONDS}s" == done["spec"]["ttlAfterCompletion"]
        )  # copied from the Workflow (in the finalizer's patch)

        async def reconciled_after_success() -> bool:  # the reconcile that wrote it (its echo enqueues none)
            return waiting_for_ttl(ctl, namespace, "build-1") >= 1

        await async_wait_for("a reconcile of the run after its Succeeded write", reconciled_after_success)
        await world.submit("marker", workflow="no-such-workflow")

        async def marker_event() -> bool:
            found = audit.entries(log, USER, start=start)
            return any(audit.key(e) == ("events", "create", "") for e in about(found, namespace, "marker"))

        await async_wait_for("the marker run's Warning Event in the audit log", marker_event)

    found = about(audit.entries(log, USER, start=start), namespace, "build-1")
    counted = audit.writes(found)
    progress = sum(audit.is_progress(e) for e in found)
    assert counted[("workflowruns", "patch", "status")] >= 2, (
        f"the run's status writes were not audited: {counted}"
    )
    assert {} == audit.over_budget(counted), (
        f"writes {dict(counted)} (+{progress} progress-only), budget {audit.BUDGET}"
    )
