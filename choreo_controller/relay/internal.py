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

``?plane=<Kind>/<namespace>/<name>`` (namespace empty for a ClusterBuildPlane) restricts the call to agents
vouched for by that plane object (see ``identity``). Bodies are bounded like the relay's own (3 MiB).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from choreo_controller.contracts import ApiError, ApiRequest, Unavailable
from choreo_controller.relay import protocol
from choreo_controller.relay.executor import status_body
from choreo_controller.relay.identity import PLANE_ID, PLANE_KINDS, PlaneRef

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from choreo_controller.relay.transport import RelayTransport

PREFIX = "/internal/v1/planes"


@dataclass(frozen=True, slots=True)
class InternalConfig:
    """The internal listener: address, server certificate and the CA controller certificates chain to."""

    cert_file: str | Path
    key_file: str | Path
    client_ca_file: str | Path
    host: str = "0.0.0.0"  # noqa: S104 - reached from the controller's pods
    port: int = 8444


def application(transport_for: Callable[[str, PlaneRef | None], RelayTransport]) -> web.Application:
    """The aiohttp app; ``transport_for(plane_id, ref)`` gives a ``RelayTransport``."""

    async def request(req: web.Request) -> web.StreamResponse:
        transport, api_request = _parse(req, transport_for, await _body(req))
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
        transport, api_request = _parse(req, transport_for, await _body(req))
        lines = cast("Any", transport.stream(api_request))
        try:
            first = await anext(lines)
        except StopAsyncIteration:
            return web.Response(status=200, content_type="application/json")
        except ApiError as exc:
            return _status(exc)
        out = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await out.prepare(req)
        try:
            await out.write(first + b"\n")
            async for line in lines:
                await out.write(line + b"\n")
        except ApiError as exc:
            error = {
                "type": "ERROR",
                "object": json.loads(status_body(exc.status or 500, exc.reason, exc.message)),
            }
            with contextlib.suppress(ConnectionError):
                await out.write(json.dumps(error).encode() + b"\n")
        finally:
            await lines.aclose()
        return out

    app = web.Application(client_max_size=protocol.MAX_FRAME)
    app.router.add_post(PREFIX + "/{plane_id}/request", request)
    app.router.add_post(PREFIX + "/{plane_id}/watch", watch)
    return app


async def _body(req: web.Request) -> dict[str, Any]:
    try:
        body = await req.json()
    except (ValueError, UnicodeDecodeError):
        raise _bad("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _parse(
    req: web.Request, transport_for: Callable[[str, PlaneRef | None], RelayTransport], body: dict[str, Any]
) -> tuple[RelayTransport, ApiRequest]:
    plane_id = req.match_info["plane_id"]
    if not PLANE_ID.fullmatch(plane_id):
        raise _bad("invalid planeID")
    ref = _ref(req.query.get("plane"))
    try:
        query = tuple((str(k), str(v)) for k, v in body.get("query") or ())
        raw = body.get("body")
        payload = base64.b64decode(raw, validate=True) if raw else None
        timeout = body.get("timeout")
        api_request = ApiRequest(
            method=body["method"],
            path=str(body["path"]),
            query=query,
            body=payload,
            content_type=body.get("contentType"),
            timeout=float(timeout) if timeout is not None else None,
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise _bad("malformed request") from None
    if api_request.method not in protocol.METHODS or len(payload or b"") > protocol.MAX_BODY:
        raise _bad("unsupported method or body too large")
    return transport_for(plane_id, ref), api_request


def _ref(text: str | None) -> PlaneRef | None:
    if not text:
        return None
    kind, _, rest = text.partition("/")
    namespace, _, name = rest.partition("/")
    spec = PLANE_KINDS.get(kind)
    if spec is None or not name or spec.cluster_scoped == bool(namespace):
        raise _bad("plane must be BuildPlane/<namespace>/<name> or ClusterBuildPlane//<name>")
    return PlaneRef(kind, namespace, name)


def _status(exc: ApiError) -> web.Response:
    code = exc.status if 400 <= exc.status <= 599 else 500
    if isinstance(exc, Unavailable):
        code = 503
    return web.Response(status=code, body=status_body(code, exc.reason or type(exc).__name__, exc.message),
                        content_type="application/json")  # fmt: skip


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        body=status_body(400, "BadRequest", f"gateway: {message}"), content_type="application/json"
    )
