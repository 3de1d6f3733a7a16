"""Our CRDs on a real kube-apiserver: valid objects are accepted (with defaults), invalid ones are rejected
with the schema's message, WorkflowRun.spec.workflow is immutable, and the printer columns read status."""

import asyncio
import copy
import uuid

import pytest

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.api.resources import API_VERSION
from choreo_controller.contracts import Invalid

pytestmark = pytest.mark.cluster

RUN_TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "${metadata.workflowRunName}", "namespace": "${metadata.namespace}"},
    "spec": {
        "entrypoint": "pipeline",
        "arguments": {"parameters": [{"name": "git-repo", "value": "${parameters.repository.url}"}]},
        "templates": [
            {
                "name": "pipeline",
                "steps": [
                    [
                        {
                            "name": "checkout",
                            "templateRef": {
                                "name": "checkout-source",
                                "template": "checkout",
                                "clusterScope": True,
                            },
                        }
                    ]
                ],
            }
        ],
    },
}
WORKFLOW_SPEC = {
    "schema": {
        "types": {"Revision": {"branch": "string | default=main", "commit": 'string | default=""'}},
        "parameters": {
            "repository": {"url": "string", "revision": "Revision", "secretRef": 'string | default=""'}
        },
    },
    "runTemplate": RUN_TEMPLATE,
    "resources": [
        {
            "id": "git-secret",
            "includeWhen": "${parameters.repository.secretRef != ''}",
            "template": {
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": "${metadata.workflowRunName}-git"},
            },
        }
    ],
    "externalRefs": [
        {
            "id": "git-secret-ref",
            "apiVersion": API_VERSION,
            "kind": "SecretReference",
            "name": "${parameters.repository.secretRef}",
        }
    ],
    "ttlAfterCompletion": "1d12h30m15s",
    "buildPlaneRef": {"name": "default"},
}
CLIENT_CA = {
    "clusterAgent": {"clientCA": {"value": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}
}

# kind -> (resource, spec of a valid object)
VALID = {
    "Workflow": (resources.WORKFLOW, WORKFLOW_SPEC),
    "ClusterWorkflow": (
        resources.CLUSTER_WORKFLOW,
        {**WORKFLOW_SPEC, "buildPlaneRef": {"kind": "ClusterBuildPlane", "name": "shared"}},
    ),
    "WorkflowRun": (
        resources.WORKFLOW_RUN,
        {
            "workflow": {
                "name": "docker",
                "parameters": {
                    "repository": {"url": "https://github.com/acme/app", "revision": {"branch": "main"}},
                    "replicas": 3,
                },
            }
        },
    ),
    "BuildPlane": (
        resources.BUILD_PLANE,
        {"planeID": "shared-plane", **CLIENT_CA, "secretStoreRef": {"name": "vault"}},
    ),
    "ClusterBuildPlane": (
        resources.CLUSTER_BUILD_PLANE,
        {
            "clusterAgent": {
                "clientCA": {
                    "secretRef": {"name": "agent-ca", "namespace": "openchoreo-system", "key": "ca.crt"}
                }
            }
        },
    ),
    "SecretReference": (
        resources.SECRET_REFERENCE,
        {
            "template": {"type": "kubernetes.io/basic-auth"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "git/github", "property": "token"}}],
        },
    ),
    "Component": (
        resources.COMPONENT,
        {
            "owner": {"projectName": "shop"},
            "componentType": "deployment/service",
            "workflow": {
                "name": "docker",
                "parameters": {"repository": {"url": "https://github.com/acme/app"}},
            },
            "autoBuild": True,
            "endpoints": {"http": {"port": 8080}},
        },
    ),
    "ComponentType": (
        resources.COMPONENT_TYPE,
        {
            "workloadType": "deployment",
            "allowedWorkflows": [{"name": "docker"}, {"kind": "ClusterWorkflow", "name": "buildpacks"}],
            "schema": {"x": 1},
        },
    ),
    "Workload": (
        resources.WORKLOAD,
        {"owner": {"projectName": "shop", "componentName": "cart"}, "containers": {"main": {"image": "x:1"}}},
    ),
}

# (kind, path in spec -> expected value after the apiserver applied defaults)
DEFAULTS = {
    "Workflow": {("buildPlaneRef", "kind"): "BuildPlane", ("ttlAfterCompletion",): "1d12h30m15s"},
    "ClusterWorkflow": {("buildPlaneRef", "kind"): "ClusterBuildPlane"},
    "WorkflowRun": {("workflow", "kind"): "Workflow", ("workflow", "parameters", "replicas"): 3},
    "BuildPlane": {("planeID",): "shared-plane"},
    "ClusterBuildPlane": {("clusterAgent", "clientCA", "secretRef", "key"): "ca.crt"},
    "SecretReference": {("refreshInterval",): "1h", ("template", "type"): "kubernetes.io/basic-auth"},
    "Component": {("workflow", "kind"): "Workflow", ("endpoints", "http", "port"): 8080},
    "ComponentType": {("allowedWorkflows", 0, "kind"): "Workflow", ("schema", "x"): 1},
    "Workload": {("containers", "main", "image"): "x:1"},
}

DELETE = object()


def merged(base, changes):
    """Deep-merge ``changes`` into a copy of ``base``; ``DELETE`` removes a key."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DELETE:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build(kind, namespace, spec, name=None):
    res, _ = VALID[kind]
    metadata = {"name": name or f"{kind.lower()}-{namespace}"}
    if res.namespaced:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def dig(obj, path):
    for step in path:
        obj = obj[step]
    return obj


@pytest.fixture
async def api(control_plane):
    async with kube.connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"crds-{uuid.uuid4().hex[:8]}"
    await api.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    await api.delete(resources.NAMESPACE, name)


async def create_and_cleanup(api, kind, obj):
    res, _ = VALID[kind]
    created = await api.create(res, obj)
    if not res.namespaced:  # the namespace's deletion takes namespaced objects with it
        await api.delete(res, obj["metadata"]["name"])
    return created


@pytest.mark.parametrize("kind", list(VALID))
async def test_valid_object_is_accepted_with_defaults(api, namespace, kind):
    _, spec = VALID[kind]
    created = await create_and_cleanup(api, kind, build(kind, namespace, spec))
    expected = DEFAULTS[kind]
    assert expected == {path: dig(created["spec"], path) for path in expected}


INVALID = [
    pytest.param(
        "Workflow",
        {"ttlAfterCompletion": "7 days"},
        ['spec.ttlAfterCompletion: Invalid value: "7 days"', "should match"],
        id="workflow-ttl",
    ),
    pytest.param(
        "Workflow",
        {"runTemplate": DELETE},
        ["spec.runTemplate: Required value"],
        id="workflow-no-runtemplate",
    ),
    pytest.param(
        "Workflow",
        {"resources": [{"id": "a", "template": {}}, {"id": "a", "template": {}}]},
        ["spec.resources[1]: Duplicate value"],
        id="workflow-duplicate-resource-id",
    ),
    pytest.param(
        "Workflow",
        {"resources": [{"id": "a", "includeWhen": "true", "template": {}}]},
        ["spec.resources[0].includeWhen", "should match"],
        id="workflow-includewhen-not-cel",
    ),
    pytest.param(
        "Workflow",
        {"parameters": {"openAPIV3Schema": {"type": "object"}}},
        ["spec.schema (shorthand) and spec.parameters.openAPIV3Schema are alternatives"],
        id="workflow-two-schemas",
    ),
    pytest.param(
        "Workflow",
        {"externalRefs": [{"id": "x", "apiVersion": "v1", "kind": "Secret", "name": "s"}]},
        ['spec.externalRefs[0].kind: Unsupported value: "Secret"'],
        id="workflow-externalref-kind",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"buildPlaneRef": {"kind": "DataPlane", "name": "x"}},
        ['spec.buildPlaneRef.kind: Unsupported value: "DataPlane"'],
        id="clusterworkflow-plane-kind",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"ttlAfterCompletion": "1h30"},
        ['spec.ttlAfterCompletion: Invalid value: "1h30"'],
        id="clusterworkflow-ttl",
    ),
    pytest.param(
        "WorkflowRun",
        {"workflow": {"kind": "Pipeline"}},
        ['spec.workflow.kind: Unsupported value: "Pipeline"'],
        id="run-workflow-kind",
    ),
    pytest.param(
        "WorkflowRun",
        {"workflow": {"name": DELETE}},
        ["spec.workflow.name: Required value"],
        id="run-no-workflow-name",
    ),
    pytest.param(
        "WorkflowRun",
        {"ttlAfterCompletion": "1w"},
        ['spec.ttlAfterCompletion: Invalid value: "1w"'],
        id="run-ttl",
    ),
    pytest.param(
        "BuildPlane",
        {"clusterAgent": {"clientCA": {"secretRef": {"name": "ca", "key": "ca.crt"}}}},
        ["clientCA needs exactly one of value or secretRef"],
        id="plane-two-cas",
    ),
    pytest.param(
        "BuildPlane",
        {"planeID": "Shared_Plane"},
        ['spec.planeID: Invalid value: "Shared_Plane"'],
        id="plane-id",
    ),
    pytest.param(
        "ClusterBuildPlane",
        {"clusterAgent": {"clientCA": {"secretRef": {"namespace": DELETE}}}},
        ["spec.clusterAgent.clientCA.secretRef.namespace: Required value"],
        id="clusterplane-secret-namespace",
    ),
    pytest.param(
        "SecretReference",
        {"data": []},
        ["spec.data: Invalid value", "at least 1 items"],
        id="secretref-no-data",
    ),
    pytest.param(
        "SecretReference",
        {"template": {"type": "Fancy"}},
        ['spec.template.type: Unsupported value: "Fancy"'],
        id="secretref-type",
    ),
    pytest.param(
        "Component",
        {"componentType": "service"},
        ['spec.componentType: Invalid value: "service"'],
        id="component-type-format",
    ),
    pytest.param(
        "Component",
        {"workflow": {"kind": "Task"}},
        ['spec.workflow.kind: Unsupported value: "Task"'],
        id="component-workflow-kind",
    ),
    pytest.param(
        "ComponentType",
        {"allowedWorkflows": [{"name": "docker"}, {"kind": "Workflow", "name": "docker"}]},
        ["spec.allowedWorkflows[1]: Duplicate value"],
        id="componenttype-duplicate",
    ),
    pytest.param(
        "ComponentType",
        {"allowedWorkflows": [{"kind": "Job", "name": "x"}]},
        ['spec.allowedWorkflows[0].kind: Unsupported value: "Job"'],
        id="componenttype-kind",
    ),
    pytest.param(
        "Workload",
        {"owner": {"componentName": DELETE}},
        ["spec.owner.componentName: Required value"],
        id="workload-owner",
    ),
]


@pytest.mark.parametrize(("kind", "changes", "expected_fragments"), INVALID)
async def test_invalid_object_is_rejected_with_schema_message(
    api, namespace, kind, changes, expected_fragments
):
    _, spec = VALID[kind]
    with pytest.raises(Invalid) as caught:
        await create_and_cleanup(api, kind, build(kind, namespace, merged(spec, changes)))
    message = caught.value.message
    assert [] == [f for f in expected_fragments if f not in message], message


async def test_workflowrun_name_fits_a_label_value(api, namespace):
    _, spec = VALID["WorkflowRun"]
    with pytest.raises(Invalid, match="a WorkflowRun name is at most 63 characters"):
        await api.create(resources.WORKFLOW_RUN, build("WorkflowRun", namespace, spec, name="r" * 64))


RUN_UPDATES = [
    pytest.param(
        {"spec": {"workflow": {"name": "other"}}}, None, "spec.workflow is immutable", id="workflow-name"
    ),
    pytest.param(
        {"spec": {"workflow": {"kind": "ClusterWorkflow"}}},
        None,
        "spec.workflow is immutable",
        id="workflow-kind",
    ),
    pytest.param(
        {"spec": {"workflow": {"parameters": {"replicas": 4}}}},
        None,
        "spec.workflow is immutable",
        id="parameters",
    ),
    pytest.param(
        {"status": {"tasks": [{"name": "build", "phase": "Done"}]}},
        "status",
        'status.tasks[0].phase: Unsupported value: "Done"',
        id="task-phase",
    ),
    pytest.param(
        {
            "status": {
                "conditions": [
                    {
                        "type": "WorkflowCompleted",
                        "status": "Maybe",
                        "reason": "X",
                        "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ]
            }
        },
        "status",
        'status.conditions[0].status: Unsupported value: "Maybe"',
        id="condition-status",
    ),
]


@pytest.mark.parametrize(("patch", "subresource", "expected_fragment"), RUN_UPDATES)
async def test_workflowrun_update_rejected(api, namespace, patch, subresource, expected_fragment):
    _, spec = VALID["WorkflowRun"]
    run = await api.create(resources.WORKFLOW_RUN, build("WorkflowRun", namespace, spec, name="run"))
    with pytest.raises(Invalid) as caught:
        await api.merge_patch(
            resources.WORKFLOW_RUN, "run", patch, namespace=namespace, subresource=subresource
        )
    assert expected_fragment in caught.value.message
    assert run["spec"] == (await api.get(resources.WORKFLOW_RUN, "run", namespace))["spec"]


async def test_workflowrun_allowed_updates_and_status_subresource(api, namespace, control_plane):
    _, spec = VALID["WorkflowRun"]
    await api.create(resources.WORKFLOW_RUN, build("WorkflowRun", namespace, spec, name="run"))
    # The controller copies the Workflow's TTL into an empty one, so the field stays mutable.
    await api.merge_patch(
        resources.WORKFLOW_RUN, "run", {"spec": {"ttlAfterCompletion": "7d"}}, namespace=namespace
    )
    # Status through the main resource is ignored; through /status it is stored (unknown fields kept).
    condition = {
        "type": "WorkflowCompleted",
        "status": "True",
        "reason": "WorkflowSucceeded",
        "message": "done",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    ignored = await api.merge_patch(
        resources.WORKFLOW_RUN, "run", {"status": {"conditions": [condition]}}, namespace=namespace
    )
    stored = await api.merge_patch(
        resources.WORKFLOW_RUN,
        "run",
        {"status": {"conditions": [condition], "argoPhase": "Succeeded"}},
        namespace=namespace,
        subresource="status",
    )
    assert "status" not in ignored
    assert ("7d", "WorkflowSucceeded", "Succeeded") == (
        stored["spec"]["ttlAfterCompletion"],
        stored["status"]["conditions"][0]["reason"],
        stored["status"]["argoPhase"],
    )
    table = await asyncio.to_thread(
        control_plane.kubectl, "get", "wfr", "run", "-n", namespace, "--no-headers", "-o", "wide"
    )
    assert ["run", "docker", "Workflow", "WorkflowSucceeded"] == table.stdout.split()[:4]


async def test_short_names_and_category(control_plane):
    result = await asyncio.to_thread(
        control_plane.kubectl, "api-resources", "--api-group=openchoreo.dev", "--no-headers"
    )
    short_names = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert {
        "workflows": "ocwf",
        "clusterworkflows": "occwf",
        "workflowruns": "wfr",
        "buildplanes": "bp",
        "clusterbuildplanes": "cbp",
        "secretreferences": "secref",
        "components": "comp",
        "componenttypes": "ct",
        "workloads": "wl",
    } == short_names
