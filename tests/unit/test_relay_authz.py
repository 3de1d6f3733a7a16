"""The agent's default-deny allowlist, as tables: what is served, what is refused and why, headers dropped."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo_controller.engines import ENGINES
from choreo_controller.reconcilers.workflowrun.submit import prerequisites
from choreo_controller.relay.authz import SCOPES, authorize, sanitize_headers
from choreo_controller.relay.requestinfo import RequestInfo, parse

NS = "openchoreo-ci-acme"
WF = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"
TR = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflowtaskresults"
ES = f"/apis/external-secrets.io/v1beta1/namespaces/{NS}/externalsecrets"
PR = f"/apis/tekton.dev/v1/namespaces/{NS}/pipelineruns"
TKR = f"/apis/tekton.dev/v1/namespaces/{NS}/taskruns"
SA = f"/api/v1/namespaces/{NS}/serviceaccounts"
CM = f"/api/v1/namespaces/{NS}/configmaps"
ROLE = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles"
RB = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings"
PODS = f"/api/v1/namespaces/{NS}/pods"
EVENTS = f"/api/v1/namespaces/{NS}/events"
LOG_OPTIONS = (("container", "main"), ("follow", "true"), ("timestamps", "true"), ("sinceSeconds", "60"),
               ("sinceTime", "2026-03-01T12:00:00Z"), ("tailLines", "10"), ("limitBytes", "1024"))  # fmt: skip
JSON, MERGE, APPLY = "application/json", "application/merge-patch+json", "application/apply-patch+yaml"
WATCH = (("watch", "1"), ("resourceVersion", "5"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "300"))
ROLE_BODY = {
    "rules": [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]
}
RB_BODY = {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "workflow"},
           "subjects": [{"kind": "ServiceAccount", "name": "workflow-sa", "namespace": NS}]}  # fmt: skip


def body(obj):
    return json.dumps(obj).encode()


ALLOWED = [
    pytest.param("get", "GET", f"{WF}/w", (), None, None, id="workflow-get"),
    pytest.param("list", "GET", WF, (("labelSelector", "a=b,c in (x, y)"), ("limit", "100")), None, None,
                 id="workflow-list"),
    pytest.param("watch", "GET", WF, WATCH, None, None, id="workflow-watch"),
    pytest.param("watch", "GET", WF, (("watch", "true"),), None, None, id="workflow-watch-true"),
    pytest.param("create", "POST", WF, (), JSON, b"{}", id="workflow-create"),
    pytest.param("patch", "PATCH", f"{WF}/w", (), MERGE, b"{}", id="workflow-merge-patch"),
    pytest.param("patch", "PATCH", f"{WF}/w", (("fieldManager", "c"), ("force", "true")), APPLY, b"{}",
                 id="workflow-apply"),
    pytest.param("delete", "DELETE", f"{WF}/w", (), JSON, b"{}", id="workflow-delete"),
    # Tekton: PipelineRuns as Argo Workflows; TaskRuns are only watched (tracking's informer)
    pytest.param("create", "POST", PR, (), JSON, b"{}", id="pipelinerun-create"),
    pytest.param("get", "GET", f"{PR}/p", (), None, None, id="pipelinerun-get"),
    pytest.param("patch", "PATCH", f"{PR}/p", (), MERGE, b"{}", id="pipelinerun-cancel"),
    pytest.param("delete", "DELETE", f"{PR}/p", (), JSON, b"{}", id="pipelinerun-delete"),
    pytest.param("list", "GET", TKR, (("labelSelector", "a=b"),), None, None, id="taskrun-list"),
    pytest.param("watch", "GET", TKR, WATCH, None, None, id="taskrun-watch"),
    pytest.param("create", "POST", ES, (), JSON, b"{}", id="externalsecret-create"),
    pytest.param("delete", "DELETE", f"{ES}/e", (), None, None, id="externalsecret-delete"),
    pytest.param("create", "POST", ES.replace("v1beta1", "v1"), (), JSON, b"{}", id="externalsecret-v1"),
    pytest.param("get", "GET", f"/api/v1/namespaces/{NS}", (), None, None, id="namespace-get"),
    pytest.param("create", "POST", "/api/v1/namespaces", (), JSON, body({"metadata": {"name": NS}}),
                 id="namespace-create"),
    pytest.param("create", "POST", "/api/v1/namespaces", (), JSON,
                 body({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": NS, "labels": {"openchoreo.dev/managed-by": "choreo-controller"}}}),
                 id="namespace-create-as-the-engine-writes-it"),
    pytest.param("create", "POST", SA, (), JSON, b"{}", id="serviceaccount-create"),
    pytest.param("get", "GET", f"{SA}/workflow-sa", (), None, None, id="serviceaccount-get"),
    pytest.param("create", "POST", ROLE, (), JSON, body(ROLE_BODY), id="role-create"),
    pytest.param("create", "POST", RB, (), JSON, body(RB_BODY), id="rolebinding-create"),
    # the extra kinds a Workflow may render (api.buildkinds): created, found again by label, deleted
    pytest.param("create", "POST", CM, (), JSON, b"{}", id="configmap-create"),
    pytest.param("list", "GET", CM, (("labelSelector", "openchoreo.dev/workflowrun-uid=u"),), None, None,
                 id="configmap-list"),
    pytest.param("delete", "DELETE", f"{CM}/c", (), JSON, b"{}", id="configmap-delete"),
    pytest.param("get", "GET", f"/api/v1/namespaces/{NS}/secrets/s", (), None, None, id="secret-get"),
    pytest.param("create", "POST", f"/api/v1/namespaces/{NS}/persistentvolumeclaims", (), JSON, b"{}",
                 id="pvc-create"),
    pytest.param("delete", "DELETE", f"{SA}/builder", (), None, None, id="serviceaccount-delete"),
    # what people read of a run (runs logs, runs get): a run's pods, their logs, one object's Events
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow=build-1"),
                                       ("limit", "500")), None, None, id="run-pods-list"),
    pytest.param("get", "GET", f"{PODS}/build-1-main-1/log", LOG_OPTIONS, None, None, id="pod-log-all-options"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"),), None, None, id="pod-log"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "involvedObject.name=build-1-main-1"),), None, None,
                 id="events-of-one-pod"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "involvedObject.kind=Pod,involvedObject.name=p,type=Warning"),),
                 None, None, id="warning-events-of-one-pod"),
]  # fmt: skip


@pytest.mark.parametrize(("verb", "method", "path", "query", "content_type", "data"), ALLOWED)
def test_allowed(verb, method, path, query, content_type, data):
    decision = authorize(verb, method, path, query, content_type, data)
    assert (True, "allowed", False) == (decision.allowed, decision.reason, decision.filter_namespaces)
    assert path.endswith("/log") == decision.check_pod, "a pod's log is served only once the pod is checked"


ACROSS = [
    pytest.param(
        "list", "/apis/argoproj.io/v1alpha1/workflows", (("labelSelector", "a=b"),), id="workflows-list"
    ),
    pytest.param("watch", "/apis/argoproj.io/v1alpha1/workflows", (("watch", "1"),), id="workflows-watch"),
    pytest.param("list", "/apis/external-secrets.io/v1beta1/externalsecrets", (), id="externalsecrets-list"),
    pytest.param("list", "/api/v1/secrets", (("labelSelector", "a=b"),), id="secrets-list"),
    pytest.param("list", "/api/v1/serviceaccounts", (), id="serviceaccounts-list"),
    pytest.param("watch", "/apis/tekton.dev/v1/pipelineruns", (("watch", "1"),), id="pipelineruns-watch"),
    pytest.param("watch", "/apis/tekton.dev/v1/taskruns", (("watch", "1"),), id="taskruns-watch"),
]


@pytest.mark.parametrize(("verb", "path", "query"), ACROSS)
def test_reads_across_namespaces_are_allowed_but_filtered(verb, path, query):
    decision = authorize(verb, "GET", path, query)
    assert (True, True) == (decision.allowed, decision.filter_namespaces)


DENIED = [
    # canonical form
    pytest.param("get", "GET", f"{WF}/../../../../api/v1/secrets", (), "not canonical", id="dotdot"),
    pytest.param("get", "GET", f"{WF}/%2e%2e/x", (), "not canonical", id="pct-dotdot"),
    pytest.param("get", "GET", f"{WF}/a%2fb", (), "not canonical", id="pct-slash"),
    pytest.param("get", "GET", f"{WF}//w", (), "not canonical", id="double-slash"),
    pytest.param("list", "GET", f"{WF}/", (), "not canonical", id="trailing-slash"),
    pytest.param("get", "GET", f"{WF}/w;x=1", (), "not canonical", id="semicolon"),
    pytest.param("get", "GET", f"{WF}/w\x00", (), "not canonical", id="nul"),
    pytest.param("get", "GET", f"{WF}/w\\..\\x", (), "not canonical", id="backslash"),
    pytest.param("get", "GET", f"{WF}/./w", (), "not canonical", id="dot-segment"),
    pytest.param("get", "GET", f"{WF}/w?x", (), "not canonical", id="question-mark-in-path"),
    pytest.param("get", "GET", f"{WF}/w#x", (), "not canonical", id="fragment"),
    pytest.param("get", "GET", f"{WF}/w x", (), "not canonical", id="space"),
    pytest.param("get", "GET", f"{WF}/wé", (), "not canonical", id="non-ascii"),
    pytest.param("get", "GET", WF.replace("argoproj.io", "Argoproj.io") + "/w", (), "not canonical",
                 id="uppercase-group"),
    pytest.param("get", "GET", WF.replace("workflows", "Workflows") + "/w", (), "not canonical",
                 id="uppercase-resource"),
    pytest.param("get", "GET", f"{WF}/W", (), "not canonical", id="uppercase-name"),
    pytest.param("watch", "GET", f"/api/v1/watch/namespaces/{NS}/serviceaccounts", (("watch", "1"),),
                 "not canonical", id="legacy-watch-prefix"),
    pytest.param("get", "GET", f"/api/v1/proxy/namespaces/{NS}/pods/p", (), "not canonical", id="legacy-proxy"),
    pytest.param("get", "GET", f"{WF}/w", (("watch", "true"),), "not canonical", id="named-watch"),
    pytest.param("watch", "GET", WF, (("watch", "yes"),), "not canonical", id="watch-odd-value"),
    pytest.param("watch", "GET", WF, (("watch", "1"), ("watch", "0")), "not canonical", id="watch-twice"),
    pytest.param("list", "GET", WF, (("watch", "0"),), "not canonical", id="watch-false"),
    pytest.param("list", "GET", WF, (("pretty", "1"),), "not canonical", id="unknown-query-key"),
    pytest.param("create", "POST", WF, (("dryRun", "All"),), "not canonical", id="dryrun"),
    pytest.param("create", "POST", f"{WF}/w", (), "not canonical", id="post-to-name"),
    pytest.param("list", "GET", "apis/argoproj.io/v1alpha1/workflows", (), "not canonical", id="relative"),
    pytest.param("get", "GET", "/", (), "not canonical", id="root"),
    pytest.param("get", "GET", "/version", (), "not canonical", id="version"),
    pytest.param("get", "GET", "/apis/argoproj.io/V1alpha1/namespaces/x/workflows", (), "not canonical",
                 id="uppercase-version"),
    # verb smuggling
    pytest.param("get", "GET", WF, WATCH, "declared verb", id="watch-declared-as-get"),
    pytest.param("get", "DELETE", f"{WF}/w", (), "declared verb", id="delete-declared-as-get"),
    pytest.param("list", "GET", WF, WATCH, "declared verb", id="watch-declared-as-list"),
    # resources outside the allowlist
    pytest.param("get", "GET", "/api/v1/namespaces/kube-system/secrets/s", (), "openchoreo-ci-*",
                 id="secret-other-namespace"),
    pytest.param("get", "GET", f"{TR}/t", (), "not in the allowlist", id="taskresult-get"),
    pytest.param("watch", "GET", TR, WATCH, "not in the allowlist", id="taskresult-watch"),
    pytest.param("get", "GET", f"/api/v1/namespaces/{NS}/services/s", (), "not in the allowlist", id="service"),
    pytest.param("create", "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", (), "not in the allowlist",
                 id="deployment"),
    pytest.param("create", "POST", f"/api/v1/namespaces/{NS}/pods", (), "verb create not allowed", id="pod"),
    pytest.param("list", "GET", "/api/v1/nodes", (), "not in the allowlist", id="nodes"),
    pytest.param("create", "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", (),
                 "not in the allowlist", id="clusterrolebinding"),
    pytest.param("create", "POST", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/cronworkflows", (),
                 "not in the allowlist", id="cronworkflow"),
    pytest.param("get", "GET", f"/apis/argoproj.io/v1beta1/namespaces/{NS}/workflows/w", (),
                 "not in the allowlist", id="other-version"),
    pytest.param("create", "POST", f"/apis/tekton.dev/v1/namespaces/{NS}/tasks", (), "not in the allowlist",
                 id="tekton-task"),
    pytest.param("create", "POST", f"/apis/tekton.dev/v1/namespaces/{NS}/pipelines", (), "not in the allowlist",
                 id="tekton-pipeline"),
    pytest.param("create", "POST", f"/apis/tekton.dev/v1beta1/namespaces/{NS}/customruns", (),
                 "not in the allowlist", id="tekton-customrun"),
    pytest.param("list", "GET", f"/apis/tekton.dev/v1beta1/namespaces/{NS}/pipelineruns", (),
                 "not in the allowlist", id="tekton-older-version"),
    # subresources
    pytest.param("create", "POST", f"/api/v1/namespaces/{NS}/serviceaccounts/workflow-sa/token", (),
                 "not canonical", id="token-post"),
    pytest.param("get", "GET", f"{SA}/workflow-sa/token", (), "subresources", id="token-get"),
    pytest.param("get", "GET", f"{WF}/w/exec", (), "subresources", id="exec"),
    pytest.param("get", "GET", f"{WF}/w/proxy", (), "subresources", id="proxy"),
    pytest.param("patch", "PATCH", f"{WF}/w/status", (), "subresources", id="status"),
    pytest.param("patch", "PATCH", f"/api/v1/namespaces/{NS}/status", (), "subresources", id="namespace-status"),
    pytest.param("update", "PUT", f"/api/v1/namespaces/{NS}/finalize", (), "subresources",
                 id="namespace-finalize"),
    *[pytest.param("get", "GET", f"{PODS}/p/{sub}", (), reason, id=f"pod-{sub}")
      for sub, reason in (("exec", "subresources"), ("attach", "subresources"), ("portforward", "subresources"),
                          ("proxy", "subresources"), ("status", "subresources"), ("binding", "subresources"),
                          ("eviction", "subresources"), ("ephemeralcontainers", "subresources"))],
    pytest.param("create", "POST", f"{PODS}/p/exec", (), "not canonical", id="pod-exec-post"),
    pytest.param("get", "GET", f"{WF}/w/log", (("container", "main"),), "subresources", id="workflow-log"),
    # what people read of a run: narrowly
    pytest.param("get", "GET", f"{PODS}/p", (), "verb get not allowed on pods", id="pod-get"),
    pytest.param("watch", "GET", PODS, (("watch", "1"), ("labelSelector", "workflows.argoproj.io/workflow=w")),
                 "verb watch", id="pods-watch"),
    pytest.param("list", "GET", PODS, (), "a run's label", id="pods-list-unselected"),
    pytest.param("list", "GET", PODS, (("labelSelector", "app=x"),), "a run's label", id="pods-list-other-label"),
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow"),), "a run's label",
                 id="pods-list-any-run"),
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow!=x"),), "a run's label",
                 id="pods-list-not-equal"),
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow=a,app=b"),),
                 "a run's label", id="pods-list-two-terms"),
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow in (a,b)"),),
                 "a run's label", id="pods-list-set"),
    pytest.param("list", "GET", PODS, (("labelSelector", "workflows.argoproj.io/workflow=a"),
                                       ("fieldSelector", "spec.nodeName=n")), "a run's label", id="pods-list-fields"),
    pytest.param("list", "GET", "/api/v1/pods", (("labelSelector", "workflows.argoproj.io/workflow=a"),),
                 "openchoreo-ci-*", id="pods-list-across-namespaces"),
    pytest.param("list", "GET", "/api/v1/namespaces/kube-system/pods", (("labelSelector", "workflows.argoproj.io/workflow=a"),),
                 "openchoreo-ci-*", id="pods-list-foreign-namespace"),
    pytest.param("get", "GET", "/api/v1/namespaces/kube-system/pods/p/log", (("container", "main"),),
                 "openchoreo-ci-*", id="pod-log-foreign-namespace"),
    pytest.param("get", "GET", f"{PODS}/p/log", (), "container name", id="pod-log-no-container"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "Main"),), "container name", id="pod-log-bad-container"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"), ("previous", "true")), "not canonical",
                 id="pod-log-previous"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"), ("insecureSkipTLSVerifyBackend", "true")),
                 "not canonical", id="pod-log-skip-tls"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"), ("follow", "1")), "log options",
                 id="pod-log-odd-flag"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"), ("tailLines", "-1")), "log options",
                 id="pod-log-negative"),
    pytest.param("get", "GET", f"{PODS}/p/log", (("container", "main"), ("sinceTime", "yesterday")), "log options",
                 id="pod-log-since-time"),
    pytest.param("list", "GET", f"{PODS}/p/log", (("container", "main"),), "declared verb", id="pod-log-as-list"),
    pytest.param("list", "GET", EVENTS, (), "involvedObject.name", id="events-unselected"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "type=Warning"),), "involvedObject.name",
                 id="events-without-object"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "involvedObject.name!=p"),), "involvedObject.name",
                 id="events-not-equal"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "involvedObject.name=p,metadata.name=x"),),
                 "involvedObject.name", id="events-other-field"),
    pytest.param("list", "GET", EVENTS, (("fieldSelector", "involvedObject.name=p"), ("labelSelector", "a")),
                 "involvedObject.name", id="events-labels"),
    pytest.param("list", "GET", "/api/v1/events", (("fieldSelector", "involvedObject.name=p"),),
                 "openchoreo-ci-*", id="events-across-namespaces"),
    pytest.param("get", "GET", f"{EVENTS}/e", (), "verb get", id="event-get"),
    pytest.param("create", "POST", EVENTS, (), "verb create", id="event-create"),
    # verbs
    pytest.param("update", "PUT", f"{WF}/w", (), "verb update", id="workflow-put"),
    pytest.param("create", "POST", TR, (), "not in the allowlist", id="taskresult-create"),
    pytest.param("get", "GET", f"{TKR}/t", (), "verb get", id="taskrun-get"),
    pytest.param("create", "POST", TKR, (), "verb create", id="taskrun-create"),
    pytest.param("patch", "PATCH", f"{TKR}/t", (), "verb patch", id="taskrun-patch"),
    pytest.param("delete", "DELETE", f"{TKR}/t", (), "verb delete", id="taskrun-delete"),
    pytest.param("patch", "PATCH", f"{CM}/c", (), "verb patch", id="configmap-patch"),
    pytest.param("watch", "GET", CM, WATCH, "verb watch", id="configmap-watch"),
    pytest.param("delete", "DELETE", f"/api/v1/namespaces/{NS}", (), "verb delete", id="namespace-delete"),
    pytest.param("list", "GET", "/api/v1/namespaces", (), "verb list", id="namespace-list"),
    pytest.param("deletecollection", "DELETE", WF, (), "verb deletecollection", id="deletecollection"),
    # least privilege (relay-review finding 5): prerequisites are created when missing, never patched
    pytest.param("patch", "PATCH", f"/api/v1/namespaces/{NS}", (), "verb patch", id="namespace-patch"),
    pytest.param("patch", "PATCH", f"{SA}/workflow-sa", (), "verb patch", id="serviceaccount-patch"),
    pytest.param("patch", "PATCH", f"{ROLE}/r", (), "verb patch", id="role-patch"),
    pytest.param("patch", "PATCH", f"{RB}/rb", (), "verb patch", id="rolebinding-patch"),
    # namespaces
    pytest.param("get", "GET", "/apis/argoproj.io/v1alpha1/namespaces/default/workflows/w", (),
                 "openchoreo-ci-*", id="default-namespace"),
    pytest.param("get", "GET", "/apis/argoproj.io/v1alpha1/namespaces/openchoreo-ci/workflows/w", (),
                 "openchoreo-ci-*", id="prefix-without-suffix"),
    pytest.param("get", "GET", "/apis/argoproj.io/v1alpha1/namespaces/xopenchoreo-ci-a/workflows/w", (),
                 "openchoreo-ci-*", id="prefix-not-at-start"),
    pytest.param("create", "POST", "/api/v1/configmaps", (), "openchoreo-ci-*", id="all-namespaces-create-cm"),
    pytest.param("watch", "GET", "/apis/rbac.authorization.k8s.io/v1/roles", (("watch", "1"),), "verb watch",
                 id="all-namespaces-watch-roles"),
    pytest.param("create", "POST", "/apis/argoproj.io/v1alpha1/workflows", (), "openchoreo-ci-*",
                 id="all-namespaces-create"),
    pytest.param("get", "GET", "/apis/argoproj.io/v1alpha1/workflows/w", (), "openchoreo-ci-*",
                 id="namespaceless-get"),
    pytest.param("get", "GET", "/api/v1/namespaces/kube-system", (), "openchoreo-ci-*", id="namespace-kube-system"),
    pytest.param("get", "GET", f"/api/v1/namespaces/{NS}/namespaces/{NS}", (), "openchoreo-ci-*",
                 id="namespaces-as-namespaced"),
]  # fmt: skip


@pytest.mark.parametrize(("verb", "method", "path", "query", "reason"), DENIED)
def test_denied(verb, method, path, query, reason):
    content_type = JSON if method in {"POST", "PUT"} else MERGE if method == "PATCH" else None
    data = b"{}" if content_type else None
    decision = authorize(verb, method, path, query, content_type, data)
    assert (False, True) == (decision.allowed, reason in decision.reason), decision.reason


BODIES = [
    pytest.param("POST", "/api/v1/namespaces", body({"metadata": {"name": "kube-system"}}), id="ns-kube-system"),
    pytest.param("POST", "/api/v1/namespaces", body({"metadata": {"generateName": "openchoreo-ci-"}}),
                 id="ns-generate-name"),
    pytest.param("POST", "/api/v1/namespaces", b"not json", id="ns-not-json"),
    pytest.param("POST", "/api/v1/namespaces", body([NS]), id="ns-array"),
    pytest.param("PATCH", f"/api/v1/namespaces/{NS}", body({"metadata": {"name": "default"}}), id="ns-rename"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
                 id="role-secrets"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                                                "verbs": ["*"]}]}), id="role-wildcard-verb"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
                 id="role-star"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": ["tekton.dev"], "resources": ["taskruns"],
                                                "verbs": ["list"]}]}), id="role-tekton-taskruns"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": ["argoproj.io", "tekton.dev"],
                                                "resources": ["workflowtaskresults"], "verbs": ["create"]}]}),
                 id="role-two-groups"),
    pytest.param("POST", ROLE, body({"rules": [{"apiGroups": [{"x": 1}], "resources": [["y"]], "verbs": ["get"]}]}),
                 id="role-unhashable-json"),
    pytest.param("POST", ROLE, body({"rules": [{"nonResourceURLs": ["/"], "verbs": ["get"]}]}), id="role-nonresource"),
    pytest.param("PATCH", f"{ROLE}/r", body({"rules": "everything"}), id="role-rules-not-list"),
    pytest.param("POST", RB, body({**RB_BODY, "roleRef": {**RB_BODY["roleRef"], "kind": "ClusterRole",
                                                           "name": "cluster-admin"}}), id="rb-cluster-admin"),
    pytest.param("POST", RB, body({**RB_BODY, "subjects": [{"kind": "User", "name": "mallory"}]}), id="rb-user"),
    pytest.param("POST", RB, body({**RB_BODY, "subjects": [{"kind": "ServiceAccount", "name": "default",
                                                           "namespace": "kube-system"}]}), id="rb-foreign-sa"),
    pytest.param("POST", RB, body({**RB_BODY, "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
                 id="rb-group"),
    # least privilege (relay-review finding 5): only what the engine writes
    pytest.param("POST", "/api/v1/namespaces",
                 body({"metadata": {"name": NS, "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
                 id="ns-pod-security-privileged"),
    pytest.param("POST", "/api/v1/namespaces",
                 body({"metadata": {"name": NS, "annotations": {"scheduler.alpha.kubernetes.io/node-selector": "a=b"}}}),
                 id="ns-node-selector"),
    pytest.param("POST", "/api/v1/namespaces", body({"metadata": {"name": NS, "labels": {"team": "x"}}}),
                 id="ns-foreign-label"),
    pytest.param("POST", "/api/v1/namespaces", body({"metadata": {"name": NS, "annotations": {"a": "b"}}}),
                 id="ns-any-annotation"),
    pytest.param("POST", "/api/v1/namespaces", body({"metadata": {"name": NS}, "spec": {"finalizers": []}}),
                 id="ns-spec"),
    pytest.param("POST", SA, body({"metadata": {"name": "x", "labels": {"pod-security.kubernetes.io/warn": "x"}}}),
                 id="sa-pod-security-label"),
    pytest.param("POST", SA, body({"metadata": {"name": "x", "annotations": {"kubernetes.io/enforce-mountable-secrets": "false"}}}),
                 id="sa-k8s-annotation"),
    pytest.param("POST", CM, body({"metadata": {"name": "c", "labels": {"node.kubernetes.io/x": "y"}}}),
                 id="configmap-k8s-label"),
    pytest.param("POST", f"/api/v1/namespaces/{NS}/secrets",
                 body({"metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "workflow-sa"}},
                       "type": "kubernetes.io/service-account-token"}), id="secret-sa-token"),
    pytest.param("POST", f"/api/v1/namespaces/{NS}/secrets", body({"metadata": "x"}), id="metadata-not-a-map"),
    pytest.param("POST", ROLE, body({**ROLE_BODY, "metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}}),
                 id="role-aggregation-label"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "data"), BODIES)
def test_bodies_that_widen_access_are_refused(method, path, data):
    verb = "create" if method == "POST" else "patch"
    decision = authorize(verb, method, path, (), JSON if method == "POST" else MERGE, data)
    assert not decision.allowed, decision.reason


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_the_engines_own_prerequisites_pass_the_body_checks(engine):
    for resource, obj in prerequisites(NS, engine):
        meta = obj["metadata"]
        path = resource.path(meta.get("namespace"))
        decision = authorize("create", "POST", path, (), JSON, body(obj))
        assert (True, "allowed") == (decision.allowed, decision.reason), resource.plural


@pytest.mark.parametrize(
    ("scope", "namespace", "reason"),
    [
        pytest.param("buildplane", "openchoreo-ci-acme", "allowed", id="0.17-agent-own-namespace"),
        pytest.param(
            "buildplane",
            "workflows-acme",
            "only openchoreo-ci-* namespaces are allowed",
            id="0.17-agent-1x-ns",
        ),
        pytest.param("workflowplane", "workflows-acme", "allowed", id="1x-agent-own-namespace"),
        pytest.param(
            "workflowplane",
            "openchoreo-ci-acme",
            "only workflows-* namespaces are allowed",
            id="1x-agent-0.17-ns",
        ),
        pytest.param("workflowplane", "workflows-" + "a" * 53, "allowed", id="1x-longest-namespace"),
        pytest.param(
            "workflowplane", "workflows", "only workflows-* namespaces are allowed", id="1x-no-label"
        ),
    ],
)
def test_the_agents_scope_is_the_build_namespaces_of_its_generation(scope, namespace, reason):
    """An agent serves the namespaces of the generation its certificate names (api.planes); nothing else."""
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows/w"
    decision = authorize("get", "GET", path, scope=SCOPES[scope])
    assert reason == decision.reason


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_the_1x_agent_creates_its_namespace_prerequisites_and_no_other(engine):
    scope = SCOPES["workflowplane"]
    for resource, obj in prerequisites("workflows-acme", engine):
        path = resource.path(obj["metadata"].get("namespace"))
        assert "allowed" == authorize("create", "POST", path, (), JSON, body(obj), scope=scope).reason
    other = body({"metadata": {"name": NS}})
    assert (
        "a Namespace must be named workflows-*"
        == authorize("create", "POST", "/api/v1/namespaces", (), JSON, other, scope=scope).reason
    )


CONTENT_TYPES = [
    pytest.param(
        "patch", "PATCH", f"{WF}/w", "application/strategic-merge-patch+json", b"{}", id="strategic"
    ),
    pytest.param("patch", "PATCH", f"{WF}/w", "application/json-patch+json", b"[]", id="json-patch"),
    pytest.param("create", "POST", WF, "application/yaml", b"{}", id="yaml-create"),
    pytest.param("create", "POST", WF, None, b"{}", id="body-without-type"),
    pytest.param("get", "GET", f"{WF}/w", JSON, b"{}", id="get-with-body"),
]


@pytest.mark.parametrize(("verb", "method", "path", "content_type", "data"), CONTENT_TYPES)
def test_content_types(verb, method, path, content_type, data):
    assert not authorize(verb, method, path, (), content_type, data).allowed


HEADERS = [
    pytest.param((("Impersonate-User", "admin"),), (), ["Impersonate-User: impersonation"], id="impersonate-user"),
    pytest.param((("impersonate-group", "system:masters"),), (), ["impersonate-group: impersonation"],
                 id="impersonate-group-lowercase"),
    pytest.param((("Impersonate-Extra-Scopes", "x"),), (), ["Impersonate-Extra-Scopes: impersonation"],
                 id="impersonate-extra"),
    pytest.param((("X-Remote-User", "admin"),), (), ["X-Remote-User: authenticating-proxy identity"],
                 id="x-remote-user"),
    pytest.param((("Connection", "X-Custom"), ("X-Custom", "1")), (),
                 ["Connection: hop-by-hop", "X-Custom: hop-by-hop"], id="connection-named"),
    pytest.param((("Accept", "application/json"),), (), ["Accept: not allowlisted"], id="anything-else"),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "kept", "dropped"), HEADERS)
def test_headers_are_never_forwarded(headers, kept, dropped):
    assert (kept, dropped) == sanitize_headers(headers)


def test_parse_cache_does_not_keep_every_run_specific_request():
    # Most relayed requests name one run's objects and never come again: a soak at 1 run/s filled the old
    # 4,096-entry cache (~2.6 MiB) while the only key that repeated was the create into a namespace.
    parse.cache_clear()
    create = ("POST", WF, (("fieldManager", "choreo-controller"),))
    for i in range(1000):
        uid = f"00000000-0000-4000-8000-{i:012d}"
        parse("GET", f"{WF}/run-{i:06d}")
        parse("GET", "/apis/argoproj.io/v1alpha1/workflows", (("labelSelector", f"x/workflowrun-uid={uid}"),))
        parse(*create)
    info = parse.cache_info()
    assert info.currsize <= 128
    assert info.hits >= 999  # the repeating key stays cached among them
    parse.cache_clear()


def test_request_info_matches_the_apiserver_reading():
    expected = RequestInfo("get", "", "v1", "namespaces", "", NS, "status")
    assert expected == parse("GET", f"/api/v1/namespaces/{NS}/status")


EVIL = ["..", "%2e%2e", "%2E%2e", "%2f", "%5c", "%00", "\x00", "\\", ";", "//", "./", "?watch=1", "#", " ",
        "\t", "\n", "%", "A", "exec", "proxy", "token", "/exec", "/../", "../secrets"]  # fmt: skip
BASES = [p.values for p in ALLOWED]


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(BASES), st.sampled_from(EVIL), st.integers(min_value=0, max_value=200))
def test_evil_fragments_inserted_anywhere_are_never_allowed(base, evil, position):
    verb, method, path, query, content_type, data = base
    cut = position % (len(path) + 1)
    mutated = path[:cut] + evil + path[cut:]
    decision = authorize(verb, method, mutated, query, content_type, data)
    info = decision.info
    # Inserting letters can form another valid name (workflows/w -> workflows/wA is refused only because
    # of the case); whatever is allowed must still be the same resource in a build namespace.
    if decision.allowed:
        assert info is not None
        assert decision.filter_namespaces or (info.namespace or info.name).startswith("openchoreo-ci-")
        assert info.subresource in {"", "log"}
        assert (
            decision.check_pod
            == (info.subresource == "log")
            == (info.resource == "pods" and path.endswith("/log"))
        )
        assert "%" not in mutated
        assert ".." not in mutated
        assert "\\" not in mutated
