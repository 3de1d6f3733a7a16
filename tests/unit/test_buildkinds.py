"""The one table of build-plane kinds, and everything that must agree with it.

The agent's ClusterRole grants exactly what the table lists (relayed verbs, plus what the workflow Role
grants the run's ServiceAccount); the allowlist serves exactly those kinds; the workflow Role the engine
creates grants exactly the table's ``GRANT`` rows; the renderer refuses any other kind, naming it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from choreo_controller.api import buildkinds
from choreo_controller.api import resources as r
from choreo_controller.engines import ENGINES
from choreo_controller.reconcilers.workflowrun.submit import prerequisites
from choreo_controller.relay import authz
from choreo_controller.render import check_workflow

CLUSTER_ROLE = Path(__file__).resolve().parents[2] / "manifests" / "build-plane" / "clusterrole.yaml"


def granted() -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in yaml.safe_load(CLUSTER_ROLE.read_text())["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out[(group, resource)] |= set(rule["verbs"])
    return dict(out)


def test_the_agent_cluster_role_grants_exactly_the_table():
    expected: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in buildkinds.KINDS:
        resource = f"{row.resource.plural}/{row.subresource}" if row.subresource else row.resource.plural
        expected[(row.resource.group, resource)] |= row.verbs
    assert dict(expected) == granted()


def test_the_allowlist_serves_exactly_the_relayed_rows():
    served = {
        (rule.group, rule.resource, rule.subresource): (rule.versions, rule.verbs, rule.across_namespaces)
        for rule in authz.RULES
    }
    table = {
        key: (row.versions, row.verbs, row.across_namespaces) for key, row in buildkinds.relayed().items()
    }
    assert table == served
    assert ("argoproj.io", "workflowtaskresults", "") not in served  # GRANT rows are never relayed
    observed = {
        key: (verbs, across) for key, (_, verbs, across) in served.items() if key[1] in {"pods", "events"}
    }
    assert {
        ("", "pods", ""): (frozenset({"list"}), False),
        ("", "pods", "log"): (frozenset({"get"}), False),
        ("", "events", ""): (frozenset({"list"}), False),
    } == observed, "what people read of a run: read-only, never across namespaces"


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_the_agent_lists_pods_by_the_label_each_engine_puts_on_its_run_pods(engine):
    run = {"metadata": {"name": "build-1", "namespace": "openchoreo-ci-x"}}
    assert engine.pod_selector(run) == f"{engine.pod_label}=build-1"
    assert engine.pod_label in authz.POD_LABELS
    path = "/api/v1/namespaces/openchoreo-ci-x/pods"
    assert authz.authorize("list", "GET", path, (("labelSelector", engine.pod_selector(run)),)).allowed


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_the_workflow_role_grants_the_engine_grant_rows(engine):
    rules = [obj["rules"] for res, obj in prerequisites("openchoreo-ci-x", engine) if res == r.ROLE]
    expected = [
        {"apiGroups": [row.resource.group], "resources": [row.resource.plural], "verbs": sorted(row.verbs)}
        for row in buildkinds.grants(engine.name)
    ]
    assert ([expected] if expected else []) == rules  # no grants, no Role


def test_cleanup_and_sweep_find_every_run_and_extra_kind():
    assert {r.ARGO_WORKFLOW, r.TEKTON_PIPELINE_RUN, r.CONFIG_MAP, r.SECRET, r.SERVICE_ACCOUNT,
            r.PERSISTENT_VOLUME_CLAIM, r.EXTERNAL_SECRET} == set(buildkinds.labelled())  # fmt: skip


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        pytest.param("v1", "ConfigMap", r.CONFIG_MAP, id="configmap"),
        pytest.param("external-secrets.io/v1", "ExternalSecret", r.EXTERNAL_SECRET.__class__(
            "external-secrets.io", "v1", "externalsecrets", "ExternalSecret"), id="externalsecret-v1"),
        pytest.param("external-secrets.io/v1beta1", "ExternalSecret", r.EXTERNAL_SECRET, id="externalsecret-v1beta1"),
        pytest.param("v1", "Pod", None, id="pod"),
        pytest.param("v1", "Namespace", None, id="namespace-is-a-prerequisite-not-an-extra"),
        pytest.param("rbac.authorization.k8s.io/v1", "RoleBinding", None, id="rolebinding"),
        pytest.param("v2", "ConfigMap", None, id="unknown-version"),
        pytest.param("argoproj.io/v1alpha1", "Workflow", None, id="the-run-kind-is-not-an-extra"),
    ],
)  # fmt: skip
def test_extra_kinds(api_version, kind, expected):
    assert expected == buildkinds.extra_kind(api_version, kind)


def workflow(resource_kind: str, run_kind: str = "Workflow") -> dict:
    return {
        "spec": {
            "runTemplate": {"apiVersion": "argoproj.io/v1alpha1", "kind": run_kind, "metadata": {"name": "x"}},
            "resources": [{"id": "r", "template": {"apiVersion": "v1", "kind": resource_kind,
                                                   "metadata": {"name": "${metadata.workflowRunName}"}}}],
        }
    }  # fmt: skip


@pytest.mark.parametrize(
    ("wf", "expected"),
    [
        pytest.param(workflow("ConfigMap"), [], id="configmap-allowed"),
        pytest.param(
            workflow("Pod"),
            [("resources[0].template.kind: v1 Pod is not a kind a Workflow may create in a build plane (allowed: "
              "external-secrets.io/v1beta1 ExternalSecret, v1 ConfigMap, v1 PersistentVolumeClaim, v1 Secret, "
              "v1 ServiceAccount)")],
            id="pod-refused",
        ),
        pytest.param(
            workflow("ConfigMap", run_kind="CronWorkflow"),
            [("runTemplate.kind: runTemplate must be a workflow engine's run object (argoproj.io/v1alpha1 "
              "Workflow, tekton.dev/v1 PipelineRun), not argoproj.io/v1alpha1 CronWorkflow")],
            id="run-kind-refused",
        ),
        pytest.param(workflow("${parameters.kind}"), [], id="dynamic-kind-checked-per-run"),
    ],
)  # fmt: skip
def test_the_renderer_refuses_kinds_outside_the_table(wf, expected):
    assert expected == [problem.message for problem in check_workflow(wf)]


def test_every_run_kind_has_its_engine_and_every_engine_reads_only_what_the_agent_serves():
    run_rows = {
        (row.resource.group, row.resource.kind): row.engine for row in buildkinds.KINDS if row.use == "run"
    }
    assert run_rows == {(e.run.group, e.run.kind): e.name for e in ENGINES}
    relayed = buildkinds.relayed()
    for engine in ENGINES:
        assert engine.watched[0] == engine.run
        for resource in engine.watched:  # tracking's informers list and watch them across build namespaces
            served = relayed[(resource.group, resource.plural, "")]
            assert ({"list", "watch"} <= served.verbs, True) == (True, served.across_namespaces), resource
