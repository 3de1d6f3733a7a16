"""Issue 6 acceptance: authorization fuzz through the whole relay (gateway -> agent -> real build-plane apiserver).

Over 2,000 generated requests outside the allowlist are sent as raw envelopes (bypassing ``RelayTransport``,
which would refuse most of them itself): 0 reach the apiserver, every answer is the agent's 403 (policy) or
400 (protocol). The allowed set - everything the engine does, and what people read of a run - is served.
Log streams (``log_start``) get their own family: other subresources, foreign namespaces, options we never
send, evil paths, a pod without an engine's run label: 0 logs read; a run pod's log is read. Smuggled
impersonation headers are dropped: the apiserver honours ``Impersonate-User`` when sent directly (403 for a
user without rights), yet the same request through the relay succeeds as the agent's own identity.
"""

import asyncio
import itertools
import json
import ssl
import uuid

import aiohttp
import pytest
from relayharness import JSON, MERGE, Pki, Recording, allowed_requests, running_agent, running_gateway, send

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.relay import protocol
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory

pytestmark = pytest.mark.cluster
REF = PlaneRef("BuildPlane", "acme", "fuzz")


EVIL = ["..", "%2e%2e", "%2E%2e", "%2e", "%2f", "%2F", "%5c", "%00", "\x00", "\\", ";", ";x=1", "//", "/./",
        "/../", "?watch=1", "#", " ", "\t", "\r\n", "%", "A", "\u0131", "\uff0e\uff0e"]  # fmt: skip
SUBRESOURCES = ["exec", "proxy", "attach", "portforward", "token", "log", "status", "eviction", "binding",
                "scale", "finalize", "ephemeralcontainers"]  # fmt: skip
FOREIGN_NAMESPACES = ["kube-system", "default", "argo", "kube-public", "openchoreo-ci", "openchoreo-cix",
                      "xopenchoreo-ci-a", "OPENCHOREO-CI-A", "openchoreo-ci-a.b", "openchoreo-control-plane"]  # fmt: skip
FOREIGN_RESOURCES = [("", "v1", "pods"), ("", "v1", "services"), ("", "v1", "limitranges"),
                     ("", "v1", "events"), ("apps", "v1", "deployments"), ("batch", "v1", "jobs"),
                     ("argoproj.io", "v1alpha1", "cronworkflows"), ("argoproj.io", "v1alpha1", "workflowtemplates"),
                     ("argoproj.io", "v1alpha1", "workfloweventbindings"),
                     ("external-secrets.io", "v1beta1", "secretstores"),
                     ("coordination.k8s.io", "v1", "leases"), ("argoproj.io", "v1alpha1", "workflowtaskresults"),
                     ("tekton.dev", "v1", "tasks"), ("tekton.dev", "v1", "pipelines"),
                     ("tekton.dev", "v1beta1", "customruns"), ("tekton.dev", "v1beta1", "pipelineruns"),
                     ("resolution.tekton.dev", "v1beta1", "resolutionrequests")]  # fmt: skip
CLUSTER_RESOURCES = [("", "v1", "nodes"), ("", "v1", "persistentvolumes"),
                     ("rbac.authorization.k8s.io", "v1", "clusterroles"),
                     ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
                     ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                     ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations"),
                     ("argoproj.io", "v1alpha1", "clusterworkflowtemplates"),
                     ("external-secrets.io", "v1beta1", "clustersecretstores")]  # fmt: skip
METHOD_VERB = [("GET", "get"), ("GET", "list"), ("POST", "create"), ("PUT", "update"), ("PATCH", "patch"),
               ("DELETE", "delete")]  # fmt: skip


def _base(group, version):
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _ctype(method):
    return {"POST": JSON, "PUT": JSON, "PATCH": MERGE}.get(method)


def _non_canonical(allowed):
    """Evil fragments at every segment boundary, case and a trailing slash; declared verbs that lie."""
    out = []
    for verb, method, path, query, ctype, body, _ in allowed:
        boundaries = [i for i, ch in enumerate(path) if ch == "/"] + [len(path)]
        out += [(verb, method, path[:cut] + evil + path[cut:], query, ctype, body)
                for evil, cut in itertools.product(EVIL, boundaries)]  # fmt: skip
        out += [
            (verb, method, path.upper(), query, ctype, body),
            (verb, method, path + "/", query, ctype, body),
        ]
        out += [(wrong, method, path, query, ctype, body) for wrong in {v for _, v in METHOD_VERB} - {verb}]
    return out


def _subresources(allowed):
    named = [r[2] for r in allowed if r[0] in {"get", "patch", "delete"}]
    return [(verb, method, f"{path}/{sub}", (), _ctype(method), b"{}" if _ctype(method) else None)
            for path, sub, (method, verb) in itertools.product(named, SUBRESOURCES, METHOD_VERB)]  # fmt: skip


def _foreign_namespaces(allowed, ns):
    out = []
    for foreign in FOREIGN_NAMESPACES:
        out += [(verb, method, path.replace(f"/namespaces/{ns}/", f"/namespaces/{foreign}/"), query, ctype, body)
                for verb, method, path, query, ctype, body, _ in allowed if f"/namespaces/{ns}/" in path]  # fmt: skip
        named = json.dumps({"metadata": {"name": foreign}}).encode()
        out += [("get", "GET", f"/api/v1/namespaces/{foreign}", (), None, None),
                ("create", "POST", "/api/v1/namespaces", (), JSON, named)]  # fmt: skip
    return out


def _foreign_resources(ns):
    out = []
    for (group, version, resource), namespace in itertools.product(
        FOREIGN_RESOURCES, [ns, "kube-system", "default"]
    ):
        collection = f"{_base(group, version)}/namespaces/{namespace}/{resource}"
        out += [("get", "GET", f"{collection}/x", (), None, None), ("list", "GET", collection, (), None, None),
                ("create", "POST", collection, (), JSON, b"{}"), ("delete", "DELETE", f"{collection}/x", (), None, None),
                ("list", "GET", collection, (("watch", "1"),), None, None)]  # fmt: skip
    return out


def _cluster_scoped():
    out = []
    for (group, version, resource), (method, verb) in itertools.product(CLUSTER_RESOURCES, METHOD_VERB):
        collection = f"{_base(group, version)}/{resource}"
        path = collection if verb in {"list", "create"} else f"{collection}/x"
        out.append((verb, method, path, (), _ctype(method), b"{}" if _ctype(method) else None))
    return out


def _tricks(ns):
    """Query, content-type, body and method tricks on otherwise allowed targets."""
    wf = f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows"
    rb = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    queries = [(("watch", "yes"),), (("watch", "True"),), (("watch", "1"), ("watch", "0")), (("watch", "0"),),
               (("pretty", "true"),), (("dryRun", "All"),), (("limit", "1"), ("limit", "2")),
               (("labelSelector", "a\x00b"),), (("fieldSelector", "metadata.name=w\n"),)]  # fmt: skip
    out = [(verb, "GET", target, query, None, None)
           for query, verb, target in itertools.product(queries, ["list", "get"], [wf, f"{wf}/w"])]  # fmt: skip
    out.append(("get", "GET", f"{wf}/w", (("watch", "true"),), None, None))  # named watch
    out += [("list", "GET", target, (("watch", "1"),), None, None)
            for target in ["/api/v1/namespaces", f"/api/v1/namespaces/{ns}/serviceaccounts", "/api/v1/watch/namespaces"]]  # fmt: skip
    out += [("patch", "PATCH", f"{wf}/w", (), ctype, b"[]")
            for ctype in ["application/strategic-merge-patch+json", "application/json-patch+json", "application/yaml",
                          "text/plain", None, "application/json; charset=utf-8"]]  # fmt: skip
    roles = [{"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]},
             {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}]  # fmt: skip
    out += [("create", "POST", f"{rb}/roles", (), JSON, json.dumps(role).encode()) for role in roles]
    admin = {
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}
    }
    out.append(("create", "POST", f"{rb}/rolebindings", (), JSON, json.dumps(admin).encode()))
    # refused by the protocol layer already
    out += [
        ("get", method, f"{wf}/w", (), None, None)
        for method in ["get", "CONNECT", "TRACE", "OPTIONS", "HEAD"]
    ]
    return out


def _least_privilege(ns):
    """Relay-review finding 5: verbs the engine never uses, and bodies beyond what it writes."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    b = lambda o: json.dumps(o).encode()  # noqa: E731
    privileged = {"pod-security.kubernetes.io/enforce": "privileged"}
    node = {"scheduler.alpha.kubernetes.io/node-selector": "pool=gpu"}
    patches = [(f"/api/v1/namespaces/{ns}", {"metadata": {"labels": privileged}}),
               (f"/api/v1/namespaces/{ns}", {"metadata": {"annotations": node}}),
               (f"/api/v1/namespaces/{ns}/serviceaccounts/workflow-sa", {"automountServiceAccountToken": True}),
               (f"{rbac}/roles/wf", {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
               (f"{rbac}/rolebindings/wf", {"metadata": {"labels": {"a": "b"}}})]  # fmt: skip
    out = [("patch", "PATCH", path, (), ctype, b(patch))
           for (path, patch), ctype in itertools.product(patches, [MERGE, "application/apply-patch+yaml"])]  # fmt: skip
    creates = [("/api/v1/namespaces", {"metadata": {"name": f"{ns}-x", "labels": privileged}}),
               ("/api/v1/namespaces", {"metadata": {"name": f"{ns}-x", "annotations": node}}),
               ("/api/v1/namespaces", {"metadata": {"name": f"{ns}-x", "labels": {"team": "x"}}}),
               ("/api/v1/namespaces", {"metadata": {"name": f"{ns}-x"}, "spec": {"finalizers": ["x"]}}),
               (f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "x", "labels": privileged}}),
               (f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "x", "annotations": node}}),
               (f"/api/v1/namespaces/{ns}/secrets",
                {"metadata": {"name": "x", "annotations": {"kubernetes.io/service-account.name": "workflow-sa"}},
                 "type": "kubernetes.io/service-account-token"}),
               (f"{rbac}/roles", {"metadata": {"name": "x", "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
                                  "rules": []})]  # fmt: skip
    out += [("create", "POST", path, (), JSON, b(obj)) for path, obj in creates]
    return out


def denied_requests(ns):
    """Requests outside the allowlist, by construction: each family is outside for the reason it is named by."""
    allowed = allowed_requests(ns)
    families = [_non_canonical(allowed), _subresources(allowed), _foreign_namespaces(allowed, ns),
                _foreign_resources(ns), _cluster_scoped(), _tricks(ns), _least_privilege(ns)]  # fmt: skip
    return list(dict.fromkeys(r for family in families for r in family))


def denied_log_streams(ns):
    """``log_start`` paths and queries outside the allowlist (the pods exist: see ``run_pods``); all 403."""
    pod = f"/api/v1/namespaces/{ns}/pods/{RUN_POD}"
    ok = (("container", "main"),)
    out = [(f"{pod}/{sub}", ok) for sub in SUBRESOURCES if sub != "log"]
    out += [(f"{pod}/{sub}", ()) for sub in SUBRESOURCES if sub != "log"]
    out += [(f"/api/v1/namespaces/{foreign}/pods/{RUN_POD}/log", ok) for foreign in FOREIGN_NAMESPACES]
    bad_options = [(), (("container", "Main"),), (("container", "main"), ("previous", "true")),
                   (("container", "main"), ("insecureSkipTLSVerifyBackend", "true")),
                   (("container", "main"), ("follow", "yes")), (("container", "main"), ("tailLines", "-5")),
                   (("container", "main"), ("limitBytes", "1e9")), (("container", "main"), ("sinceTime", "now")),
                   (("container", "main"), ("watch", "1")), (("container", "main"), ("container", "wait")),
                   (("container", "main"), ("pretty", "true"))]  # fmt: skip
    out += [(f"{pod}/log", query) for query in bad_options]
    out.append((f"/api/v1/namespaces/{ns}/pods/{OTHER_POD}/log", ok))  # no engine's run label
    path = f"{pod}/log"
    boundaries = [i for i, ch in enumerate(path) if ch == "/"] + [len(path)]
    out += [(path[:cut] + evil + path[cut:], ok) for evil, cut in itertools.product(EVIL, boundaries)]
    out += [
        (path.upper(), ok),
        (path + "/", ok),
        (f"/api/v1/pods/{RUN_POD}/log", ok),
        ("/api/v1/nodes/n/log", ok),
    ]
    out += [
        (f"{_base(g, v)}/namespaces/{ns}/{r}/x/log", ok)
        for g, v, r in FOREIGN_RESOURCES + CLUSTER_RESOURCES
        if r != "pods"  # pods/x/log is allowed (a pod named x)
    ]
    out += [(f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows/w/log", ok),
            (f"/api/v1/namespaces/{ns}/serviceaccounts/workflow-sa/log", ok)]  # fmt: skip
    return list(dict.fromkeys(out))


RUN_POD, OTHER_POD = "run-pod", "other-pod"


async def run_pods(direct, ns):
    """A build namespace with a pod labelled for a run and one that is not."""
    await direct.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )
    for name, labels in ((RUN_POD, {"workflows.argoproj.io/workflow": "w"}), (OTHER_POD, {"app": "x"})):
        await direct.create(resources.POD, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "main", "image": "alpine:3.20"}]},
        })  # fmt: skip


async def read_log(session, path, query):
    """One log stream as raw frames: ``(status of its LogEnd, bytes received)``."""
    channel = await session.log(protocol.LogStart(session.next_id(), path, query, 30.0, 256 * 1024))
    received = b""
    while True:
        item = await asyncio.wait_for(channel.next(), 60)
        if isinstance(item, bytes):
            received += item
            continue
        return (item.status if isinstance(item, protocol.LogEnd) else 0), received


@pytest.fixture
async def relay(tmp_path, build_plane):
    pki = Pki(tmp_path)
    async with (
        kube.connect(build_plane.kubeconfig) as direct,
        running_gateway(pki, PlaneDirectory([pki.record("fuzz", REF)])) as gateway,
    ):
        served = Recording(direct.transport)
        async with running_agent(gateway.port, pki, pki.agent("fuzz"), served):
            yield gateway.registry.pick("fuzz"), served, direct


async def test_nothing_outside_the_allowlist_is_served(relay):
    session, served, _ = relay
    ns = f"openchoreo-ci-fuzz-{uuid.uuid4().hex[:6]}"
    variants = denied_requests(ns)
    assert len(variants) >= 2000
    responses = await send(session, variants)
    statuses = {r.status for r in responses}
    sources = {json.loads(r.body)["message"].split(":")[0] for r in responses}
    assert ({400, 403}, {"relay policy", "relay protocol"}, []) == (statuses, sources, served.calls)


async def test_the_allowlist_is_served(relay):
    session, served, direct = relay
    ns = f"openchoreo-ci-fuzz-{uuid.uuid4().hex[:6]}"
    requests = allowed_requests(ns)
    statuses = []
    for verb, method, path, query, ctype, body, _ in requests:
        statuses += [r.status for r in await send(session, [(verb, method, path, query, ctype, body)])]
    assert [r[-1] for r in requests] == statuses
    assert len(requests) == len(served.calls)
    await direct.delete(resources.NAMESPACE, ns)


async def test_log_streams_outside_the_allowlist_read_nothing(relay):
    session, served, direct = relay
    ns = f"openchoreo-ci-logs-{uuid.uuid4().hex[:6]}"
    await run_pods(direct, ns)
    variants = denied_log_streams(ns)
    assert len(variants) >= 250
    answers = await asyncio.gather(*(read_log(session, path, query) for path, query in variants))
    logs_read = [call.path for call in served.calls if call.path.endswith("/log")]
    assert ({403}, set(), []) == (  # the policy's answer (400 is for frames that are not valid envelopes)
        {status for status, _ in answers},
        {d for _, d in answers if d},
        logs_read,
    )
    status, _ = await read_log(
        session, f"/api/v1/namespaces/{ns}/pods/{RUN_POD}/log", (("container", "main"),)
    )
    assert [f"/api/v1/namespaces/{ns}/pods/{RUN_POD}/log"] == [
        c.path for c in served.calls if c.path.endswith("/log")
    ]
    assert status not in {400, 403}, "a run pod's log is served"
    await direct.delete(resources.NAMESPACE, ns)


async def test_smuggled_impersonation_never_reaches_the_apiserver(relay, build_plane):
    session, _, direct = relay
    ns = f"openchoreo-ci-imp-{uuid.uuid4().hex[:6]}"
    body = json.dumps({"metadata": {"name": ns}}).encode()
    smuggled = (("Impersonate-User", "nobody"), ("Impersonate-Group", "nobodies"), ("X-Remote-User", "nobody"),
                ("Connection", "X-Sneaky"), ("X-Sneaky", "1"))  # fmt: skip
    # Sent straight to the apiserver as the same admin, the header takes effect: nobody may not create namespaces.
    ctx = ssl.create_default_context(cafile=str(build_plane.pki / "serving-ca.crt"))
    ctx.load_cert_chain(str(build_plane.pki / "admin.crt"), str(build_plane.pki / "admin.key"))
    async with aiohttp.ClientSession() as http:
        direct_resp = await http.post(f"{build_plane.server}/api/v1/namespaces", data=body, ssl=ctx,
                                      headers={"Content-Type": JSON, "Impersonate-User": "nobody"})  # fmt: skip
        direct_status = direct_resp.status
        direct_resp.release()
    # Through the relay, the headers are dropped and the agent's own identity (admin here) creates it.
    (relayed,) = await send(
        session, [("create", "POST", "/api/v1/namespaces", (), JSON, body)], headers=smuggled
    )
    created = json.loads(relayed.body)
    assert (403, 201, ns) == (direct_status, relayed.status, created["metadata"]["name"])
    await direct.delete(resources.NAMESPACE, ns)
