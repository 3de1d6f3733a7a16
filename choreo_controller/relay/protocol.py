"""The relay's wire format: one versioned JSON envelope per websocket text frame (SPEC section 7).

Every frame is an object ``{"v": N, "type": ..., ...}``. Messages are frozen dataclasses (``messages``,
re-exported here); ``encode`` and ``decode`` are pure functions.

Versions. The connection-level version is the websocket subprotocol, negotiated at the upgrade: the agent
offers ``choreo.relay.v2`` and ``choreo.relay.v1`` (in that order), the gateway takes the first it speaks,
so an old agent or an old gateway still connects - on version 1 - and an incompatible peer is refused
before any frame. Version 2 adds log streams, nothing else; a session on version 1 has none (asked for one,
the gateway answers 501 naming the agent's version). A frame's ``v`` is the version that introduced its
type: every version-1 frame is byte for byte what version 1 wrote, and a version-2 frame reaching a
version-1 peer is refused as an unsupported version, never misread.

=================  =====  =========  ==================================================================
type               since  direction  fields
=================  =====  =========  ==================================================================
hello              1      both       ``name`` (agent: its name; gateway: the plane ID it bound)
ping               1      both       - (liveness: each side sends one every heartbeat interval)
request            1      gw->agent  ``id verb method path query headers contentType body timeout``
response           1      agent->gw  ``id status contentType body``
watch_start        1      gw->agent  ``id path query headers timeout``
watch_event        1      agent->gw  ``id rv data`` (``data``: the apiserver's raw watch line)
watch_bookmark     1      agent->gw  ``id rv``
watch_end          1      agent->gw  ``id status body`` (200: the server closed the watch; else a Status)
watch_cancel       1      gw->agent  ``id``
log_start          2      gw->agent  ``id path query timeout credit`` (``pods/log``; ``credit``: bytes the
                                     agent may send before it is granted more)
log_data           2      agent->gw  ``id data`` (the log's bytes, at most ``LOG_CHUNK`` per frame)
log_credit         2      gw->agent  ``id bytes`` (the consumer took that much: send that much more)
log_end            2      agent->gw  ``id status body`` (200: the log ended; else a Status)
log_cancel         2      gw->agent  ``id``
=================  =====  =========  ==================================================================

Log streams are flow-controlled by credit, not by interruption: the agent sends no more than it has been
granted, so the gateway holds at most the window (``credit``) per log and the agent, out of credit, stops
reading the apiserver (TCP back-pressure all the way to the kubelet).

Bodies and watch lines travel base64-encoded (``body``/``data``): bytes stay bytes, nobody re-parses a
payload it only forwards, and base64 costs far less than a JSON round trip. Many requests share one
connection; ``id`` correlates them.

Invariants: ``decode`` raises ``ProtocolError`` - never anything else - for any input (not JSON, nesting
too deep, NaN, wrong version, unknown type, unknown or missing field, wrong type, id not matching
``[A-Za-z0-9._-]{1,64}``, a body over ``MAX_BODY``, a frame over ``MAX_FRAME``). When the frame carried a
usable id, ``ProtocolError.message_id`` holds it so the receiver can answer that request with a 400
instead of letting it time out. Validation here is about shape; what a request may *do* is ``authz``'s job,
so a path with ``..`` or a NUL decodes fine and is refused there.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from choreo_controller.relay.messages import (
    METHODS,
    VERBS,
    Hello,
    LogCancel,
    LogCredit,
    LogData,
    LogEnd,
    LogStart,
    Message,
    Method,
    Pairs,
    Ping,
    ProtocolError,
    Request,
    Response,
    Verb,
    WatchBookmark,
    WatchCancel,
    WatchEnd,
    WatchEvent,
    WatchStart,
)

VERSION = 2  # the newest this code speaks
SUBPROTOCOL = "choreo.relay.v2"
SUBPROTOCOL_V1 = "choreo.relay.v1"
SUBPROTOCOLS = (SUBPROTOCOL, SUBPROTOCOL_V1)  # the agent's offer, preferred first
VERSION_OF: dict[str, int] = {SUBPROTOCOL: 2, SUBPROTOCOL_V1: 1}
LOG_CHUNK = 64 * 1024  # bytes of one log_data frame
MAX_LOG_BYTES = 64 * 1024 * 1024  # bytes one relayed log request may return (the agent sets limitBytes)
MAX_CREDIT = 16 * 1024 * 1024  # bytes one credit may grant
MAX_BODY = 3 * 1024 * 1024  # decoded request/response body or watch line
MAX_FRAME = 5 * 1024 * 1024  # characters of one frame: base64 of MAX_BODY plus the envelope
MAX_TIMEOUT = 3600.0
_MAX_TEXT = 8192  # path, query values, header values
_MAX_ITEMS = 64  # query pairs, headers
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


__all__ = [
    "LOG_CHUNK",
    "MAX_BODY",
    "MAX_CREDIT",
    "MAX_FRAME",
    "MAX_LOG_BYTES",
    "MAX_TIMEOUT",
    "METHODS",
    "SUBPROTOCOL",
    "SUBPROTOCOLS",
    "SUBPROTOCOL_V1",
    "VERBS",
    "VERSION",
    "VERSION_OF",
    "Hello",
    "LogCancel",
    "LogCredit",
    "LogData",
    "LogEnd",
    "LogStart",
    "Message",
    "Method",
    "Pairs",
    "Ping",
    "ProtocolError",
    "Request",
    "Response",
    "Verb",
    "WatchBookmark",
    "WatchCancel",
    "WatchEnd",
    "WatchEvent",
    "WatchStart",
    "decode",
    "encode",
]

_TYPE_OF: dict[type[Any], str] = {
    Hello: "hello",
    Ping: "ping",
    Request: "request",
    Response: "response",
    WatchStart: "watch_start",
    WatchEvent: "watch_event",
    WatchBookmark: "watch_bookmark",
    WatchEnd: "watch_end",
    WatchCancel: "watch_cancel",
    LogStart: "log_start",
    LogData: "log_data",
    LogCredit: "log_credit",
    LogEnd: "log_end",
    LogCancel: "log_cancel",
}
#: The version that introduced each type: a frame carries it as ``v``.
_SINCE: dict[str, int] = {kind: 2 if kind.startswith("log_") else 1 for kind in _TYPE_OF.values()}


def encode(msg: Message) -> str:
    """The frame for ``msg``. Raises ``ProtocolError`` if it would exceed a limit."""
    kind = _TYPE_OF[type(msg)]
    out: dict[str, Any] = {"v": _SINCE[kind], "type": kind}
    for key, value in _fields_of(msg):
        if value is None or value == () or (key in {"body", "data"} and value == b""):
            continue
        if isinstance(value, bytes):
            if len(value) > MAX_BODY:
                raise ProtocolError(f"{kind}: body of {len(value)} bytes exceeds {MAX_BODY}", kind=kind)
            out[key] = base64.b64encode(value).decode("ascii")
        elif key == "headers":
            out[key] = dict(value)
        elif key == "query":
            out[key] = [list(pair) for pair in value]
        else:
            out[key] = value
    frame = json.dumps(out, separators=(",", ":"))
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"{kind}: frame of {len(frame)} characters exceeds {MAX_FRAME}", kind=kind)
    return frame


_WIRE_NAMES = {"content_type": "contentType"}


def _fields_of(msg: Message) -> list[tuple[str, Any]]:
    return [(_WIRE_NAMES.get(name, name), getattr(msg, name)) for name in msg.__slots__]


def decode(frame: str | bytes) -> Message:
    """Parse and validate one frame; ``ProtocolError`` for anything that is not a valid envelope."""
    if len(frame) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(frame)} characters exceeds {MAX_FRAME}")
    try:
        obj = json.loads(frame, parse_constant=_no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame is not a JSON object")
    kind = obj.get("type")
    version = obj.get("v")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise ProtocolError(f"unsupported envelope version {str(version)[:20]!r} (want 1 to {VERSION})")
    if not isinstance(kind, str) or kind not in _PARSERS:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}")
    message_id = obj.get("id")
    usable_id = message_id if isinstance(message_id, str) and _ID.fullmatch(message_id) else None
    if version != _SINCE[kind]:
        message = f"{kind} is a version {_SINCE[kind]} message, not version {version}"
        raise ProtocolError(message, message_id=usable_id, kind=kind)
    allowed, parse = _PARSERS[kind]
    unknown = set(obj) - allowed - {"v", "type"}
    if unknown:
        raise ProtocolError(
            f"{kind}: unknown field(s) {sorted(unknown)[:5]}", message_id=usable_id, kind=kind
        )
    try:
        msg: Message = parse(_Fields(obj))
    except ProtocolError as exc:
        raise ProtocolError(f"{kind}: {exc}", message_id=usable_id, kind=kind) from None
    return msg


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Fields:
    """Typed, bounded access to the fields of one decoded frame."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self._obj = obj

    def id(self) -> str:
        value = self._obj.get("id")
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise ProtocolError("missing or invalid id")
        return value

    def text(self, key: str, *, required: bool = True, limit: int = _MAX_TEXT) -> str:
        value = self._obj.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value) or len(value) > limit:
            raise ProtocolError(f"{key} must be a string of at most {limit} characters")
        return value

    def optional_text(self, key: str, limit: int = 256) -> str | None:
        return self.text(key, required=False, limit=limit) or None

    def choice(self, key: str, options: frozenset[str]) -> Any:
        value = self._obj.get(key)
        if not isinstance(value, str) or value not in options:
            raise ProtocolError(f"{key} must be one of {sorted(options)}")
        return value

    def status(self, key: str = "status", default: int | None = None) -> int:
        value = self._obj.get(key, default)
        if type(value) is not int or not 100 <= value <= 599:
            raise ProtocolError(f"{key} must be an HTTP status code")
        return value

    def body(self, key: str) -> bytes:
        value = self._obj.get(key)
        if value is None:
            return b""
        if not isinstance(value, str) or len(value) > (MAX_BODY + 2) // 3 * 4:
            raise ProtocolError(f"{key} must be base64 of at most {MAX_BODY} bytes")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(f"{key} is not valid base64") from None

    def count(self, key: str, maximum: int) -> int:
        value = self._obj.get(key, 0)
        if type(value) is not int or not 0 <= value <= maximum:
            raise ProtocolError(f"{key} must be a whole number in [0, {maximum}]")
        return value

    def timeout(self) -> float | None:
        value = self._obj.get("timeout")
        if value is None:
            return None
        if type(value) not in {int, float} or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
            raise ProtocolError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:.0f}]")
        return float(value)

    def query(self) -> Pairs:
        value = self._obj.get("query", [])
        if not isinstance(value, list) or len(value) > _MAX_ITEMS:
            raise ProtocolError(f"query must be a list of at most {_MAX_ITEMS} [key, value] pairs")
        pairs = []
        for pair in value:
            if not (isinstance(pair, list) and len(pair) == 2 and all(_short(x) for x in pair)):
                raise ProtocolError("query must hold [key, value] string pairs")
            pairs.append((pair[0], pair[1]))
        return tuple(pairs)

    def headers(self) -> Pairs:
        value = self._obj.get("headers", {})
        if not isinstance(value, dict) or len(value) > _MAX_ITEMS:
            raise ProtocolError(f"headers must be an object of at most {_MAX_ITEMS} strings")
        if not all(_short(k) and _short(v) for k, v in value.items()):
            raise ProtocolError("headers must map strings to strings")
        return tuple(value.items())


def _short(value: object) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_TEXT


def _request(f: _Fields) -> Request:
    return Request(
        id=f.id(),
        verb=f.choice("verb", VERBS),
        method=f.choice("method", METHODS),
        path=f.text("path"),
        query=f.query(),
        headers=f.headers(),
        content_type=f.optional_text("contentType"),
        body=f.body("body") or None,
        timeout=f.timeout(),
    )


def _rv(f: _Fields) -> str:
    return f.text("rv", required=False, limit=128)


_PARSERS: dict[str, tuple[set[str], Any]] = {
    "hello": ({"name"}, lambda f: Hello(f.text("name", limit=253))),
    "ping": (set(), lambda _f: Ping()),
    "request": (
        {"id", "verb", "method", "path", "query", "headers", "contentType", "body", "timeout"},
        _request,
    ),
    "response": (
        {"id", "status", "contentType", "body"},
        lambda f: Response(f.id(), f.status(), f.optional_text("contentType"), f.body("body")),
    ),
    "watch_start": (
        {"id", "path", "query", "headers", "timeout"},
        lambda f: WatchStart(f.id(), f.text("path"), f.query(), f.headers(), f.timeout()),
    ),
    "watch_event": ({"id", "rv", "data"}, lambda f: WatchEvent(f.id(), _rv(f), f.body("data"))),
    "watch_bookmark": ({"id", "rv"}, lambda f: WatchBookmark(f.id(), _rv(f))),
    "watch_end": (
        {"id", "status", "body"},
        lambda f: WatchEnd(f.id(), f.status(default=200), f.body("body")),
    ),
    "watch_cancel": ({"id"}, lambda f: WatchCancel(f.id())),
    "log_start": (
        {"id", "path", "query", "timeout", "credit"},
        lambda f: LogStart(f.id(), f.text("path"), f.query(), f.timeout(), f.count("credit", MAX_CREDIT)),
    ),
    "log_data": ({"id", "data"}, lambda f: LogData(f.id(), _chunk(f))),
    "log_credit": ({"id", "bytes"}, lambda f: LogCredit(f.id(), f.count("bytes", MAX_CREDIT))),
    "log_end": ({"id", "status", "body"}, lambda f: LogEnd(f.id(), f.status(default=200), f.body("body"))),
    "log_cancel": ({"id"}, lambda f: LogCancel(f.id())),
}


def _chunk(f: _Fields) -> bytes:
    data = f.body("data")
    if len(data) > LOG_CHUNK:
        raise ProtocolError(f"data must be at most {LOG_CHUNK} bytes")
    return data
