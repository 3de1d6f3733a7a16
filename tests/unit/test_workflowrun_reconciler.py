"""``WorkflowRunReconciler`` driven through every phase and outcome, on apiservers with real semantics.

Each test asserts on the state of both planes (and the Events), not on which calls were made. The races
of issue 14 each have a test here: a delete racing the submission, a sweep on a cache behind the
apiserver, a plane object deleted under runs, a render that runs out of wall-clock time, a plane whose
cache never syncs, our own orphan in the way of a new run, and a build plane answering 403/404.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
from runworld import BUILD_NS, NS, RunWorld, plane_object, sample

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ObjectKey,
    Result,
    ServerError,
    Unavailable,
)
from choreo_controller.runtime.handlers import enqueue


@pytest.fixture
async def world():
    w = RunWorld()
    await w.setup()
    return w


def uid_of(obj) -> str:
    return obj["metadata"]["uid"]


def fail_on(api, verb: str, res, error: Exception) -> None:
    """The next ``verb`` on ``res`` fails with ``error`` (before it reaches the fake's store)."""

    async def hook() -> None:
        raise error

    api.before(verb, hook, res=res)


# ---- phases ---------------------------------------------------------------------------------------------
async def test_a_run_goes_pending_running_succeeded_then_its_ttl_deletes_it_and_its_objects(world):
    run = await world.submit()
    before = len(world.cp.calls)
    assert Result() == await world.step()
    submitted = world.run()
    assert (
        [labels.FINALIZER],
        ("False", c.R_PENDING),
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "run-1", "namespace": BUILD_NS},
        [{"apiVersion": "v1", "kind": "ConfigMap", "name": "run-1-script", "namespace": BUILD_NS}],
        [("ConfigMap", "run-1-script"), ("Workflow", "run-1")],
    ) == (
        submitted["metadata"]["finalizers"],
        world.completed(),
        submitted["status"]["runReference"],
        submitted["status"]["resources"],
        world.build_objects(uid_of(run)),
    )

    await world.argo_phase("Running")
    await world.step()
    assert ("False", c.R_RUNNING) == world.completed()
    await world.argo_phase("Succeeded")
    result = await world.step()
    assert (("True", c.R_SUCCEEDED), Result(requeue_after=86400.0)) == (world.completed(), result)
    # the request budget (docs/performance.md): finalizer + TTL, submitted, running, succeeded
    assert ["merge_patch"] * 4 == [v for v in world.cp.calls[before:] if v not in {"get", "list", "watch"}]
    assert "1d" == world.run()["spec"]["ttlAfterCompletion"]  # copied from the Workflow

    world.clock.step(86400)
    assert Result() == await world.step()  # TTL: the run is deleted (uid precondition) ...
    assert world.run()["metadata"]["deletionTimestamp"]
    await world.step()  # ... and its finalizer cleans the build plane before it goes
    assert (None, []) == (world.run(), world.build_objects())
    assert ["Submitted"] == world.events.reasons()  # Pending, Running, Succeeded: the conditions say it


@pytest.mark.parametrize(
    ("phase", "cancel", "expected"),
    [
        pytest.param("Failed", False, ("True", c.R_FAILED), id="failed"),
        pytest.param("Error", False, ("True", c.R_FAILED), id="error"),
        pytest.param("Failed", True, ("True", c.R_CANCELLED), id="cancelled"),
    ],
)
async def test_argo_outcomes(world, phase, cancel, expected):
    await world.submit()
    await world.step()
    if cancel:
        await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}}, namespace=NS)  # fmt: skip
        await world.step()
        assert "Terminate" == world.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, "run-1")["spec"]["shutdown"]
    await world.argo_phase(phase)
    await world.step()
    assert expected == world.completed()


async def test_a_run_cancelled_before_submission_never_reaches_the_build_plane(world):
    await world.cp.create(r.WORKFLOW_RUN, {**_run_object(), "metadata": {"name": "run-1", "namespace": NS, "annotations": {labels.ANNOTATION_CANCEL: "true"}}})  # fmt: skip
    await world.step()
    assert (("True", c.R_CANCELLED), []) == (world.completed(), world.build_objects())


async def test_the_argo_workflow_vanishing_mid_run_fails_the_run(world):
    await world.submit()
    await world.step()
    await world.bp.remove(r.ARGO_WORKFLOW, BUILD_NS, "run-1")
    await world.step()
    assert (("True", c.R_FAILED), True) == (world.completed(), "disappeared" in world.message())


def _run_object(**parameters):
    return {"apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": {"name": "run-1", "namespace": NS},
            "spec": {"workflow": {"name": "run-container", "parameters": {"image": "alpine", **parameters}}}}  # fmt: skip


# ---- terminal outcomes ----------------------------------------------------------------------------------
def _with_resource(kind: str, api_version: str = "v1") -> dict:
    wf = sample("workflow-generic.yaml")
    wf["spec"]["resources"][0]["template"].update(apiVersion=api_version, kind=kind)
    return wf


def _kind_from_parameter() -> dict:
    wf = sample("workflow-generic.yaml")
    wf["spec"]["schema"]["parameters"]["kind"] = "string | default=ConfigMap"
    wf["spec"]["resources"][0]["template"]["kind"] = "${parameters.kind}"
    return wf


@pytest.mark.parametrize(
    ("workflow", "parameters", "expected", "words"),
    [
        pytest.param(None, {"retries": "x"}, c.R_INVALID_PARAMETERS, "parameters.retries", id="invalid-parameters"),
        pytest.param(_with_resource("Pod"), {}, c.R_INVALID_TEMPLATE, "v1 Pod is not a kind", id="kind-outside-the-table"),
        pytest.param(_kind_from_parameter(), {"kind": "Service"}, c.R_INVALID_TEMPLATE,
                     "resources[0].template.kind: v1 Service is not a kind", id="rendered-kind-outside-the-table"),
        pytest.param(_with_resource("Secret"), {}, c.R_SUCCEEDED, "", id="a-kind-in-the-table-runs"),
    ],
)  # fmt: skip
async def test_terminal_outcomes(workflow, parameters, expected, words):
    world = RunWorld()
    await world.setup(workflow=workflow)
    await world.submit(**parameters)
    await world.step()
    if expected == c.R_SUCCEEDED:
        await world.argo_phase("Succeeded")
        await world.step()
    assert (("True", expected), True) == (world.completed(), words in world.message())
    if expected != c.R_SUCCEEDED:
        assert [] == world.build_objects()


async def test_a_missing_workflow_fails_and_is_revived_once_it_exists():
    world = RunWorld()
    await world.cp.create(r.BUILD_PLANE, plane_object())
    await world.submit()
    await world.step()
    assert ("True", c.R_WORKFLOW_RESOLUTION_FAILED) == world.completed()
    await world.setup(plane=False)
    await world.step()
    assert (("False", c.R_PENDING), ["run-1"]) == (
        world.completed(),
        [n for (p, _, n) in world.bp.objects if p == "workflows"],
    )


# ---- waiting ------------------------------------------------------------------------------------------
async def test_no_build_plane_waits_with_backoff_and_a_new_one_is_used():
    world = RunWorld()
    await world.setup(plane=False)
    await world.submit()
    waits = [(await world.step()).requeue_after for _ in range(4)]
    assert (("False", c.R_BUILD_PLANE_NOT_FOUND), [1.0, 2.0, 4.0, 8.0]) == (world.completed(), waits)
    await world.cp.create(r.BUILD_PLANE, plane_object())
    await world.step()
    assert ("False", c.R_PENDING) == world.completed()


@pytest.mark.parametrize(
    ("error", "reason", "words"),
    [
        pytest.param(Forbidden("configmaps is forbidden: relay policy: resource not in the allowlist"),
                     c.R_BUILD_PLANE_FORBIDDEN, "refused to create ConfigMap openchoreo-ci-team/run-1-script (HTTP 403",
                     id="403"),
        pytest.param(NotFound("the server could not find the requested resource"), c.R_BUILD_PLANE_KIND_MISSING,
                     "does not serve the kind of ConfigMap openchoreo-ci-team/run-1-script (HTTP 404", id="404-no-crd"),
        pytest.param(ServerError("etcdserver: request timed out"), c.R_BUILD_PLANE_UNAVAILABLE, "cannot be reached (etcdserver", id="500"),
        pytest.param(Unavailable("no agent connected"), c.R_BUILD_PLANE_UNAVAILABLE, "no agent connected",
                     id="unreachable"),
    ],
)  # fmt: skip
async def test_build_plane_errors_are_specific_waiting_conditions_and_warning_events(
    world, error, reason, words
):
    await world.submit()
    fail_on(world.bp, "create", r.CONFIG_MAP, error)
    assert Result(requeue_after=1.0) == await world.step()
    waiting = world.run()
    assert (("False", reason), True, ("Warning", reason)) == (
        world.completed(),
        words in world.message(),
        world.events.recorded[-1][:2],
    )
    fail_on(world.bp, "create", r.CONFIG_MAP, error)
    assert Result(requeue_after=2.0) == await world.step()  # same failure again: backoff, nothing written
    assert waiting == world.run()
    await world.step()
    assert ("False", c.R_PENDING) == world.completed()
    assert "Submitted" in world.events.reasons()[-2:]


@pytest.mark.parametrize(
    "error",
    [pytest.param(Invalid("spec: Invalid value"), id="422"), pytest.param(BadRequest("bad"), id="400")],
)
async def test_a_rejected_object_is_terminal(world, error):
    await world.submit()
    fail_on(world.bp, "create", r.ARGO_WORKFLOW, error)
    await world.step()
    assert (("True", c.R_RENDER_FAILED), [("ConfigMap", "run-1-script")]) == (
        world.completed(),
        world.build_objects(),
    )
    await world.cp.delete(r.WORKFLOW_RUN, "run-1", namespace=NS)
    await world.step()  # what the failed submission did create goes with the run
    assert (None, []) == (world.run(), world.build_objects())


async def test_a_vanished_build_namespace_is_prepared_again(world):
    await world.submit("first")
    await world.step("first")
    fail_on(world.bp, "create", r.CONFIG_MAP, NotFound(f'namespaces "{BUILD_NS}" not found'))
    await world.submit()
    assert 1.0 == (await world.step()).requeue_after
    await world.step()
    assert ("False", c.R_PENDING) == world.completed()


# ---- races ------------------------------------------------------------------------------------------------
async def test_a_cache_behind_the_finalizer_release_does_not_release_it_again(world):
    """Emptied finalizers delete the run and the answer is its last stored state - the version a lagging
    cache still shows: a reconcile on that cache must not clean up and patch a second time (404)."""
    await world.submit()
    await world.step()
    await world.argo_phase("Succeeded")
    await world.step()
    await world.cp.delete(r.WORKFLOW_RUN, "run-1", namespace=NS)  # the TTL's delete, say
    stale = world.caches.runs.snapshot()  # deleting, finalizer still on
    await world.step()  # cleanup, finalizer released: the run is gone
    assert world.run() is None
    world.caches.runs.freeze(stale)  # ... but the cache has not heard yet
    before = len(world.cp.calls), len(world.bp.calls)
    assert Result() == await world.step()
    assert ([], []) == (world.cp.calls[before[0] :], world.bp.calls[before[1] :])
    world.caches.runs.thaw()
    await world.step()  # the run gone from the cache too: forgotten


async def test_a_delete_racing_the_submission_leaves_nothing_behind(world):
    run = await world.submit()

    async def delete_the_run() -> None:  # while the Argo Workflow is being created
        await world.cp.delete(r.WORKFLOW_RUN, "run-1", namespace=NS)

    world.bp.before("create", delete_the_run, res=r.ARGO_WORKFLOW)
    with pytest.raises(Conflict):  # the status write recording what was created: stale resourceVersion
        await world.step()
    # nothing recorded the plane, so the submission itself deleted what it had created
    assert ({}, []) == (world.run().get("status", {}), world.build_objects(uid_of(run)))
    await world.step()
    assert (None, []) == (world.run(), world.build_objects())


async def test_the_sweep_never_deletes_a_live_runs_objects_when_its_cache_is_behind(world):
    stale = world.caches.runs.snapshot()  # a new leader's cache, synced before the run was created
    run = await world.submit()
    await world.step()  # the old leader submits it
    world.clock.step(3600)  # the objects are old enough to be candidates
    world.caches.runs.freeze(stale)  # ... and the new leader's cache has not delivered the live run yet
    assert 0 == await world.sweep.sweep_once()
    assert [("ConfigMap", "run-1-script"), ("Workflow", "run-1")] == world.build_objects(uid_of(run))
    assert 2 == world.sweep.spared


async def test_the_sweep_deletes_orphans_once_they_are_old_enough_and_spares_young_ones(world):
    orphan = await world.submit("orphan")
    await world.step("orphan")
    await world.cp.merge_patch(r.WORKFLOW_RUN, "orphan", {"metadata": {"finalizers": None}}, namespace=NS)
    await world.cp.delete(r.WORKFLOW_RUN, "orphan", namespace=NS)  # forced away: its cleanup never ran
    live = await world.submit("live")
    await world.step("live")
    assert 0 == await world.sweep.sweep_once()  # young: spared whatever the caches say
    world.clock.step(61)
    assert 2 == await world.sweep.sweep_once()
    assert ([], 2) == (world.build_objects(uid_of(orphan)), len(world.build_objects(uid_of(live))))


async def test_a_namespace_deleted_with_runs_in_flight_releases_them_and_the_sweep_collects(world):
    await world.cp.create(
        r.CLUSTER_BUILD_PLANE, plane_object("ClusterBuildPlane")
    )  # the same plane, elsewhere
    runs = [await world.submit(f"run-{i}") for i in range(3)]
    for run in runs:
        await world.step(run["metadata"]["name"])
    await world.cp.remove(r.BUILD_PLANE, NS, "default")  # what the namespace controller does: no finalizer
    for run in runs:
        await world.cp.delete(r.WORKFLOW_RUN, run["metadata"]["name"], namespace=NS)
        await world.step(run["metadata"]["name"])
    assert ([None] * 3, ["BuildPlaneGone"] * 3) == (
        [world.run(run["metadata"]["name"]) for run in runs],
        [reason for reason in world.events.reasons() if reason == "BuildPlaneGone"],
    )
    assert 6 == len(world.build_objects())
    world.clock.step(61)
    assert (6, []) == (await world.sweep.sweep_once(), world.build_objects())


async def test_a_plane_object_deleted_under_a_running_run_is_waited_for(world):
    await world.submit()
    await world.step()
    await world.argo_phase("Running")
    await world.step()
    await world.cp.remove(r.BUILD_PLANE, NS, "default")
    assert Result(requeue_after=1.0) == await world.step()
    assert (("False", c.R_BUILD_PLANE_NOT_FOUND), True) == (
        world.completed(),
        "no longer exists" in world.message(),
    )
    await world.cp.create(r.BUILD_PLANE, plane_object())
    await world.step()
    assert ("False", c.R_RUNNING) == world.completed()


class SlowClock:
    """The injected clock on a busy machine: every look at the monotonic clock is 0.3 s later."""

    def __init__(self, clock) -> None:
        self._clock = clock

    def __getattr__(self, name):
        return getattr(self._clock, name)

    def monotonic(self) -> float:
        self._clock.step(0.3)
        return self._clock.monotonic()


async def test_a_render_out_of_wall_clock_time_is_retried_not_terminal():
    world = RunWorld()
    await world.setup()
    world.reconciler = type(world.reconciler)(
        type(world.deps)(world.cp, world.caches, world.planes, SlowClock(world.clock), world.events)
    )
    await world.submit()
    assert Result(requeue_after=1.0) == await world.step()
    assert (("False", c.R_PENDING), True) == (world.completed(), "time budget exhausted" in world.message())
    world.reconciler = type(world.reconciler)(world.deps)  # the machine is quiet again
    await world.step()
    assert ("False", c.R_PENDING) == world.completed()
    assert [("ConfigMap", "run-1-script"), ("Workflow", "run-1")] == world.build_objects()


async def test_a_plane_whose_cache_has_not_synced_is_waited_for_with_backoff(world):
    await world.submit()
    await world.step()
    world.planes.view.unsynced.add(r.ARGO_WORKFLOW)
    before = world.run()
    waits = [(await world.step()).requeue_after for _ in range(5)]
    assert ([1.0, 2.0, 4.0, 8.0, 16.0], before) == (waits, world.run())  # no hot loop, nothing written
    world.planes.view.unsynced.clear()
    assert Result() == await world.step()


async def test_the_run_objects_cache_is_started_before_the_run_object_is_created(world):
    """A cold controller's first LIST of the engine's kinds (through the relay) must overlap the submission:
    started only when the run is first tracked, it was still in flight when the first runs turned Running,
    and their status waited for it (docs/performance.md, "The Running tail, found")."""
    started_at_create = []

    async def look() -> None:
        started_at_create.append(set(world.planes.view.started))

    world.bp.before("create", look, res=r.ARGO_WORKFLOW)
    await world.submit()
    await world.step()
    assert [{r.ARGO_WORKFLOW}] == started_at_create


async def test_our_own_orphan_in_the_way_of_a_new_run_is_replaced(world):
    old = await world.submit()
    await world.step()
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"metadata": {"finalizers": None}}, namespace=NS)
    await world.cp.delete(r.WORKFLOW_RUN, "run-1", namespace=NS)  # gone without cleanup
    new = await world.submit()  # the same name: the same object names
    await world.step()
    assert (("False", c.R_PENDING), [], [("ConfigMap", "run-1-script"), ("Workflow", "run-1")]) == (
        world.completed(),
        world.build_objects(uid_of(old)),
        world.build_objects(uid_of(new)),
    )


async def test_a_decision_on_a_stale_cache_never_overwrites_newer_status(world):
    await world.submit()
    await world.step()
    world.caches.runs.freeze()  # the reconciler's view stops here
    await world.argo_phase("Succeeded")
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"status": {"startedAt": "2030-01-01T00:00:00Z"}}, namespace=NS, subresource="status")  # fmt: skip
    with pytest.raises(Conflict):
        await world.step()
    assert "2030-01-01T00:00:00Z" == world.run()["status"]["startedAt"]
    world.caches.runs.thaw()
    await world.step()
    assert (("True", c.R_SUCCEEDED), "2030-01-01T00:00:00Z") == (
        world.completed(),
        world.run()["status"]["startedAt"],
    )


# ---- read your writes ------------------------------------------------------------------------------------
async def test_a_cache_behind_our_own_writes_is_read_from_our_copy_without_a_request(world):
    """The Argo Workflow turns Running before the runs watch has delivered the submission's writes: the
    reconcile decides on the run as our last write returned it (no GET, no second submission)."""
    run = await world.submit()
    stale = world.caches.runs.snapshot()  # the run as created: before the finalizer patch and the record
    await world.step()
    world.caches.runs.freeze(stale)
    await world.argo_phase("Running")
    before = len(world.cp.calls), len(world.bp.calls)
    assert Result() == await world.step()
    assert (
        ["merge_patch"],
        ("False", c.R_RUNNING),
        [("ConfigMap", "run-1-script"), ("Workflow", "run-1")],
    ) == (
        world.cp.calls[before[0] :],  # the Running write, on the version our record returned
        world.completed(),
        world.build_objects(uid_of(run)),
    )
    assert [] == [v for v in world.bp.calls[before[1] :] if v not in {"get", "list", "watch"}]


async def test_our_copy_never_hides_a_third_party_write_that_came_after_it(world):
    """A status write of someone else after ours, not in the lagging cache either: the write decided on our
    copy fails on its resourceVersion, and the retry reads the run live instead of trusting the copy again."""
    await world.submit()
    stale = world.caches.runs.snapshot()
    await world.step()
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"status": {"startedAt": "2030-01-01T00:00:00Z"}}, namespace=NS, subresource="status")  # fmt: skip
    world.caches.runs.freeze(stale)
    await world.argo_phase("Running")
    with pytest.raises(Conflict):
        await world.step()
    assert (("False", c.R_PENDING), "2030-01-01T00:00:00Z") == (
        world.completed(),
        world.run()["status"]["startedAt"],
    )
    before = len(world.cp.calls)
    assert Result() == await world.step()  # the cache still behind
    assert (["get", "merge_patch"], ("False", c.R_RUNNING), "2030-01-01T00:00:00Z") == (
        world.cp.calls[before:],
        world.completed(),
        world.run()["status"]["startedAt"],
    )


async def test_a_cache_past_our_write_is_believed_not_our_copy(world):
    """A cache showing a version our writes do not precede (someone wrote after us and the watch delivered
    it): never replaced by our older copy - here a cancel asked for after our record stops the Workflow."""
    await world.submit()
    await world.step()
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}}, namespace=NS)  # fmt: skip
    await world.argo_phase("Running")
    await world.step()
    assert "Terminate" == world.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, "run-1")["spec"].get("shutdown")


async def test_our_copies_are_kept_only_while_the_cache_can_lag_behind_them(world):
    for name in ("run-1", "run-2"):
        await world.submit(name)
    await world.step("run-1")
    world.clock.step(11)  # longer than READ_YOUR_WRITES
    await world.step("run-2")
    assert [ObjectKey(NS, "run-2")] == list(world.reconciler._writer._written)


async def test_the_watch_echo_of_our_own_writes_is_not_enqueued_and_anyone_elses_write_is(world):
    """Each of our writes comes back as an update of the runs watch. The reconcile that made it went on from
    that very version, so the runs handler does not enqueue it (a no-op reconcile each, queued in front of
    the runs created since); the echo of our last write drops our copy, as ``fresh`` would; a third party's
    write is enqueued."""
    await world.submit()
    await world.step()  # the finalizer and TTL patch, then the submission's record: two writes
    await world.cp.merge_patch(r.WORKFLOW_RUN, "run-1", {"metadata": {"annotations": {labels.ANNOTATION_CANCEL: "true"}}}, namespace=NS)  # fmt: skip
    versions = [obj for _, plural, _, obj in world.cp.history if plural == r.WORKFLOW_RUN.plural]
    queue = Keys()
    handler = enqueue(queue, update_if=world.reconciler.not_our_write)
    assert handler.on_update is not None
    handler.on_update(versions[0], versions[1])  # our patch
    handler.on_update(versions[1], versions[2])  # our record
    assert ([], []) == (queue.added, list(world.reconciler._writer._written))
    handler.on_update(versions[2], versions[3])  # the cancel annotation
    assert [ObjectKey(NS, "run-1")] == queue.added


@pytest.mark.parametrize("third_party", [False, True])
async def test_an_update_delivered_before_our_writes_answer_is_enqueued_only_if_not_ours(world, third_party):
    """The watch often delivers our write's echo before the write's own answer: held back while the write
    is in flight, then dropped if ours - or enqueued once, if someone else wrote in that window."""
    queue = Keys()
    world.reconciler.requeue_with(queue.add)
    handler = enqueue(queue, update_if=world.reconciler.not_our_write)
    assert handler.on_update is not None
    await world.submit()
    patch = world.cp.merge_patch
    delivered = [1]  # the watch's position: the run as created

    async def watch_first(res, name, body, **kw):
        answer = await patch(res, name, body, **kw)
        if third_party and "finalizers" in body.get("metadata", {}):
            await patch(res, name, {"metadata": {"labels": {"team": "a"}}}, namespace=NS)  # meanwhile
        runs = [obj for _, plural, _, obj in world.cp.history if plural == r.WORKFLOW_RUN.plural]
        for old, new in itertools.pairwise(runs):
            if int(new["metadata"]["resourceVersion"]) > delivered[0]:
                handler.on_update(old, new)  # the watch, before the answer
                delivered[0] = int(new["metadata"]["resourceVersion"])
        return answer

    world.cp.merge_patch = watch_first
    with pytest.raises(Conflict) if third_party else contextlib.nullcontext():
        await world.step()  # with a third party: the record, decided on our patch's answer, conflicts
    assert ([ObjectKey(NS, "run-1")] if third_party else [], []) == (
        queue.added,
        list(world.reconciler._writer._inflight),
    )
    if not third_party:
        assert [] == list(world.reconciler._writer._written)  # the cache has caught up: copy dropped


class Keys:
    def __init__(self) -> None:
        self.added: list[ObjectKey] = []

    def add(self, key: ObjectKey) -> None:
        self.added.append(key)


# ---- settled runs ----------------------------------------------------------------------------------------
async def settled_world(*, summaries: bool = True) -> RunWorld:
    """A run that succeeded (TTL 1d copied from the Workflow), reconciled once more since: settled."""
    world = RunWorld()
    await world.setup()
    await world.submit()
    await world.step()
    for phase in ("Running", "Succeeded"):
        await world.argo_phase(phase)
        await world.step()
    await world.step()  # the cache shows our last write: the writer's copy is dropped
    if not summaries:  # a runs cache without ``settled_expiry``: every reconcile takes every step
        world.caches.runs.summary = lambda _key: None
    return world


def count_reads(world: RunWorld) -> list[ObjectKey]:
    """Every run the reconciler reads (decodes) from the runs cache, from now on."""
    reads, get = [], world.caches.runs.get

    def counted(key):
        reads.append(key)
        return get(key)

    world.caches.runs.get = counted
    return reads


async def test_a_settled_run_is_reconciled_from_its_cached_expiry_without_reading_it():
    world = await settled_world()
    reads, before = count_reads(world), len(world.cp.calls)
    world.clock.step(3600)
    assert Result(requeue_after=86400.0 - 3600) == await world.step()
    assert ([], []) == (reads, world.cp.calls[before:])  # no decode, no request


async def edit_run(world: RunWorld, edit) -> None:
    run = world.run()
    edit(run)
    await world.cp.put(r.WORKFLOW_RUN, run, event="MODIFIED")


def no_finalizer(run):
    run["metadata"]["finalizers"] = []


def no_ttl(run):
    del run["spec"]["ttlAfterCompletion"]


def no_ttl_not_submitted(run):
    del run["spec"]["ttlAfterCompletion"]
    del run["status"]["runReference"]


def invalid_ttl(run):
    run["spec"]["ttlAfterCompletion"] = "1w"


def garbled_completed_at(run):
    run["status"]["completedAt"] = "yesterday"


def deleting(run):
    run["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"


def revivable(run):
    del run["status"]["runReference"]
    for cond in run["status"]["conditions"]:
        if cond["type"] == c.COMPLETED:
            cond["reason"] = c.R_WORKFLOW_RESOLUTION_FAILED


@pytest.mark.parametrize(
    ("edit", "later"),
    [
        pytest.param(None, 0, id="settled"),
        pytest.param(None, 86400, id="ttl-due"),
        pytest.param(no_finalizer, 0, id="finalizer-missing"),
        pytest.param(no_ttl, 0, id="no-ttl-kept"),
        pytest.param(no_ttl_not_submitted, 0, id="no-ttl-not-submitted-copies-the-workflows"),
        pytest.param(invalid_ttl, 0, id="invalid-ttl"),
        pytest.param(garbled_completed_at, 0, id="garbled-completedAt"),
        pytest.param(deleting, 0, id="being-deleted"),
        pytest.param(revivable, 0, id="revivable"),
    ],
)
async def test_a_settled_runs_reconcile_decides_as_every_step_would(edit, later):
    """With and without the cached expiry: the same result, requests, Events and run afterwards."""
    outcomes = []
    for summaries in (True, False):
        world = await settled_world(summaries=summaries)
        if edit is not None:
            await edit_run(world, edit)
        world.clock.step(later)
        before = len(world.cp.calls)
        try:
            outcome: object = await world.step()
        except Exception as exc:  # noqa: BLE001 - compared, not handled
            outcome = type(exc)
        outcomes.append((outcome, world.cp.calls[before:], world.events.reasons(), world.run()))
    assert outcomes[0] == outcomes[1]


async def test_a_run_we_just_wrote_is_not_taken_from_its_cached_expiry():
    """Within READ_YOUR_WRITES of our write the cache may lag it: the steps decide (``fresh``)."""
    world = await settled_world()
    run = world.run()
    world.caches.runs.freeze()
    await world.reconciler._writer.patch(run, {"metadata": {"labels": {"x": "y"}}})
    reads = count_reads(world)
    assert Result(requeue_after=86400.0) == await world.step()
    assert [ObjectKey(NS, "run-1")] == reads
