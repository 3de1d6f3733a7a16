"""The gateway's internal API: how a controller in another process reaches build planes (standalone gateway).

Its own listener, mTLS with a CA of its own (``client_ca_file``: the controllers' CA - never an agent CA,
so an agent certificate cannot call it), TLS 1.2+. Two routes, both ``POST`` with a JSON body
``{"method", "path", "query": [[k, v]...], "contentType", "body": <base64>, "timeout"}``:

* ``/internal/v1/planes/{planeID}/request`` -> ``{"status", "contentType", "body": <base64>}``: one call
  through ``RelayTransport`` (so through the agent's allowlist). ``Unavailable`` is HTTP 503, a request the
  relay refuses outright (not canonical) 400 - both as ``Status`` objects, so the client maps them like the
  apiserver's own.
* ``/internal/v1/planes/{planeID}/watch`` -> newline-delimited watch events, exactly as the apiserver
  streams them; the gateway side resumes across agent reconnects (``RelayTransport.stream``). An error
  before the first event is the HTTP status; after it, an ``ERROR`` event carrying a ``Status``, as the
  apiserver does.
* ``/internal/v1/planes/{planeID}/log`` -> a pod's log, line by line (``text/plain``). An error before the
  first line is the HTTP status; after it the response is cut short (no final chunk), which the client
  reads as a lost connection - a log line cannot carry an error.

``?plane=<Kind>/<namespace>/<name>`` (namespace empty for a cluster-scoped kind) is required: the call goes
only to agents vouched for by that plane object (see ``identity``) - never to "any agent of the planeID",
which could be a squatter's. Bodies are bounded like the relay's own (3 MiB) and read within the
listener's body deadline; everything in them is checked before use, each problem a 400 naming it:
``method`` one of the relay's methods, ``path`` and ``contentType`` strings, ``query`` a list of string
pairs, ``body`` base64, ``timeout`` a finite number of seconds in (0, 3600], and JSON nested at most
``MAX_DEPTH`` deep. The listener (``runtime.listener``) caps connections and cuts slow clients.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from aiohttp import web

from choreo_controller.contracts import ApiError, ApiRequest, Unavailable
from choreo_controller.relay import protocol
from choreo_controller.relay.executor import status_body
from choreo_controller.relay.identity import PLANE_ID, PLANE_KINDS, PlaneRef
from choreo_controller.runtime.listener import Listener, ListenerLimits

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from choreo_controller.relay.transport import RelayTransport

PREFIX = "/internal/v1/planes"
MAX_DEPTH: Final = 8  # the envelope is flat; anything deeper is not a request of ours
MAX_TIMEOUT: Final = 3600.0  # watches ask for their server-side timeout (up to 600 s) plus slack


@dataclass(frozen=True, slots=True)
class InternalConfig:
    """The internal listener: address, server certificate and the CA controller certificates chain to."""

    cert_file: str | Path
    key_file: str | Path
    client_ca_file: str | Path
    host: str = "0.0.0.0"  # noqa: S104 - reached from the controller's pods
    port: int = 8444
    # Controllers are few addresses holding many watch streams: a high per-source cap, the usual deadlines.
    limits: ListenerLimits = field(
        default_factory=lambda: ListenerLimits(max_connections=1024, per_source=1024, reserved=0)
    )


def application(
    transport_for: Callable[[str, PlaneRef | None], RelayTransport], listener: Listener | None = None
) -> web.Application:
    """The aiohttp app; ``transport_for(plane_id, ref)`` gives a ``RelayTransport``."""

    async def read(req: web.Request) -> dict[str, Any]:
        try:
            raw = await (listener.read_body(req) if listener is not None else req.read())
        except TimeoutError:
            raise _bad("request body not received in time") from None
        return _body(raw)

    async def request(req: web.Request) -> web.StreamResponse:
        transport, api_request = _parse(req, transport_for, await read(req))
        try:
            resp = await transport.request(api_request)
        except ApiError as exc:
            return _status(exc)
        return web.json_response(
            {
                "status": resp.status,
                "contentType": resp.headers.get("Content-Type"),
                "body": base64.b64encode(resp.body).decode("ascii"),
            }
        )

    async def watch(req: web.Request) -> web.StreamResponse:
        return await _stream(req, *_parse(req, transport_for, await read(req)), log=False)

    async def log(req: web.Request) -> web.StreamResponse:
        return await _stream(req, *_parse(req, transport_for, await read(req)), log=True)

    middlewares = [listener.middleware] if listener is not None else []
    app = web.Application(client_max_size=protocol.MAX_FRAME, middlewares=middlewares)
    app.router.add_post(PREFIX + "/{plane_id}/request", request)
    app.router.add_post(PREFIX + "/{plane_id}/watch", watch)
    app.router.add_post(PREFIX + "/{plane_id}/log", log)
    return app


async def _stream(
    req: web.Request, transport: RelayTransport, api_request: ApiRequest, *, log: bool
) -> web.StreamResponse:
    """A watch (errors after the first event as ``ERROR`` events) or a log (cut short on error)."""
    content_type = "text/plain" if log else "application/json"
    lines = cast("Any", transport.stream(api_request))
    try:
        first = await anext(lines)
    except StopAsyncIteration:
        return web.Response(status=200, content_type=content_type)
    except ApiError as exc:
        return _status(exc)
    out = web.StreamResponse(status=200, headers={"Content-Type": content_type})
    await out.prepare(req)
    try:
        await out.write(first + b"\n")
        async for line in lines:
            await out.write(line + b"\n")
    except ApiError as exc:
        if log:  # cut short, no final chunk: the client sees a lost connection, never a line that lies
            if req.transport is not None:
                req.transport.abort()
            return out
        error = {
            "type": "ERROR",
            "object": json.loads(status_body(exc.status or 500, exc.reason, exc.message)),
        }
        with contextlib.suppress(ConnectionError):
            await out.write(json.dumps(error).encode() + b"\n")
    finally:
        await lines.aclose()
    return out


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _bad("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    if _depth(body) > MAX_DEPTH:
        raise _bad(f"body nested deeper than {MAX_DEPTH}")
    return body


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max((_depth(child, level + 1) for child in children), default=level)


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad("timeout must be a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT:
        raise _bad(f"timeout must be a finite number of seconds in (0, {MAX_TIMEOUT:.0f}]")
    return seconds


def _query(value: Any) -> tuple[tuple[str, str], ...]:
    pairs = value or []
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise _bad("query must be a list of [key, value] string pairs")
    return tuple((k, v) for k, v in pairs)


def _parse(
    req: web.Request, transport_for: Callable[[str, PlaneRef | None], RelayTransport], body: dict[str, Any]
) -> tuple[RelayTransport, ApiRequest]:
    plane_id = req.match_info["plane_id"]
    if not PLANE_ID.fullmatch(plane_id):
        raise _bad("invalid planeID")
    ref = _ref(req.query.get("plane"))
    method, path, content_type, raw = (body.get(k) for k in ("method", "path", "contentType", "body"))
    if not isinstance(method, str) or method not in protocol.METHODS:
        raise _bad(f"method must be one of {', '.join(sorted(protocol.METHODS))}")
    if not isinstance(path, str) or not (content_type is None or isinstance(content_type, str)):
        raise _bad("path and contentType must be strings")
    if not (raw is None or isinstance(raw, str)):
        raise _bad("body must be base64 text")
    try:
        payload = base64.b64decode(raw, validate=True) if raw else None
    except (binascii.Error, ValueError):
        raise _bad("body is not valid base64") from None
    if len(payload or b"") > protocol.MAX_BODY:
        raise _bad("body too large")
    api_request = ApiRequest(
        method=method,  # type: ignore[arg-type]  # checked against METHODS above
        path=path,
        query=_query(body.get("query")),
        body=payload,
        content_type=content_type,
        timeout=_timeout(body.get("timeout")),
    )
    return transport_for(plane_id, ref), api_request


def _ref(text: str | None) -> PlaneRef:
    if not text:
        raise _bad("?plane=<Kind>/<namespace>/<name> is required: the plane object whose agents may serve")
    kind, _, rest = text.partition("/")
    namespace, _, name = rest.partition("/")
    spec = PLANE_KINDS.get(kind)
    if spec is None or not name or spec.cluster_scoped == bool(namespace):
        raise _bad(
            "plane must be <Kind>/<namespace>/<name> (BuildPlane, WorkflowPlane) or <Kind>//<name> "
            "(ClusterBuildPlane, ClusterWorkflowPlane)"
        )
    return PlaneRef(kind, namespace, name)


def _status(exc: ApiError) -> web.Response:
    code = exc.status if 400 <= exc.status <= 599 else 500
    if isinstance(exc, Unavailable):
        code = 503
    return web.Response(status=code, body=status_body(code, exc.reason or type(exc).__name__, exc.message),
                        content_type="application/json")  # fmt: skip


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=status_body(400, "BadRequest", f"gateway: {message}").decode(), content_type="application/json"
    )
