"""The relay envelope: every message round-trips; every malformed frame is a ProtocolError, never a crash."""

import base64
import contextlib
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from choreo_controller.relay import protocol
from choreo_controller.relay.protocol import (
    MAX_BODY,
    MAX_FRAME,
    Hello,
    LogCancel,
    LogCredit,
    LogData,
    LogEnd,
    LogStart,
    Ping,
    ProtocolError,
    Request,
    Response,
    WatchBookmark,
    WatchCancel,
    WatchEnd,
    WatchEvent,
    WatchStart,
    decode,
    encode,
)

MESSAGES = [
    pytest.param(Hello("agent-0"), id="hello"),
    pytest.param(Ping(), id="ping"),
    pytest.param(
        Request(
            "s.1",
            "patch",
            "PATCH",
            "/apis/argoproj.io/v1alpha1/namespaces/openchoreo-ci-a/workflows/w",
            (("fieldManager", "x"), ("force", "true")),
            (("X-Extra", "1"),),
            "application/apply-patch+yaml",
            b'{"a":1}',
            12.5,
        ),
        id="request-full",
    ),
    pytest.param(Request("s.2", "get", "GET", "/api/v1/namespaces/x"), id="request-minimal"),
    pytest.param(Response("s.1", 200, "application/json", b"\x00\xffbinary"), id="response-binary-body"),
    pytest.param(Response("s.1", 404), id="response-empty"),
    pytest.param(WatchStart("w.1", "/apis/g/v1/things", (("watch", "1"),), (), 330.0), id="watch-start"),
    pytest.param(WatchEvent("w.1", "42", b'{"type":"ADDED","object":{}}'), id="watch-event"),
    pytest.param(WatchBookmark("w.1", "43"), id="watch-bookmark"),
    pytest.param(WatchEnd("w.1"), id="watch-end-normal"),
    pytest.param(WatchEnd("w.1", 410, b'{"kind":"Status"}'), id="watch-end-gone"),
    pytest.param(WatchCancel("w.1"), id="watch-cancel"),
    pytest.param(LogStart("l.1", "/api/v1/namespaces/n/pods/p/log", (("container", "main"),), 3600.0, 262144),
                 id="log-start"),
    pytest.param(LogData("l.1", b"line one\n\xff partial"), id="log-data"),
    pytest.param(LogCredit("l.1", 131072), id="log-credit"),
    pytest.param(LogEnd("l.1"), id="log-end-normal"),
    pytest.param(LogEnd("l.1", 404, b'{"kind":"Status"}'), id="log-end-not-found"),
    pytest.param(LogCancel("l.1"), id="log-cancel"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("msg", "version"),
    [
        pytest.param(Ping(), 1, id="ping"),
        pytest.param(WatchEnd("w.1"), 1, id="watch-end"),
        pytest.param(LogStart("l.1", "/p"), 2, id="log-start"),
        pytest.param(LogCancel("l.1"), 2, id="log-cancel"),
    ],
)
def test_a_frame_carries_the_version_that_introduced_its_type(msg, version):
    assert version == json.loads(encode(msg))["v"]


@pytest.mark.parametrize("msg", MESSAGES)
def test_round_trip(msg):
    assert msg == decode(encode(msg))


def test_frame_is_a_versioned_json_object_with_base64_bodies():
    frame = json.loads(encode(Response("s.1", 201, "application/json", b"{}")))
    assert {"v": 1, "type": "response", "id": "s.1", "status": 201, "contentType": "application/json",
            "body": base64.b64encode(b"{}").decode()} == frame  # fmt: skip


def frame(**fields):
    return json.dumps({"v": 1, **fields})


BAD = [
    pytest.param("not json", None, id="not-json"),
    pytest.param("[1, 2]", None, id="array"),
    pytest.param('"text"', None, id="string"),
    pytest.param("[" * 100_000 + "]" * 100_000, None, id="deep-nesting"),
    pytest.param(json.dumps({"type": "ping"}), None, id="no-version"),
    pytest.param(json.dumps({"v": 2, "type": "ping"}), None, id="version-2"),
    pytest.param(json.dumps({"v": 3, "type": "ping"}), None, id="version-3"),
    pytest.param(frame(type="log_start", id="l", path="/p"), "l", id="log-start-as-version-1"),
    pytest.param(json.dumps({"v": 2, "type": "log_data", "id": "l", "data": base64.b64encode(b"x" * (64 * 1024 + 1)).decode()}),
                 "l", id="log-data-over-a-chunk"),
    pytest.param(json.dumps({"v": 2, "type": "log_credit", "id": "l", "bytes": -1}), "l", id="credit-negative"),
    pytest.param(json.dumps({"v": 2, "type": "log_credit", "id": "l", "bytes": 2**40}), "l", id="credit-huge"),
    pytest.param(json.dumps({"v": 2, "type": "log_credit", "id": "l", "bytes": 1.5}), "l", id="credit-fraction"),
    pytest.param(json.dumps({"v": 2, "type": "log_start", "id": "l", "path": "/p", "credit": True}), "l",
                 id="credit-bool"),
    pytest.param(json.dumps({"v": 2, "type": "log_start", "id": "l", "path": "/p", "headers": {}}), "l",
                 id="log-start-headers"),
    pytest.param(json.dumps({"v": True, "type": "ping"}), None, id="version-bool"),
    pytest.param(json.dumps({"v": "1", "type": "ping"}), None, id="version-string"),
    pytest.param(frame(type="exec"), None, id="unknown-type"),
    pytest.param(frame(type=["request"]), None, id="type-not-string"),
    pytest.param(frame(type="response", status=200), None, id="missing-id"),
    pytest.param(frame(type="response", id="", status=200), None, id="empty-id"),
    pytest.param(frame(type="response", id="a/b", status=200), None, id="id-with-slash"),
    pytest.param(frame(type="response", id="x" * 65, status=200), None, id="id-too-long"),
    pytest.param(frame(type="response", id=7, status=200), None, id="id-number"),
    pytest.param(frame(type="response", id="r", status=200, extra=1), "r", id="unknown-field"),
    pytest.param(frame(type="response", id="r", status=True), "r", id="status-bool"),
    pytest.param(frame(type="response", id="r", status=600), "r", id="status-600"),
    pytest.param(frame(type="response", id="r", status=200, body="***"), "r", id="bad-base64"),
    pytest.param(frame(type="response", id="r", status=200, body=7), "r", id="body-number"),
    pytest.param(frame(type="request", id="r", verb="exec", method="GET", path="/x"), "r", id="bad-verb"),
    pytest.param(frame(type="request", id="r", verb="get", method="get", path="/x"), "r", id="lowercase-method"),
    pytest.param(frame(type="request", id="r", verb="get", method="CONNECT", path="/x"), "r", id="connect"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET"), "r", id="missing-path"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path=""), "r", id="empty-path"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", query={"a": "b"}), "r",
                 id="query-object"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", query=[["a"]]), "r",
                 id="query-pair-short"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", query=[["a", 1]]), "r",
                 id="query-value-number"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", headers=[["a", "b"]]), "r",
                 id="headers-list"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", headers={"a": 1}), "r",
                 id="header-value-number"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", timeout=-1), "r",
                 id="negative-timeout"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", timeout=1e9), "r",
                 id="huge-timeout"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/x", timeout=True), "r",
                 id="bool-timeout"),
    pytest.param('{"v":1,"type":"request","id":"r","verb":"get","method":"GET","path":"/x","timeout":NaN}', None,
                 id="nan"),
    pytest.param(frame(type="request", id="r", verb="get", method="GET", path="/" + "a" * 9000), "r",
                 id="path-too-long"),
    pytest.param(frame(type="response", id="r", status=200, body="A" * (MAX_BODY // 3 * 4 + 8)), "r",
                 id="body-over-limit"),
    pytest.param(" " * (MAX_FRAME + 1), None, id="frame-over-limit"),
    pytest.param(b"\xff\xfe", None, id="not-utf8"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "message_id"), BAD)
def test_malformed_frames_are_protocol_errors(raw, message_id):
    with pytest.raises(ProtocolError) as caught:
        decode(raw)
    assert message_id == caught.value.message_id


def test_encode_refuses_a_body_over_the_limit():
    with pytest.raises(ProtocolError, match="exceeds"):
        encode(Response("r", 200, None, b"x" * (MAX_BODY + 1)))


def test_a_body_at_the_limit_fits_in_a_frame():
    msg = Response("r", 200, "application/json", b"x" * MAX_BODY)
    assert msg == decode(encode(msg))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
KEYS = ["v", "type", "id", "verb", "method", "path", "query", "headers", "contentType", "body", "timeout",
        "status", "rv", "data", "name"]  # fmt: skip
envelopes = st.dictionaries(
    st.sampled_from(KEYS), json_values | st.sampled_from([1, "request", "r.1", "GET"])
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_never_crashes_decode(raw):
    with contextlib.suppress(ProtocolError):
        decode(raw)


@settings(max_examples=300, deadline=None)
@given(envelopes, st.sampled_from(sorted(protocol._PARSERS)))
@example({"id": "r1", "verb": []}, "request")  # an unhashable choice once raised TypeError, not ProtocolError
@example({"id": "r1", "verb": {"get": 1}}, "request")
def test_arbitrary_envelopes_decode_or_raise_protocol_error(fields, kind):
    fields = {**fields, "v": 1, "type": kind}
    try:
        msg = decode(json.dumps(fields))
    except ProtocolError:
        return
    assert msg == decode(encode(msg))
