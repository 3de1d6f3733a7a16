import asyncio
import json

import pytest

from choreo_controller.api import resources
from choreo_controller.contracts import (
    AlreadyExists,
    ApiError,
    ApiRequest,
    ApiResponse,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    LogOptions,
    NotFound,
    ObjectList,
    ServerError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    WatchEvent,
)
from choreo_controller.kube import KubeClient, TokenBucket, error_for, raise_for_status
from choreo_controller.kube import client as kube_client
from choreo_controller.kube.config import resolve_source

WR = resources.WORKFLOW_RUN
NS = resources.NAMESPACE
RUN = {
    "apiVersion": "openchoreo.dev/v1alpha1",
    "kind": "WorkflowRun",
    "metadata": {"name": "r", "namespace": "ns"},
}


class FakeTransport:
    """Records every request; answers from canned responses (an exception is raised); streams canned lines."""

    def __init__(self, *responses, lines=()):
        self.responses = list(responses)
        self.lines = list(lines)
        self.requests = []
        self.streams_open = 0
        self.closed = False

    async def request(self, req):
        self.requests.append(req)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def stream(self, req):
        self.requests.append(req)
        self.streams_open += 1
        try:
            for line in self.lines:
                if isinstance(line, Exception):
                    raise line
                yield line
        finally:
            self.streams_open -= 1

    async def close(self):
        self.closed = True


def ok(obj, status=200):
    return ApiResponse(status, json.dumps(obj).encode())


def status_body(code, reason, message):
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
    ).encode()


def line(kind, obj):
    return json.dumps({"type": kind, "object": obj}).encode()


# --- error mapping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected_type", "expected_message"),
    [
        pytest.param(400, status_body(400, "BadRequest", "bad"), BadRequest, "bad", id="400"),
        pytest.param(
            401, status_body(401, "Unauthorized", "Unauthorized"), Unauthorized, "Unauthorized", id="401"
        ),
        pytest.param(403, status_body(403, "Forbidden", "no rbac"), Forbidden, "no rbac", id="403"),
        pytest.param(
            404, status_body(404, "NotFound", 'x "r" not found'), NotFound, 'x "r" not found', id="404"
        ),
        pytest.param(409, status_body(409, "Conflict", "stale"), Conflict, "stale", id="409-conflict"),
        pytest.param(
            409, status_body(409, "AlreadyExists", "exists"), AlreadyExists, "exists", id="409-exists"
        ),
        pytest.param(410, status_body(410, "Expired", "too old"), Gone, "too old", id="410"),
        pytest.param(
            422, status_body(422, "Invalid", "spec.x: Invalid"), Invalid, "spec.x: Invalid", id="422"
        ),
        pytest.param(
            429, status_body(429, "TooManyRequests", "slow down"), TooManyRequests, "slow down", id="429"
        ),
        pytest.param(500, status_body(500, "InternalError", "boom"), ServerError, "boom", id="500"),
        pytest.param(
            503, b"<html>secret=hunter2</html>", ServerError, "HTTP 503", id="5xx-html-body-not-copied"
        ),
        pytest.param(
            415, status_body(415, "UnsupportedMediaType", "no smp"), BadRequest, "no smp", id="other-4xx"
        ),
        pytest.param(302, b"", ApiError, "HTTP 302", id="redirect"),
        pytest.param(
            409, b'{"kind":"Status","reason":"Conflict"}', Conflict, "HTTP 409 (Conflict)", id="no-message"
        ),
    ],
)
def test_raise_for_status_maps_once(status, body, expected_type, expected_message):
    with pytest.raises(ApiError) as caught:
        raise_for_status(ApiResponse(status, body))
    assert expected_type is type(caught.value)
    assert expected_message == caught.value.message
    assert status == caught.value.status


def test_error_message_is_truncated():
    err = error_for(422, {"kind": "Status", "message": "x" * 2000})
    assert 500 == len(err.message)
    assert err.message.endswith("...")


@pytest.mark.parametrize("status", [200, 201, 204])
def test_raise_for_status_accepts_2xx(status):
    raise_for_status(ApiResponse(status, b"not json"))


# --- request shapes ----------------------------------------------------------------------------------

PATH = "/apis/openchoreo.dev/v1alpha1/namespaces/ns/workflowruns"


@pytest.mark.parametrize(
    ("call", "expected_request", "expected_body"),
    [
        pytest.param(lambda api: api.get(WR, "r", "ns"), ApiRequest("GET", f"{PATH}/r"), None, id="get"),
        pytest.param(
            lambda api: api.get(NS, "ns"), ApiRequest("GET", "/api/v1/namespaces/ns"), None, id="get-cluster"
        ),
        pytest.param(
            lambda api: api.create(WR, RUN),
            ApiRequest("POST", PATH, content_type="application/json"),
            RUN,
            id="create",
        ),
        pytest.param(
            lambda api: api.replace(WR, RUN, subresource="status"),
            ApiRequest("PUT", f"{PATH}/r/status", content_type="application/json"),
            RUN,
            id="replace-status",
        ),
        pytest.param(
            lambda api: api.merge_patch(WR, "r", {"metadata": {"finalizers": None}}, namespace="ns"),
            ApiRequest("PATCH", f"{PATH}/r", content_type="application/merge-patch+json"),
            {"metadata": {"finalizers": None}},
            id="merge-patch",
        ),
        pytest.param(
            lambda api: api.apply(WR, RUN, field_manager="choreo-controller", subresource="status"),
            ApiRequest(
                "PATCH",
                f"{PATH}/r/status",
                (("fieldManager", "choreo-controller"), ("force", "true")),
                content_type="application/apply-patch+yaml",
            ),
            RUN,
            id="apply-status",
        ),
        pytest.param(
            lambda api: api.apply(WR, RUN, field_manager="m", force=False),
            ApiRequest(
                "PATCH",
                f"{PATH}/r",
                (("fieldManager", "m"), ("force", "false")),
                content_type="application/apply-patch+yaml",
            ),
            RUN,
            id="apply-no-force",
        ),
        pytest.param(
            lambda api: api.delete(
                WR, "r", namespace="ns", uid="u1", resource_version="7", propagation="Foreground"
            ),
            ApiRequest("DELETE", f"{PATH}/r", content_type="application/json"),
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "propagationPolicy": "Foreground",
                "preconditions": {"uid": "u1", "resourceVersion": "7"},
            },
            id="delete-preconditions",
        ),
        pytest.param(
            lambda api: api.delete(WR, "r", namespace="ns"),
            ApiRequest("DELETE", f"{PATH}/r", content_type="application/json"),
            {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
            id="delete-plain",
        ),
    ],
)
async def test_request_shapes(call, expected_request, expected_body):
    transport = FakeTransport(ok(RUN))
    await call(KubeClient(transport))
    [sent] = transport.requests
    assert expected_request == ApiRequest(
        sent.method, sent.path, sent.query, None, sent.content_type, sent.timeout
    )
    assert expected_body == (json.loads(sent.body) if sent.body else None)


async def test_verbs_return_the_server_object_and_raise_mapped_errors():
    transport = FakeTransport(ok(RUN, 201), ApiResponse(409, status_body(409, "AlreadyExists", "taken")))
    api = KubeClient(transport)
    assert RUN == await api.create(WR, RUN)
    with pytest.raises(AlreadyExists, match="taken"):
        await api.create(WR, RUN)


async def test_unavailable_passes_through():
    api = KubeClient(FakeTransport(Unavailable("GET /x: refused")))
    with pytest.raises(Unavailable):
        await api.get(WR, "r", "ns")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda api: api.get(WR, "r"), id="get-without-namespace"),
        pytest.param(lambda api: api.create(WR, {"metadata": {"name": "r"}}), id="create-without-namespace"),
        pytest.param(
            lambda api: api.apply(WR, {"metadata": {"namespace": "ns"}}, field_manager="m"),
            id="apply-without-name",
        ),
    ],
)
async def test_namespaced_verbs_need_namespace_and_name(call):
    transport = FakeTransport()
    with pytest.raises(ValueError, match=r"namespace|name"):
        await call(KubeClient(transport))
    assert [] == transport.requests


async def test_async_with_closes_transport():
    transport = FakeTransport()
    async with KubeClient(transport):
        pass
    assert transport.closed


# --- list ----------------------------------------------------------------------------------------------


def page(names, rv, token=""):
    return ok(
        {
            "kind": "NamespaceList",
            "metadata": {"resourceVersion": rv, "continue": token},
            "items": [{"metadata": {"name": n}} for n in names],
        }
    )


async def test_list_follows_continue_and_types_items():
    transport = FakeTransport(page(["a", "b"], "10", "tok"), page(["c"], "10"))
    result = await KubeClient(transport, page_size=2).list(NS, label_selector="x=y")
    assert (
        ObjectList([{"metadata": {"name": n}, "apiVersion": "v1", "kind": "Namespace"} for n in "abc"], "10")
        == result
    )
    assert [
        (("labelSelector", "x=y"), ("limit", "2")),
        (("labelSelector", "x=y"), ("limit", "2"), ("continue", "tok")),
    ] == [r.query for r in transport.requests]


async def test_list_relists_whole_when_continue_token_expires():
    transport = FakeTransport(
        page(["a"], "10", "tok"),
        ApiResponse(410, status_body(410, "Expired", "token expired")),
        page(["a", "b"], "12"),
    )
    result = await KubeClient(transport, page_size=1).list(NS)
    assert ["a", "b"] == [i["metadata"]["name"] for i in result.items]
    assert "12" == result.resource_version
    assert () == transport.requests[-1].query


async def test_list_pages_fetches_the_next_page_while_one_is_handed_over():
    transport = FakeTransport(
        page(["a"], "10", "t1"),
        page(["b"], "10", "t2"),
        ApiResponse(410, status_body(410, "Expired", "token expired")),
        page(["a", "c"], "12"),
    )
    seen = []
    async for listed in KubeClient(transport, page_size=1).list_pages(NS):
        await asyncio.sleep(0)  # as the informer does before storing a page: the next request goes out
        seen.append((len(transport.requests), [i["metadata"]["name"] for i in listed.items], listed.first))
    # (requests made while the page was being stored, its names, whether it starts a list)
    assert [(2, ["a"], True), (4, ["b"], False), (4, ["a", "c"], True)] == seen


def cr_page(names, rv, token=""):
    """A page as the apiserver encodes a custom resource's list: sorted keys, the list's metadata last."""
    body = {"apiVersion": "openchoreo.dev/v1alpha1", "items": [{"metadata": {"name": n}} for n in names],
            "kind": "WorkflowRunList", "metadata": {"continue": token, "resourceVersion": rv}}  # fmt: skip
    return ok(body)


async def test_list_pages_requests_the_next_page_before_decoding_this_one(monkeypatch):
    transport = FakeTransport(cr_page(["a"], "10", "t1"), cr_page(["b"], "10", "t2"), cr_page(["c"], "10"))
    decoding = []
    decode = kube_client._decode

    def counted(req, body):
        decoding.append(len(transport.requests))  # requests made when a page is decoded
        return decode(req, body)

    monkeypatch.setattr(kube_client, "_decode", counted)
    names = [[i["metadata"]["name"] for i in p.items] async for p in KubeClient(transport).list_pages(WR)]
    assert ([["a"], ["b"], ["c"]], [2, 3, 3]) == (names, decoding)
    assert [None, "t1", "t2"] == [dict(r.query).get("continue") for r in transport.requests]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b'{"items":[],"metadata":{"continue":"eyJ2Ijoi","resourceVersion":"7"}}', "eyJ2Ijoi", id="cr-list"
        ),
        pytest.param(
            b'{"metadata":{"continue":"tok"},"items":[{"metadata":{"name":"a"}}]}', "", id="typed-list"
        ),
        pytest.param(
            b'{"items":[{"metadata":{"name":"a"},"note":"\\"metadata\\":{\\"continue\\":\\"no\\"}"}]}',
            "",
            id="escaped-in-a-string",
        ),
        pytest.param(b'{"items": [], "metadata": {"continue": "a b"}}', "a b", id="spaced"),
        pytest.param(b'{"items":[],"metadata":{"resourceVersion":"7"}}', "", id="last-page"),
        pytest.param(b'{"items":[],"metadata":{"continue":', "", id="truncated"),
        pytest.param(b"", "", id="empty"),
    ],
)
def test_continue_hint(body, expected):
    assert expected == kube_client._continue_hint(body)


async def test_a_wrong_hint_is_dropped_for_the_decoded_token():
    """A hint is checked against the decoded page: here the last ``metadata`` is an item's, with a token."""
    first = ok(
        {"kind": "List", "metadata": {"continue": "right"}, "items": [{"metadata": {"continue": "x"}}]}
    )
    transport = FakeTransport(first, page(["wrong"], "10"), page(["b"], "10"))  # the hint's page is dropped
    listed = [
        [i["metadata"].get("name") for i in p.items] async for p in KubeClient(transport).list_pages(NS)
    ]
    assert [[None], ["b"]] == listed
    assert [None, "x", "right"] == [dict(r.query).get("continue") for r in transport.requests]


MANAGED = [
    {"apiVersion": "openchoreo.dev/v1alpha1", "fieldsType": "FieldsV1", "manager": "m", "operation": "Update",
     "fieldsV1": {"f:spec": {".": {}, "f:x": {}}, "f:status": {'k:{"type":"Ready"}': {}}},
     "time": "2026-12-04T00:00:00Z"},
    {"apiVersion": "openchoreo.dev/v1alpha1", "fieldsType": "FieldsV1", "manager": "n", "operation": "Update",
     "fieldsV1": {"f:status": {"f:tasks": {}}}, "subresource": "status", "time": "2026-12-04T00:00:01Z"},
]  # fmt: skip


def cr_run(name, **spec):
    return {"apiVersion": "openchoreo.dev/v1alpha1", "kind": "WorkflowRun",
            "metadata": {"creationTimestamp": "2026-12-04T00:00:00Z", "finalizers": ["f"], "generation": 1,
                         "labels": {"name": "x"}, "managedFields": MANAGED, "name": name, "namespace": "ns",
                         "resourceVersion": "5", "uid": f"u-{name}"},
            "spec": spec, "status": {"tasks": [{"name": "a"}]}}  # fmt: skip


def apiserver_json(obj):
    """As the apiserver encodes a custom resource (unstructured): sorted keys, no spaces."""
    return ApiResponse(200, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def run_list(*runs, token=""):
    return {"apiVersion": "openchoreo.dev/v1alpha1", "items": list(runs), "kind": "WorkflowRunList",
            "metadata": {"continue": token, "resourceVersion": "9"}}  # fmt: skip


def without_managed(obj):
    obj = json.loads(json.dumps(obj))
    del obj["metadata"]["managedFields"]
    return obj


async def listed_and_decoded(monkeypatch, *responses, res=WR, **kwargs):
    """The items listed, and the bodies ``json`` decoded to list them."""
    bodies, decode = [], kube_client._decode
    monkeypatch.setattr(kube_client, "_decode", lambda req, body: bodies.append(body) or decode(req, body))
    pages = KubeClient(FakeTransport(*responses)).list_pages(res, **kwargs)
    return [item async for page in pages for item in page.items], bodies


async def test_list_pages_without_managed_fields_never_decodes_them(monkeypatch):
    runs = [cr_run("a"), cr_run("b")], [cr_run("c")]
    items, bodies = await listed_and_decoded(
        monkeypatch, apiserver_json(run_list(*runs[0], token="t")), apiserver_json(run_list(*runs[1])),
        managed_fields=False,
    )  # fmt: skip
    assert [without_managed(r) for r in (*runs[0], *runs[1])] == items
    assert 2 == len(bodies)
    assert not any(b"fieldsV1" in body for body in bodies)


async def test_list_pages_keeps_managed_fields_unless_asked(monkeypatch):
    items, _ = await listed_and_decoded(monkeypatch, apiserver_json(run_list(cr_run("a"))))
    assert [cr_run("a")] == items


@pytest.mark.parametrize(
    "runs",
    [
        pytest.param(
            # Its managedFields stripped by someone, a run's parameters hold something shaped like them.
            [
                cr_run("a"),
                {**without_managed(cr_run("b")), "spec": {"p": {"managedFields": MANAGED, "name": "n"}}},
            ],
            id="a-look-alike-in-a-run-without-managed-fields",
        ),
        pytest.param(
            [cr_run("a", p={"managedFields": MANAGED, "name": "n"})], id="a-look-alike-besides-the-real-ones"
        ),
        pytest.param([cr_run("a"), without_managed(cr_run("b"))], id="a-run-without"),
        pytest.param(
            # No "name" after it: the cut runs on to the next item's managedFields and leaves no JSON.
            [cr_run("a", p={"managedFields": [{"apiVersion": "x"}]}), cr_run("b")],
            id="a-look-alike-whose-cut-is-not-json",
        ),
    ],
)
async def test_list_pages_without_managed_fields_cuts_nothing_else(monkeypatch, runs):
    """When a cut may have hit anything but an item's managedFields, the page is decoded whole instead."""
    items, bodies = await listed_and_decoded(
        monkeypatch, apiserver_json(run_list(*runs)), managed_fields=False
    )
    expected = [json.loads(json.dumps(r)) for r in runs]
    for run in expected:
        run["metadata"].pop("managedFields", None)
    assert expected == items
    assert b"fieldsV1" in bodies[-1]  # the page as sent


async def test_list_pages_without_managed_fields_of_a_built_in_kind(monkeypatch):
    """A built-in kind's list is encoded in field order (``manager`` first): decoded whole, fields dropped."""
    namespace = {"metadata": {"name": "a", "managedFields": [{"manager": "m", "apiVersion": "v1"}]}}
    body = {"kind": "NamespaceList", "metadata": {"resourceVersion": "1"}, "items": [namespace]}
    items, bodies = await listed_and_decoded(monkeypatch, ok(body), res=NS, managed_fields=False)
    assert [{"metadata": {"name": "a"}, "apiVersion": "v1", "kind": "Namespace"}] == items
    assert [json.dumps(body).encode()] == bodies


async def test_list_first_page_gone_raises():
    transport = FakeTransport(ApiResponse(410, status_body(410, "Expired", "too old")))
    with pytest.raises(Gone):
        await KubeClient(transport).list(NS)


# --- watch ---------------------------------------------------------------------------------------------

OBJ = {"metadata": {"name": "r", "resourceVersion": "11"}}
BOOKMARK = {"kind": "WorkflowRun", "metadata": {"resourceVersion": "15"}}


async def test_watch_request_and_events():
    transport = FakeTransport(
        lines=[line("ADDED", OBJ), line("BOOKMARK", BOOKMARK), line("FUTURE", OBJ), line("DELETED", OBJ)]
    )
    api = KubeClient(transport)
    events = [
        e async for e in api.watch(WR, "ns", resource_version="10", label_selector="a=b", timeout_seconds=60)
    ]
    assert [WatchEvent("ADDED", OBJ), WatchEvent("BOOKMARK", BOOKMARK), WatchEvent("DELETED", OBJ)] == events
    [req] = transport.requests
    assert (
        ApiRequest(
            "GET",
            PATH,
            (
                ("watch", "1"),
                ("resourceVersion", "10"),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", "60"),
                ("labelSelector", "a=b"),
            ),
            timeout=90,
        )
        == req
    )


@pytest.mark.parametrize(
    ("status", "expected_type"),
    [
        pytest.param(
            {
                "kind": "Status",
                "code": 410,
                "reason": "Expired",
                "message": "too old resource version: 10 (20)",
            },
            Gone,
            id="gone",
        ),
        pytest.param(
            {"kind": "Status", "code": 500, "reason": "InternalError", "message": "etcd"},
            ServerError,
            id="server",
        ),
        pytest.param({"kind": "Status"}, ServerError, id="no-code"),
    ],
)
async def test_watch_error_event_raises_mapped_error(status, expected_type):
    transport = FakeTransport(lines=[line("ADDED", OBJ), line("ERROR", status), line("ADDED", OBJ)])
    events = KubeClient(transport).watch(WR, "ns", resource_version="10")
    assert "ADDED" == (await anext(events)).type
    with pytest.raises(expected_type):
        await anext(events)
    assert 0 == transport.streams_open


async def test_closing_watch_early_closes_stream():
    transport = FakeTransport(lines=[line("ADDED", OBJ)] * 3)
    events = KubeClient(transport).watch(WR, "ns", resource_version="1")
    assert "ADDED" == (await anext(events)).type
    assert 1 == transport.streams_open
    await events.aclose()
    assert 0 == transport.streams_open


async def test_a_watch_skips_blank_lines():
    transport = FakeTransport(lines=[b"", line("ADDED", OBJ), b"  "])
    assert [WatchEvent("ADDED", OBJ)] == [
        e async for e in KubeClient(transport).watch(WR, "ns", resource_version="1")
    ]


@pytest.mark.parametrize(
    ("options", "query", "seconds"),
    [
        pytest.param(LogOptions("main"), (("container", "main"),), 60.0, id="plain"),
        pytest.param(
            LogOptions("main", follow=True, timestamps=True, since_seconds=60, tail_lines=5, limit_bytes=1024),
            (("container", "main"), ("follow", "true"), ("timestamps", "true"), ("sinceSeconds", "60"),
             ("tailLines", "5"), ("limitBytes", "1024")),
            None,
            id="all",
        ),
        pytest.param(
            LogOptions("wait", since_time="2026-03-01T12:00:00Z", tail_lines=0),
            (("container", "wait"), ("tailLines", "0"), ("sinceTime", "2026-03-01T12:00:00Z")),
            60.0,
            id="since-time",
        ),
    ],
)  # fmt: skip
async def test_log_request_and_lines(options, query, seconds):
    transport = FakeTransport(lines=[b"one", b"", b"three"])
    lines = [x async for x in KubeClient(transport).log("ns", "pod-1", options)]
    expected = ApiRequest("GET", "/api/v1/namespaces/ns/pods/pod-1/log", query, timeout=seconds)
    assert ([b"one", b"", b"three"], [expected], 0) == (lines, transport.requests, transport.streams_open)


async def test_watch_stream_failure_propagates():
    transport = FakeTransport(lines=[line("ADDED", OBJ), Unavailable("reset")])
    with pytest.raises(Unavailable):
        async for _ in KubeClient(transport).watch(WR, "ns", resource_version="1"):
            pass
    assert 0 == transport.streams_open


# --- token bucket and config resolution ---------------------------------------------------------------


class SteppedTime:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def monotonic(self):
        return self.now

    async def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("qps", "burst", "gaps", "expected_delays"),
    [
        pytest.param(10, 3, [0, 0, 0, 0, 0], [0, 0, 0, 0.1, 0.2], id="burst-then-qps"),
        pytest.param(10, 2, [0, 0, 1.0, 0], [0, 0, 0, 0], id="refills-over-time"),
        pytest.param(2, 1, [0, 0, 0], [0, 0.5, 1.0], id="deficit-accumulates"),
    ],
)
def test_token_bucket_reservations(qps, burst, gaps, expected_delays):
    time = SteppedTime()
    bucket = TokenBucket(qps, burst, monotonic=time.monotonic, sleep=time.sleep)
    delays = []
    for gap in gaps:
        time.now += gap
        delays.append(round(bucket.reserve(), 6))
    assert expected_delays == delays


async def test_token_bucket_wait_sleeps_off_the_deficit():
    time = SteppedTime()
    bucket = TokenBucket(5, 1, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(3):
        await bucket.wait()
    assert [0.2, 0.2] == [round(s, 6) for s in time.slept]


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        pytest.param("/k", {"KUBECONFIG": "/env"}, ("kubeconfig", "/k"), id="explicit-wins"),
        pytest.param(
            None,
            {"KUBECONFIG": "/a:/b", "KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "1"},
            ("kubeconfig", "/a:/b"),
            id="env",
        ),
        pytest.param(
            None,
            {"KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "443"},
            ("in-cluster", None),
            id="in-cluster",
        ),
    ],
)
def test_resolve_source(explicit, environ, expected):
    assert expected == resolve_source(explicit, environ)


def test_resolve_source_falls_back_to_home():
    kind, path = resolve_source(None, {})
    assert "kubeconfig" == kind
    assert path.endswith("/.kube/config")
