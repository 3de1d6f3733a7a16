"""Every resource the controller reads or writes, in one place (SPEC section 2; engine, ESO, core kinds)."""

from __future__ import annotations

from choreo_controller.contracts import ApiResource

GROUP = "openchoreo.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

WORKFLOW = ApiResource(GROUP, VERSION, "workflows", "Workflow")
CLUSTER_WORKFLOW = ApiResource(GROUP, VERSION, "clusterworkflows", "ClusterWorkflow", namespaced=False)
WORKFLOW_RUN = ApiResource(GROUP, VERSION, "workflowruns", "WorkflowRun")
BUILD_PLANE = ApiResource(GROUP, VERSION, "buildplanes", "BuildPlane")
CLUSTER_BUILD_PLANE = ApiResource(GROUP, VERSION, "clusterbuildplanes", "ClusterBuildPlane", namespaced=False)
WORKFLOW_PLANE = ApiResource(GROUP, VERSION, "workflowplanes", "WorkflowPlane")
CLUSTER_WORKFLOW_PLANE = ApiResource(
    GROUP, VERSION, "clusterworkflowplanes", "ClusterWorkflowPlane", namespaced=False
)
SECRET_REFERENCE = ApiResource(GROUP, VERSION, "secretreferences", "SecretReference")
COMPONENT = ApiResource(GROUP, VERSION, "components", "Component")
COMPONENT_TYPE = ApiResource(GROUP, VERSION, "componenttypes", "ComponentType")
CLUSTER_COMPONENT_TYPE = ApiResource(
    GROUP, VERSION, "clustercomponenttypes", "ClusterComponentType", namespaced=False
)
WORKLOAD = ApiResource(GROUP, VERSION, "workloads", "Workload")

ARGO_WORKFLOW = ApiResource("argoproj.io", "v1alpha1", "workflows", "Workflow")
ARGO_WORKFLOW_TASK_RESULT = ApiResource(
    "argoproj.io", "v1alpha1", "workflowtaskresults", "WorkflowTaskResult"
)
ARGO_CLUSTER_WORKFLOW_TEMPLATE = ApiResource(
    "argoproj.io", "v1alpha1", "clusterworkflowtemplates", "ClusterWorkflowTemplate", namespaced=False
)
TEKTON_PIPELINE_RUN = ApiResource("tekton.dev", "v1", "pipelineruns", "PipelineRun")
TEKTON_TASK_RUN = ApiResource("tekton.dev", "v1", "taskruns", "TaskRun")
EXTERNAL_SECRET = ApiResource("external-secrets.io", "v1beta1", "externalsecrets", "ExternalSecret")

NAMESPACE = ApiResource("", "v1", "namespaces", "Namespace", namespaced=False)
SERVICE_ACCOUNT = ApiResource("", "v1", "serviceaccounts", "ServiceAccount")
SECRET = ApiResource("", "v1", "secrets", "Secret")
CONFIG_MAP = ApiResource("", "v1", "configmaps", "ConfigMap")
PERSISTENT_VOLUME_CLAIM = ApiResource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
EVENT = ApiResource("", "v1", "events", "Event")
POD = ApiResource("", "v1", "pods", "Pod")
ROLE = ApiResource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDING = ApiResource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
LEASE = ApiResource("coordination.k8s.io", "v1", "leases", "Lease")

_BY_API_VERSION_KIND: dict[tuple[str, str], ApiResource] = {
    (r.api_version, r.kind): r
    for r in (
        WORKFLOW,
        CLUSTER_WORKFLOW,
        WORKFLOW_RUN,
        BUILD_PLANE,
        CLUSTER_BUILD_PLANE,
        WORKFLOW_PLANE,
        CLUSTER_WORKFLOW_PLANE,
        SECRET_REFERENCE,
        COMPONENT,
        COMPONENT_TYPE,
        CLUSTER_COMPONENT_TYPE,
        WORKLOAD,
        ARGO_WORKFLOW,
        ARGO_WORKFLOW_TASK_RESULT,
        ARGO_CLUSTER_WORKFLOW_TEMPLATE,
        TEKTON_PIPELINE_RUN,
        TEKTON_TASK_RUN,
        EXTERNAL_SECRET,
        NAMESPACE,
        SERVICE_ACCOUNT,
        SECRET,
        CONFIG_MAP,
        PERSISTENT_VOLUME_CLAIM,
        EVENT,
        POD,
        ROLE,
        ROLE_BINDING,
        LEASE,
    )
}


def resource_for(api_version: str, kind: str) -> ApiResource | None:
    """Descriptor of a known ``apiVersion``/``kind``; ``None`` for kinds the engine does not know.

    ``external-secrets.io/v1`` is accepted as well as ``v1beta1`` (ESO serves both since 0.16).
    """
    found = _BY_API_VERSION_KIND.get((api_version, kind))
    if found is None and "/" in api_version:
        group, version = api_version.split("/", 1)
        if group == EXTERNAL_SECRET.group and kind == EXTERNAL_SECRET.kind:
            return ApiResource(group, version, EXTERNAL_SECRET.plural, kind)
    return found
