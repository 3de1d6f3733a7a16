"""Our CRDs on a real kube-apiserver: valid objects are accepted (with defaults), invalid ones are rejected
with the schema's message, WorkflowRun.spec.workflow is immutable, and the printer columns read status."""

import asyncio
import copy
import json
import uuid
from pathlib import Path

import pytest
import yaml

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
    "concurrency": {"group": "${parameters.repository.url}", "policy": "CancelInProgress"},
    "results": [
        {
            "name": "image",
            "description": "pushed",
            "valueFrom": {"taskResult": {"task": "publish", "result": "image"}},
        },
        {"name": "commit", "valueFrom": {"taskResult": {"task": "checkout", "result": "git-revision"}}},
    ],
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
    "WorkflowPlane": (
        resources.WORKFLOW_PLANE,
        {
            "planeID": "shared-plane",
            "clusterAgent": {"clientCA": {"secretKeyRef": {"name": "agent-ca", "key": "ca.crt"}}},
            "secretStoreRef": {"name": "vault"},
            "observabilityPlaneRef": {"kind": "ObservabilityPlane", "name": "default"},
        },
    ),
    "ClusterWorkflowPlane": (
        resources.CLUSTER_WORKFLOW_PLANE,
        {
            **CLIENT_CA,
            "observabilityPlaneRef": {"kind": "ClusterObservabilityPlane", "name": "default"},
        },
    ),
    "SecretReference": (
        resources.SECRET_REFERENCE,
        {
            "template": {"type": "kubernetes.io/basic-auth"},
            "data": [{"secretKey": "password", "remoteRef": {"key": "git/github", "property": "token"}}],
            "targetPlane": {"kind": "WorkflowPlane", "name": "default"},
        },
    ),
    "Component": (
        resources.COMPONENT,
        {
            "owner": {"projectName": "shop"},
            "componentType": {"kind": "ClusterComponentType", "name": "deployment/service"},
            "workflow": {
                "name": "docker",
                "parameters": {"repository": {"url": "https://github.com/acme/app"}},
                "concurrency": {"policy": "Allow"},
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
    "ClusterComponentType": (
        resources.CLUSTER_COMPONENT_TYPE,
        {"workloadType": "deployment", "allowedWorkflows": [{"kind": "ClusterWorkflow", "name": "docker"}]},
    ),
    "Workload": (
        resources.WORKLOAD,
        {"owner": {"projectName": "shop", "componentName": "cart"}, "containers": {"main": {"image": "x:1"}}},
    ),
}

# (kind, path in spec -> expected value after the apiserver applied defaults)
DEFAULTS = {
    "Workflow": {
        ("buildPlaneRef", "kind"): "BuildPlane",
        ("ttlAfterCompletion",): "1d12h30m15s",
        ("concurrency",): WORKFLOW_SPEC["concurrency"],
        ("results",): WORKFLOW_SPEC["results"],
    },
    "ClusterWorkflow": {("buildPlaneRef", "kind"): "ClusterBuildPlane"},
    # No default kind: a run without one resolves a Workflow, else a ClusterWorkflow, at run time.
    "WorkflowRun": {("workflow",): VALID["WorkflowRun"][1]["workflow"]},
    "BuildPlane": {("planeID",): "shared-plane"},
    "ClusterBuildPlane": {("clusterAgent", "clientCA", "secretRef", "key"): "ca.crt"},
    "WorkflowPlane": {("clusterAgent", "clientCA", "secretKeyRef", "key"): "ca.crt"},
    "ClusterWorkflowPlane": {("observabilityPlaneRef", "kind"): "ClusterObservabilityPlane"},
    "SecretReference": {
        ("refreshInterval",): "1h",
        ("template", "type"): "kubernetes.io/basic-auth",
        ("targetPlane", "kind"): "WorkflowPlane",
    },
    "Component": {
        ("workflow",): VALID["Component"][1]["workflow"],
        ("componentType",): {"kind": "ClusterComponentType", "name": "deployment/service"},
    },
    "ComponentType": {("allowedWorkflows", 0): {"name": "docker"}, ("schema", "x"): 1},
    "ClusterComponentType": {("allowedWorkflows", 0, "kind"): "ClusterWorkflow"},
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
        "Workflow",
        {"concurrency": {"group": DELETE}},
        ["spec.concurrency.group: Required value"],
        id="workflow-concurrency-no-group",
    ),
    pytest.param(
        "Workflow",
        {"results": [{"name": "image", "valueFrom": {"taskResult": {"task": "a", "result": "b"}}}] * 2},
        ['spec.results[1]: Duplicate value: {"name":"image"}'],
        id="workflow-results-duplicate",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"results": [{"name": "image", "valueFrom": {"taskResult": {"task": "a"}}}]},
        ["spec.results[0].valueFrom.taskResult.result: Required value"],
        id="clusterworkflow-result-no-result",
    ),
    pytest.param(
        "Workflow",
        {"results": [{"name": "an image", "valueFrom": {"taskResult": {"task": "a", "result": "b"}}}]},
        ["spec.results[0].name: Invalid value"],
        id="workflow-result-name",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"concurrency": {"policy": "Mutex"}},
        ['spec.concurrency.policy: Unsupported value: "Mutex"'],
        id="clusterworkflow-concurrency-policy",
    ),
    pytest.param(
        "Component",
        {"workflow": {"concurrency": {"policy": "queue"}}},
        ['spec.workflow.concurrency.policy: Unsupported value: "queue"'],
        id="component-concurrency-policy",
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
        ["clientCA needs exactly one of value, secretRef or secretKeyRef"],
        id="plane-two-cas",
    ),
    pytest.param(
        "WorkflowPlane",
        {"clusterAgent": {"clientCA": {"value": "PEM"}}},
        ["clientCA needs exactly one of value, secretRef or secretKeyRef"],
        id="workflowplane-value-and-secretkeyref",
    ),
    pytest.param(
        "WorkflowPlane",
        {"clusterAgent": {"clientCA": {"secretKeyRef": DELETE}}},
        ["clientCA needs exactly one of value, secretRef or secretKeyRef"],
        id="workflowplane-no-ca",
    ),
    pytest.param(
        "ClusterWorkflowPlane",
        {"clusterAgent": {"clientCA": {"value": DELETE, "secretKeyRef": {"name": "ca", "key": "ca.crt"}}}},
        ["spec.clusterAgent.clientCA.secretKeyRef.namespace: Required value"],
        id="clusterworkflowplane-secret-namespace",
    ),
    pytest.param(
        "ClusterWorkflowPlane",
        {"observabilityPlaneRef": {"kind": "ObservabilityPlane"}},
        ['spec.observabilityPlaneRef.kind: Unsupported value: "ObservabilityPlane"'],
        id="clusterworkflowplane-namespaced-observability",
    ),
    pytest.param(
        "Workflow",
        {"workflowPlaneRef": {"kind": "ClusterWorkflowPlane", "name": "default"}},
        ["buildPlaneRef (0.17) and workflowPlaneRef (1.x) are alternatives"],
        id="workflow-two-plane-refs",
    ),
    pytest.param(
        "Workflow",
        {"buildPlaneRef": DELETE, "workflowPlaneRef": {"kind": "BuildPlane", "name": "default"}},
        ['spec.workflowPlaneRef.kind: Unsupported value: "BuildPlane"'],
        id="workflow-plane-ref-of-other-generation",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"buildPlaneRef": DELETE, "workflowPlaneRef": {"kind": "WorkflowPlane", "name": "default"}},
        ['spec.workflowPlaneRef.kind: Unsupported value: "WorkflowPlane"'],
        id="clusterworkflow-namespaced-workflowplane",
    ),
    pytest.param(
        "ClusterWorkflow",
        {"buildPlaneRef": {"kind": "BuildPlane"}},
        ['spec.buildPlaneRef.kind: Unsupported value: "BuildPlane"'],
        id="clusterworkflow-namespaced-buildplane",
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
    # componentType is a string or an object (no CEL can type-check a field of two types): the schema
    # checks the string form, the object's kind and name; anything else is the Component's Ready problem.
    pytest.param(
        "Component",
        {"componentType": "service"},
        ['spec.componentType: Invalid value: "service"', "should match"],
        id="component-type-string-format",
    ),
    pytest.param(
        "Component",
        {"componentType": {"name": "service"}},
        ['spec.componentType.name: Invalid value: "service"', "should match"],
        id="component-type-object-format",
    ),
    pytest.param(
        "Component",
        {"componentType": {"kind": "Trait"}},
        ['spec.componentType.kind: Unsupported value: "Trait"'],
        id="component-type-kind",
    ),
    pytest.param(
        "Component",
        {"componentType": {"kind": DELETE, "name": DELETE}},
        ["spec.componentType.name: Required value"],
        id="component-type-no-name",
    ),
    pytest.param(
        "Component",
        {"workflow": {"kind": "Task"}},
        ['spec.workflow.kind: Unsupported value: "Task"'],
        id="component-workflow-kind",
    ),
    pytest.param(
        "ComponentType",
        {
            "allowedWorkflows": [
                {"kind": "Workflow", "name": "docker"},
                {"kind": "Workflow", "name": "docker"},
            ]
        },
        ["allowedWorkflows has duplicate entries"],
        id="componenttype-duplicate",
    ),
    pytest.param(
        "ClusterComponentType",
        {"allowedWorkflows": [{"kind": "Workflow", "name": "docker"}]},
        ['spec.allowedWorkflows[0].kind: Unsupported value: "Workflow"'],
        id="clustercomponenttype-namespaced-workflow",
    ),
    pytest.param(
        "SecretReference",
        {"targetPlane": {"kind": "ObservabilityPlane", "name": "x"}},
        ['spec.targetPlane.kind: Unsupported value: "ObservabilityPlane"'],
        id="secretref-target-plane-kind",
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
    pytest.param(
        {"status": {"concurrency": {"group": "greeter", "policy": "Serial"}}},
        "status",
        'status.concurrency.policy: Unsupported value: "Serial"',
        id="concurrency-policy",
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
        {
            "status": {
                "conditions": [condition],
                "argoPhase": "Succeeded",
                "resolvedWorkflow": {"kind": "Workflow", "name": "docker", "uid": "u", "generation": 1},
                "startedAt": "2026-01-01T00:00:00Z",
                "results": [
                    {"name": "image", "value": "registry.local/shop:9f3c2b1a"},
                    {"name": "commit", "value": "9f3c2b1a", "truncated": True},
                    {"name": "coverage", "message": "step 'test' produced no output 'coverage'"},
                ],
                "resultSummary": "image=registry.local/shop:9f3c2b1a commit=9f3c2b1a",
            }
        },
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
    assert ["image=registry.local/shop:9f3c2b1a", "commit=9f3c2b1a"] == table.stdout.split()[5:7]  # Results


BP_REF = {"buildPlaneRef": {"kind": "BuildPlane", "name": "default"}}
WP_REF = {"workflowPlaneRef": {"kind": "WorkflowPlane", "name": "default"}}
PLANE_REF_UPDATES = [
    pytest.param(BP_REF, {"buildPlaneRef": {"name": "other"}}, "buildPlaneRef is immutable", id="bp-rename"),
    pytest.param(
        WP_REF, {"workflowPlaneRef": {"name": "other"}}, "workflowPlaneRef is immutable", id="wp-rename"
    ),
    pytest.param(
        WP_REF,
        {"workflowPlaneRef": None},
        "workflowPlaneRef is immutable and cannot be removed",
        id="wp-remove",
    ),
    pytest.param(
        BP_REF, {"buildPlaneRef": None}, "buildPlaneRef cannot be removed, only replaced", id="bp-remove"
    ),
    pytest.param(
        BP_REF,
        {"buildPlaneRef": None, "workflowPlaneRef": {"kind": "WorkflowPlane", "name": "default"}},
        None,
        id="bp-replaced-by-wp-the-migration",
    ),
    pytest.param(
        WP_REF,
        {"workflowPlaneRef": None, "buildPlaneRef": {"kind": "BuildPlane", "name": "default"}},
        "workflowPlaneRef is immutable and cannot be removed",
        id="wp-back-to-bp",
    ),
    pytest.param({}, WP_REF, None, id="ref-added-to-refless"),
]


@pytest.mark.parametrize(("refs", "patch", "expected_fragment"), PLANE_REF_UPDATES)
async def test_workflow_plane_ref_updates(api, namespace, refs, patch, expected_fragment):
    _, spec = VALID["Workflow"]
    body = build("Workflow", namespace, {**merged(spec, {"buildPlaneRef": DELETE}), **refs}, name="wf")
    await api.create(resources.WORKFLOW, body)
    if expected_fragment is None:
        updated = await api.merge_patch(resources.WORKFLOW, "wf", {"spec": patch}, namespace=namespace)
        assert {k: v for k, v in patch.items() if v is not None} == {
            k: updated["spec"][k] for k in ("buildPlaneRef", "workflowPlaneRef") if k in updated["spec"]
        }
        return
    with pytest.raises(Invalid) as caught:
        await api.merge_patch(resources.WORKFLOW, "wf", {"spec": patch}, namespace=namespace)
    assert expected_fragment in caught.value.message


SAMPLES = Path(__file__).parents[1] / "data" / "openchoreo"
# OpenChoreo's kinds; the samples' Argo ClusterWorkflowTemplates go to a build plane (test_openchoreo_sample_runs).
SAMPLE_FILES = sorted(
    path
    for path in SAMPLES.rglob("*.yaml")
    if all(
        doc["apiVersion"].startswith("openchoreo.dev/") for doc in yaml.safe_load_all(path.read_text()) if doc
    )
)


def _contained(expected, actual, path="spec"):
    """Paths of ``expected`` that ``actual`` lacks or holds differently (server defaults may add keys)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return [m for k, v in expected.items() for m in _contained(v, actual.get(k), f"{path}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            m
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for m in _contained(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [path]


def _json_stream(text):
    """The objects ``kubectl -o json`` printed one after another."""
    decoder, objects, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)
    return objects


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: str(p.relative_to(SAMPLES)))
async def test_openchoreo_sample_is_accepted_unchanged(control_plane, sample):
    """OpenChoreo's own YAML of both generations (tests/data/openchoreo) passes our CRDs, nothing pruned."""
    result = await asyncio.to_thread(
        control_plane.kubectl,
        "create",
        "--dry-run=server",
        "-o",
        "json",
        "-n",
        "default",
        "-f",
        str(sample),
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    stored = _json_stream(result.stdout)
    sent = [d for d in yaml.safe_load_all(sample.read_text()) if d]
    assert [d["kind"] for d in sent] == [d["kind"] for d in stored]
    assert [] == [
        m for d, s in zip(sent, stored, strict=True) for m in _contained(d.get("spec"), s.get("spec"))
    ]


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
        "workflowplanes": "wp,wps",
        "clusterworkflowplanes": "cwp,cwps",
        "clustercomponenttypes": "cct",
        "secretreferences": "secref",
        "components": "comp",
        "componenttypes": "ct",
        "workloads": "wl",
    } == short_names
