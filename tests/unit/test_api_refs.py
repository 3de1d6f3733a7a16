"""``api.refs``: workflow references without a kind, and both shapes of ``Component.spec.componentType``."""

import pytest

from choreo_controller.api.refs import ComponentTypeRef, WorkflowRef, component_type_ref, workflow_ref


@pytest.mark.parametrize(
    ("written", "namespaced", "cluster_only", "expected"),
    [
        pytest.param(
            {"kind": "Workflow", "name": "a"}, set(), False, ("Workflow", "a"), id="kind-kept-workflow"
        ),
        pytest.param(
            {"kind": "ClusterWorkflow", "name": "a"},
            {"a"},
            False,
            ("ClusterWorkflow", "a"),
            id="kind-kept-cluster",
        ),
        pytest.param({"name": "a"}, {"a"}, False, ("Workflow", "a"), id="no-kind-namespaced-exists"),
        pytest.param({"name": "a"}, set(), False, ("ClusterWorkflow", "a"), id="no-kind-else-cluster"),
        pytest.param(
            {"name": "a"}, {"a"}, True, ("ClusterWorkflow", "a"), id="no-kind-cluster-scoped-holder"
        ),
    ],
)
def test_workflow_ref_kind_resolution(written, namespaced, cluster_only, expected):
    ref = workflow_ref(written)
    assert ref is not None
    resolved = ref.resolved(namespaced.__contains__, cluster_only=cluster_only)
    assert WorkflowRef(*expected) == resolved


@pytest.mark.parametrize("value", [None, {}, {"kind": "Workflow"}, "docker", {"name": ""}])
def test_workflow_ref_needs_a_name(value):
    assert workflow_ref(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "deployment/service", ComponentTypeRef("ComponentType", "deployment", "service"), id="string-0.1x"
        ),
        pytest.param(
            {"kind": "ComponentType", "name": "deployment/service"},
            ComponentTypeRef("ComponentType", "deployment", "service"),
            id="object-0.17",
        ),
        pytest.param(
            {"name": "cronjob/nightly"},
            ComponentTypeRef("ComponentType", "cronjob", "nightly"),
            id="object-no-kind",
        ),
        pytest.param(
            {"kind": "ClusterComponentType", "name": "deployment/web-application"},
            ComponentTypeRef("ClusterComponentType", "deployment", "web-application"),
            id="object-1.x-cluster",
        ),
        pytest.param("service", None, id="no-workload-type"),
        pytest.param("a/b/c", None, id="two-slashes"),
        pytest.param({"kind": "Trait", "name": "deployment/x"}, None, id="unknown-kind"),
        pytest.param(3, None, id="number"),
        pytest.param({"kind": "ComponentType"}, None, id="no-name"),
    ],
)
def test_component_type_ref_both_shapes(value, expected):
    assert expected == component_type_ref({"spec": {"componentType": value}})
