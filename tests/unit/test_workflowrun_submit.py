"""Build-plane writes over the in-memory API: create-if-missing, adoption, NameConflict, cleanup by record."""

from __future__ import annotations

import pytest
from fakeapi import FakeApi

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import TerminalError
from choreo_controller.engines.argo import ARGO
from choreo_controller.reconcilers.workflowrun.finalize import cleanup
from choreo_controller.reconcilers.workflowrun.plan import Planned
from choreo_controller.reconcilers.workflowrun.submit import RequeueSoon, Submitter, prerequisites

NS = "openchoreo-ci-team"


def argo(name="build-1", uid="run-uid", **meta):
    obj_labels = labels.run_labels(name, "team", uid) if uid else {}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": NS, "labels": obj_labels, **meta},
        "spec": {},
    }


async def test_prerequisites_are_created_once_and_existing_ones_kept():
    api = FakeApi()
    await api.put(r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    submitter = Submitter(FakeApi())
    await submitter.ensure_namespace(api, "p", NS, ARGO)
    await submitter.ensure_namespace(api, "p", NS, ARGO)  # remembered: no more calls
    kinds = sorted(plural for plural, _, _ in api.objects)
    assert (["namespaces", "rolebindings", "roles", "serviceaccounts"], 4, 3) == (
        kinds,
        api.calls.count("get"),
        api.calls.count("create"),
    )


def test_the_role_lets_workflow_sa_write_task_results_only():
    (_, _), (_, sa), (_, role), (_, binding) = prerequisites(NS, ARGO)
    assert (
        labels.WORKFLOW_SERVICE_ACCOUNT,
        [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
        [{"kind": "ServiceAccount", "name": labels.WORKFLOW_SERVICE_ACCOUNT, "namespace": NS}],
    ) == (sa["metadata"]["name"], role["rules"], binding["subjects"])


async def test_create_then_adopt_own_object_after_a_crash():
    api = FakeApi()
    submitter = Submitter(FakeApi())
    await submitter.create(api, "p", Planned(r.ARGO_WORKFLOW, argo()), "run-uid")
    await submitter.create(api, "p", Planned(r.ARGO_WORKFLOW, argo()), "run-uid")  # AlreadyExists: ours
    assert ["create", "create", "get"] == api.calls


def run(uid="other-uid", name="build-1"):
    return {"apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": {"name": name, "namespace": "team", "uid": uid}}  # fmt: skip


@pytest.mark.parametrize(
    ("existing", "live_run", "expected"),
    [
        pytest.param(argo(uid=""), None, "was not created by a run", id="foreign"),
        pytest.param(
            argo(uid="other-uid"), run(), "belongs to another WorkflowRun (uid other-uid)", id="another-live-run"
        ),
        pytest.param(
            {**argo(uid="gone-uid"), "metadata": {"name": "build-1", "namespace": NS,
                                                  "labels": {labels.LABEL_WORKFLOWRUN_UID: "gone-uid"}}},
            None,
            "belongs to another WorkflowRun (uid gone-uid)",
            id="uid-label-only-is-never-judged-gone",
        ),
    ],
)  # fmt: skip
async def test_someone_elses_object_is_a_name_conflict(existing, live_run, expected):
    api, cp = FakeApi(), FakeApi()
    await api.put(r.ARGO_WORKFLOW, existing)
    if live_run is not None:
        await cp.put(r.WORKFLOW_RUN, live_run)
    with pytest.raises(TerminalError) as caught:
        await Submitter(cp).create(api, "p", Planned(r.ARGO_WORKFLOW, argo()), "run-uid")
    assert (c.R_NAME_CONFLICT, True, True) == (
        caught.value.reason,
        expected in caught.value.message,
        f"Workflow {NS}/build-1" in caught.value.message,
    )
    assert existing["metadata"]["labels"] == api.stored(r.ARGO_WORKFLOW, NS, "build-1")["metadata"]["labels"]


@pytest.mark.parametrize(
    "live_run",
    [pytest.param(None, id="run-deleted"), pytest.param(run(uid="run-uid"), id="run-recreated-same-name")],
)
async def test_our_own_orphan_is_replaced_not_a_conflict(live_run):
    api, cp = FakeApi(), FakeApi()
    await api.put(r.ARGO_WORKFLOW, argo(uid="old-uid"))  # our labels, for a run uid that no longer exists
    if live_run is not None:
        await cp.put(r.WORKFLOW_RUN, live_run)
    await Submitter(cp).create(api, "p", Planned(r.ARGO_WORKFLOW, argo()), "run-uid")
    replaced = api.stored(r.ARGO_WORKFLOW, NS, "build-1")
    assert "run-uid" == replaced["metadata"]["labels"][labels.LABEL_WORKFLOWRUN_UID]
    assert ["create", "get", "delete", "create"] == api.calls


async def test_an_object_still_being_deleted_is_waited_for():
    api = FakeApi()
    await api.put(r.ARGO_WORKFLOW, argo(uid="old-uid", deletionTimestamp="2026-01-01T00:00:00Z"))
    with pytest.raises(RequeueSoon):
        await Submitter(FakeApi()).create(api, "p", Planned(r.ARGO_WORKFLOW, argo()), "run-uid")


async def test_cleanup_deletes_recorded_objects_and_unrecorded_ones_with_the_run_uid():
    api = FakeApi()
    await api.put(r.ARGO_WORKFLOW, argo())
    es = {**argo("build-1-git"), "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret"}
    await api.put(r.EXTERNAL_SECRET, es)  # created just before a crash: not in status
    await api.put(r.ARGO_WORKFLOW, argo("someone-else", uid="other"))
    run = {
        "metadata": {"name": "build-1", "namespace": "team", "uid": "run-uid"},
        "status": {
            "runReference": {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "name": "build-1",
                "namespace": NS,
            },
            "resources": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "gone-already", "namespace": NS}],
        },
    }
    deleted = await cleanup(api, run)
    assert (2, [("workflows", NS, "someone-else")]) == (deleted, sorted(api.objects))
