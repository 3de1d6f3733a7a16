"""Component governance on the real control plane: every refusal message of a component run, the success
path, and the Component's ``Ready`` condition written by ``ComponentReconciler`` from real informer caches."""

import asyncio
import uuid

import pytest
from waiting import async_wait_for

from choreo_controller.api import resources as r
from choreo_controller.contracts import ObjectKey, TerminalError
from choreo_controller.kube.config import connect  # imports kubernetes_asyncio at collection, not on the loop
from choreo_controller.reconcilers.component import (
    INDEXERS,
    ApiLookup,
    CachedLookup,
    ComponentCaches,
    ComponentGovernance,
    ComponentReconciler,
    ConfirmedLookup,
    check_run_governance,
    components_of_type,
    components_of_workflow,
)
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.store import Store

pytestmark = pytest.mark.cluster
API = "openchoreo.dev/v1alpha1"
SUFFIX = uuid.uuid4().hex[:6]
CLUSTER_WF = f"buildpacks-{SUFFIX}"
ALLOWED = f"allowed: Workflow/docker, ClusterWorkflow/{CLUSTER_WF}"


def component_type(name, allowed, workload_type="deployment", kind="ComponentType"):
    return {
        "apiVersion": API,
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"workloadType": workload_type, "allowedWorkflows": allowed},
    }


def component(name, component_type_ref, workflow=None, project="web"):
    spec = {"owner": {"projectName": project}, "componentType": component_type_ref}
    if workflow is not None:
        spec["workflow"] = workflow
    return {"apiVersion": API, "kind": "Component", "metadata": {"name": name}, "spec": spec}


def workflow(name, kind="Workflow"):
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "x"},
        "spec": {},
    }
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": {"runTemplate": template}}


DOCKER = {"name": "docker"}
BUILDPACKS = {"kind": "ClusterWorkflow", "name": CLUSTER_WF}
CLUSTER_TYPE = f"backend-{SUFFIX}"  # a ClusterComponentType, as OpenChoreo 1.x ships them
MODERN_TYPE = {"kind": "ClusterComponentType", "name": f"deployment/{CLUSTER_TYPE}"}
OBJECTS = [
    (r.COMPONENT_TYPE, component_type("service", [{"kind": "Workflow", "name": "docker"}, BUILDPACKS])),
    (r.COMPONENT_TYPE, component_type("kindless", [{"name": "docker"}, {"name": CLUSTER_WF}])),
    (r.COMPONENT, component("modern", MODERN_TYPE, {"name": CLUSTER_WF})),
    (r.COMPONENT, component("oc017", {"kind": "ComponentType", "name": "deployment/kindless"}, DOCKER)),
    (
        r.COMPONENT,
        component("nocluster", {"kind": "ClusterComponentType", "name": "deployment/nope"}, DOCKER),
    ),
    (r.COMPONENT_TYPE, component_type("locked", [])),
    (r.WORKFLOW, workflow("docker")),
    (r.WORKFLOW, workflow("other")),
    (r.COMPONENT, component("shop", "deployment/service", DOCKER)),
    (r.COMPONENT, component("orphan", "deployment/missing", DOCKER)),
    (r.COMPONENT, component("wrongkind", "statefulset/service", DOCKER)),
    (r.COMPONENT, component("frozen", "deployment/locked", DOCKER)),
    (r.COMPONENT, component("nowf", "deployment/service")),
    (r.COMPONENT, component("ghost", "deployment/service", BUILDPACKS)),
    (r.COMPONENT, component("rogue", "deployment/service", {"name": "other"})),
]


@pytest.fixture
async def api(control_plane):
    async with connect(control_plane.kubeconfig, qps=50, burst=100) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"gov-{uuid.uuid4().hex[:8]}"
    await api.create(r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    for resource, obj in OBJECTS:
        await api.create(resource, {**obj, "metadata": {**obj["metadata"], "namespace": name}})
    await api.create(
        r.CLUSTER_COMPONENT_TYPE,
        component_type(
            CLUSTER_TYPE, [{"kind": "ClusterWorkflow", "name": CLUSTER_WF}], kind="ClusterComponentType"
        ),
    )
    yield name
    await api.delete(r.CLUSTER_COMPONENT_TYPE, CLUSTER_TYPE)
    await api.delete(r.NAMESPACE, name)


def run(namespace, labels, workflow_ref):
    return {
        "apiVersion": API,
        "kind": "WorkflowRun",
        "metadata": {"generateName": "gov-", "namespace": namespace, "labels": labels},
        "spec": {"workflow": {**workflow_ref, "parameters": {}}},
    }


def both(component_name, project="web"):
    return {"openchoreo.dev/project": project, "openchoreo.dev/component": component_name}


@pytest.mark.parametrize(
    ("labels", "workflow_ref", "expected"),
    [
        pytest.param(both("shop"), DOCKER, None, id="allowed"),
        pytest.param({}, {"name": "anything"}, None, id="generic-run-not-governed"),
        pytest.param(
            {"openchoreo.dev/component": "shop"},
            DOCKER,
            "the run has label openchoreo.dev/component but not openchoreo.dev/project; a component run needs "
            "both (a generic run neither)",
            id="component-label-alone",
        ),
        pytest.param(
            {"openchoreo.dev/project": "web"},
            DOCKER,
            "the run has label openchoreo.dev/project but not openchoreo.dev/component; a component run needs "
            "both (a generic run neither)",
            id="project-label-alone",
        ),
        pytest.param(
            both("nope"), DOCKER, "Component 'nope' not found in namespace '{ns}'", id="no-component"
        ),
        pytest.param(
            both("shop", project="billing"),
            DOCKER,
            "Component 'shop' belongs to project 'web', not 'billing' (label openchoreo.dev/project)",
            id="other-project",
        ),
        pytest.param(
            both("orphan"),
            DOCKER,
            "ComponentType 'missing' (componentType 'deployment/missing' of Component 'orphan') not found in "
            "namespace '{ns}'",
            id="no-component-type",
        ),
        pytest.param(
            both("wrongkind"),
            DOCKER,
            "ComponentType 'service' has workloadType 'deployment', but Component 'wrongkind' declares "
            "'statefulset' (componentType 'statefulset/service')",
            id="workload-type-mismatch",
        ),
        pytest.param(
            both("shop"),
            {"name": "other"},
            f"Workflow/other is not allowed by ComponentType 'service'; {ALLOWED}",
            id="not-allowed",
        ),
        pytest.param(
            both("frozen"),
            DOCKER,
            "Workflow/docker is not allowed by ComponentType 'locked'; allowed: none (allowedWorkflows is empty)",
            id="empty-allowed-list-allows-none",
        ),
        pytest.param(
            both("shop"),
            BUILDPACKS,
            f"the run uses ClusterWorkflow/{CLUSTER_WF} but Component 'shop' is configured with Workflow/docker; "
            f"{ALLOWED}",
            id="allowed-but-not-the-components-workflow",
        ),
        pytest.param(
            both("nowf"),
            DOCKER,
            f"the run uses Workflow/docker but Component 'nowf' configures no workflow; {ALLOWED}",
            id="component-without-workflow",
        ),
        # OpenChoreo 1.x shapes: {kind, name} component types, ClusterComponentTypes, runs without a kind.
        pytest.param(
            both("modern"), {"name": CLUSTER_WF}, None, id="1.x-kindless-run-means-the-clusterworkflow"
        ),
        pytest.param(both("modern"), BUILDPACKS, None, id="1.x-explicit-clusterworkflow"),
        pytest.param(
            both("modern"),
            {"kind": "Workflow", "name": "docker"},
            f"Workflow/docker is not allowed by ComponentType '{CLUSTER_TYPE}'; allowed: ClusterWorkflow/{CLUSTER_WF}",
            id="1.x-clustercomponenttype-allows-clusterworkflows-only",
        ),
        pytest.param(
            both("oc017"), {"kind": "Workflow", "name": "docker"}, None, id="kindless-entry-is-the-workflow"
        ),
        pytest.param(
            both("oc017"),
            BUILDPACKS,
            f"the run uses ClusterWorkflow/{CLUSTER_WF} but Component 'oc017' is configured with Workflow/docker; "
            f"allowed: Workflow/docker, ClusterWorkflow/{CLUSTER_WF}",
            id="kindless-entries-resolve-by-what-exists",
        ),
        pytest.param(
            both("nocluster"),
            DOCKER,
            "ClusterComponentType 'nope' (componentType ClusterComponentType 'deployment/nope' of Component "
            "'nocluster') not found",
            id="no-clustercomponenttype",
        ),
    ],
)
async def test_run_governance(api, namespace, labels, workflow_ref, expected):
    created = await api.create(r.WORKFLOW_RUN, run(namespace, labels, workflow_ref))
    governance = ComponentGovernance(ApiLookup(api))
    if expected is None:
        await governance.check(created, workflow("docker"))
        return
    with pytest.raises(TerminalError) as refused:
        await governance.check(created, workflow("docker"))
    assert ("ComponentValidationFailed", expected.format(ns=namespace)) == (
        refused.value.reason,
        refused.value.message,
    )


# ---- ComponentReconciler ------------------------------------------------------------------------------
@pytest.fixture
async def caches(api, namespace):
    clock = RealClock()
    informers = {
        "components": Informer(api, r.COMPONENT, clock=clock, namespace=namespace, indexers=dict(INDEXERS)),
        "component_types": Informer(api, r.COMPONENT_TYPE, clock=clock, namespace=namespace),
        "cluster_component_types": Informer(api, r.CLUSTER_COMPONENT_TYPE, clock=clock),
        "workflows": Informer(api, r.WORKFLOW, clock=clock, namespace=namespace),
        "cluster_workflows": Informer(api, r.CLUSTER_WORKFLOW, clock=clock),
    }
    tasks = [asyncio.create_task(i.run(), name=f"informer-{n}") for n, i in informers.items()]
    try:
        await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in informers.values())), 30)
        yield ComponentCaches(**{n: i.store for n, i in informers.items()}), informers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def ready_of(api, namespace, name):
    obj = await api.get(r.COMPONENT, name, namespace)
    conds = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    ready = conds.get("Ready")
    return (ready["status"], ready["reason"], ready["message"]) if ready else None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "shop",
            ("True", "Valid", "Workflow/docker is allowed by the ComponentType and exists"),
            id="valid",
        ),
        pytest.param("nowf", ("True", "Valid", "no workflow configured; nothing to build"), id="no-workflow"),
        pytest.param(
            "oc017",
            ("True", "Valid", "Workflow/docker is allowed by the ComponentType and exists"),
            id="kindless-refs",
        ),
        pytest.param(
            "modern",
            ("False", "WorkflowNotFound", f"ClusterWorkflow/{CLUSTER_WF} not found; builds cannot start"),
            id="clustercomponenttype-kindless-workflow-missing",
        ),
        pytest.param(
            "rogue",
            (
                "False",
                "WorkflowNotAllowed",
                f"Workflow/other is not allowed by ComponentType 'service'; {ALLOWED}",
            ),
            id="not-allowed",
        ),
        pytest.param(
            "frozen",
            (
                "False",
                "WorkflowNotAllowed",
                "Workflow/docker is not allowed by ComponentType 'locked'; allowed: none (allowedWorkflows is empty)",
            ),
            id="empty-allowed-list",
        ),
        pytest.param(
            "ghost",
            ("False", "WorkflowNotFound", f"ClusterWorkflow/{CLUSTER_WF} not found; builds cannot start"),
            id="workflow-missing",
        ),
        pytest.param(
            "orphan",
            (
                "False",
                "ComponentTypeNotFound",
                (
                    "ComponentType 'missing' (componentType 'deployment/missing' of Component 'orphan') not found "
                    "in namespace '{ns}'"
                ),
            ),
            id="type-missing",
        ),
        pytest.param(
            "wrongkind",
            (
                "False",
                "InvalidComponentType",
                (
                    "ComponentType 'service' has workloadType 'deployment', but Component 'wrongkind' declares "
                    "'statefulset' (componentType 'statefulset/service')"
                ),
            ),
            id="workload-type-mismatch",
        ),
    ],
)
async def test_component_ready(api, namespace, caches, name, expected):
    stores, _ = caches
    reconciler = ComponentReconciler(api, stores, RealClock())
    await reconciler.reconcile(ObjectKey(namespace, name))
    status, reason, message = expected
    assert (status, reason, message.format(ns=namespace)) == await ready_of(api, namespace, name)


async def test_component_ready_is_written_only_on_change(api, namespace, caches):
    stores, _ = caches
    reconciler = ComponentReconciler(api, stores, RealClock())
    key = ObjectKey(namespace, "shop")
    await reconciler.reconcile(key)
    written = await api.get(r.COMPONENT, "shop", namespace)
    await async_wait_for(
        "the cache to see the status write",
        lambda: _cached_rv(stores, key, written["metadata"]["resourceVersion"]),
        within=10,
    )
    await reconciler.reconcile(key)
    assert (
        written["metadata"]["resourceVersion"]
        == (await api.get(r.COMPONENT, "shop", namespace))["metadata"]["resourceVersion"]
    )


async def _cached_rv(stores, key, rv):
    cached = stores.components.get(key)
    return cached is not None and cached["metadata"]["resourceVersion"] == rv


async def test_events_on_other_kinds_map_to_the_components_that_use_them(api, namespace, caches):
    stores, informers = caches
    keys = []
    collect = EventHandler(on_add=lambda obj: keys.extend(mapper(obj)))
    mapper = components_of_workflow(stores.components, "ClusterWorkflow")
    informers["cluster_workflows"].add_handler(collect)
    await api.create(r.CLUSTER_WORKFLOW, workflow(CLUSTER_WF, kind="ClusterWorkflow"))
    try:
        await async_wait_for("the ClusterWorkflow event", _has(keys, 2), within=10)
        # "modern" names it without a kind: a ClusterWorkflow appearing can change what it means.
        assert {ObjectKey(namespace, "ghost"), ObjectKey(namespace, "modern")} == set(keys)
        await async_wait_for(
            "the ClusterWorkflow in the cache",
            _cached(stores.cluster_workflows, ObjectKey("", CLUSTER_WF)),
            within=10,
        )
        await ComponentReconciler(api, stores, RealClock()).reconcile(ObjectKey(namespace, "ghost"))
        assert "True" == (await ready_of(api, namespace, "ghost"))[0]
    finally:
        await api.delete(r.CLUSTER_WORKFLOW, CLUSTER_WF)
    of_service = components_of_type(stores.components)(
        {"metadata": {"namespace": namespace, "name": "service"}}
    )
    assert {"shop", "wrongkind", "nowf", "ghost", "rogue"} == {k.name for k in of_service}
    of_cluster_type = components_of_type(stores.components, cluster=True)(
        {"metadata": {"name": CLUSTER_TYPE}}
    )
    assert [ObjectKey(namespace, "modern")] == of_cluster_type


def _has(items, count):
    async def probe():
        return len(items) >= count

    return probe


def _cached(store, key):
    async def probe():
        return store.get(key) is not None

    return probe


async def test_cached_lookup_agrees_with_the_api(api, namespace, caches):
    stores, _ = caches
    labelled = run(namespace, both("frozen"), DOCKER)
    labelled["metadata"]["name"] = "x"
    outcomes = []
    cached = CachedLookup(
        stores.components, stores.component_types, stores.cluster_component_types, stores.workflows
    )
    for lookup in (ApiLookup(api), cached):
        with pytest.raises(TerminalError) as refused:
            await check_run_governance(labelled, lookup)
        outcomes.append(refused.value.message)
    assert outcomes[0] == outcomes[1]


async def test_a_refusal_never_rests_on_a_cache_that_lags(api, namespace):
    """A Component the controller's caches have not seen yet (created a moment before its first push) is
    read live before the run is refused: refusals are terminal."""
    behind = CachedLookup(Store(), Store(), Store(), Store())  # synced before anything was created
    labelled = run(namespace, both("shop"), DOCKER)
    with pytest.raises(TerminalError) as refused:
        await check_run_governance(labelled, behind)
    assert f"Component 'shop' not found in namespace {namespace!r}" == refused.value.message
    await check_run_governance(labelled, ConfirmedLookup(behind, ApiLookup(api)))
    with pytest.raises(TerminalError) as refused:
        await check_run_governance(
            run(namespace, both("nobody"), DOCKER), ConfirmedLookup(behind, ApiLookup(api))
        )
    assert f"Component 'nobody' not found in namespace {namespace!r}" == refused.value.message
