"""``api.planes``: one model for the four plane kinds - namespaces, identities, reasons, resolution order."""

import pytest

from choreo_controller.api import planes

NS, CLUSTER = True, False
ALL = {
    ("BuildPlane", "default"),
    ("WorkflowPlane", "default"),
    ("ClusterBuildPlane", "default"),
    ("ClusterWorkflowPlane", "default"),
    ("WorkflowPlane", "team"),
    ("ClusterWorkflowPlane", "shared"),
}


def lookup_in(existing):
    return lambda kind, name: {"metadata": {"name": name}} if (kind.kind, name) in existing else None


@pytest.mark.parametrize(
    ("kind", "namespace", "identity", "not_found"),
    [
        ("BuildPlane", "openchoreo-ci-team", "buildplane", "BuildPlaneNotFound"),
        ("ClusterBuildPlane", "openchoreo-ci-team", "buildplane", "BuildPlaneNotFound"),
        ("WorkflowPlane", "workflows-team", "workflowplane", "WorkflowPlaneNotFound"),
        ("ClusterWorkflowPlane", "workflows-team", "workflowplane", "WorkflowPlaneNotFound"),
        ("", "openchoreo-ci-team", "buildplane", "BuildPlaneNotFound"),  # direct mode records no kind
    ],
)
def test_generation_decides_namespace_identity_and_reasons(kind, namespace, identity, not_found):
    generation = planes.generation_of(kind)
    assert (namespace, identity, not_found) == (
        planes.build_namespace(kind, "team"),
        generation.identity,
        generation.not_found,
    )


@pytest.mark.parametrize(
    ("spec", "cluster_workflow", "existing", "expected"),
    [
        pytest.param({}, False, ALL, "BuildPlane/default", id="refless-0.17-kind-first-in-namespace"),
        pytest.param(
            {},
            False,
            ALL - {("BuildPlane", "default")},
            "WorkflowPlane/default",
            id="refless-then-1.x-in-namespace",
        ),
        pytest.param(
            {},
            False,
            {("ClusterBuildPlane", "default"), ("ClusterWorkflowPlane", "default")},
            "ClusterBuildPlane/default",
            id="refless-then-cluster-0.17",
        ),
        pytest.param(
            {},
            False,
            {("ClusterWorkflowPlane", "default")},
            "ClusterWorkflowPlane/default",
            id="refless-last",
        ),
        pytest.param({}, True, ALL, "ClusterBuildPlane/default", id="clusterworkflow-refless-cluster-only"),
        pytest.param(
            {},
            True,
            {("BuildPlane", "default"), ("ClusterWorkflowPlane", "default")},
            "ClusterWorkflowPlane/default",
            id="clusterworkflow-never-namespaced",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "WorkflowPlane", "name": "team"}},
            False,
            ALL,
            "WorkflowPlane/team",
            id="1.x-ref",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": "shared"}},
            True,
            ALL,
            "ClusterWorkflowPlane/shared",
            id="1.x-cluster-ref",
        ),
        pytest.param(
            {"buildPlaneRef": {"name": "default"}},
            False,
            ALL,
            "BuildPlane/default",
            id="0.17-ref-kind-defaulted",
        ),
        pytest.param(
            {"buildPlaneRef": {"name": "default"}},
            True,
            ALL,
            "ClusterBuildPlane/default",
            id="0.17-cluster-ref-defaulted",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "WorkflowPlane", "name": "missing"}},
            False,
            ALL,
            None,
            id="ref-missing",
        ),
    ],
)
def test_resolution_order(spec, cluster_workflow, existing, expected):
    _, _, found = planes.resolve(
        {"spec": spec}, cluster_workflow=cluster_workflow, lookup=lookup_in(existing)
    )
    assert expected == (f"{found[0].kind.kind}/{found[0].name}" if found else None)


@pytest.mark.parametrize(
    ("spec", "cluster_workflow", "generation", "tried"),
    [
        pytest.param(
            {},
            False,
            "0.17",
            [
                "BuildPlane 'default' in namespace 'ns'",
                "WorkflowPlane 'default' in namespace 'ns'",
                "ClusterBuildPlane 'default'",
                "ClusterWorkflowPlane 'default'",
            ],
            id="refless",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": "x"}},
            False,
            "1.x",
            ["ClusterWorkflowPlane 'x'"],
            id="1.x-ref-reports-1.x-reasons",
        ),
    ],
)
def test_a_miss_names_every_candidate_and_its_generation(spec, cluster_workflow, generation, tried):
    found_generation, candidates, found = planes.resolve(
        {"spec": spec}, cluster_workflow=cluster_workflow, lookup=lookup_in(set())
    )
    assert (generation, tried, None) == (found_generation.name, [c.describe("ns") for c in candidates], found)


@pytest.mark.parametrize(
    ("spec", "cluster_workflow", "message"),
    [
        pytest.param(
            {"buildPlaneRef": {"name": "a"}, "workflowPlaneRef": {"kind": "WorkflowPlane", "name": "a"}},
            False,
            "buildPlaneRef and workflowPlaneRef are both set",
            id="both",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "BuildPlane", "name": "a"}},
            False,
            "workflowPlaneRef.kind 'BuildPlane' is not a plane kind it allows",
            id="other-generation",
        ),
        pytest.param(
            {"workflowPlaneRef": {"kind": "WorkflowPlane", "name": "a"}},
            True,
            "a ClusterWorkflow cannot use a namespaced WorkflowPlane",
            id="cluster-workflow-namespaced-plane",
        ),
    ],
)
def test_unusable_refs(spec, cluster_workflow, message):
    with pytest.raises(planes.PlaneRefError, match=message):
        planes.candidates({"spec": spec}, cluster_workflow=cluster_workflow)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"spec": {"secretStoreRef": {"name": "vault"}}}, "vault"),
        ({"spec": {}}, ""),
        ({"spec": None}, ""),
        (None, ""),
    ],
)
def test_secret_store_is_empty_when_unset(obj, expected):
    assert expected == planes.secret_store(obj)


def test_plane_id_defaults_to_the_name():
    assert ("p1", "default") == (
        planes.plane_id({"metadata": {"name": "default"}, "spec": {"planeID": "p1"}}),
        planes.plane_id({"metadata": {"name": "default"}, "spec": {}}),
    )
