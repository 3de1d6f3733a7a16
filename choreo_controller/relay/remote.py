"""``RemoteRelayTransport``: ``contracts.Transport`` to a build plane through a *standalone* gateway.

The controller-side twin of ``relay.internal``: each request is a ``POST`` to the gateway's internal API
over mTLS (the controller's client certificate; the gateway's CA pinned, as the agent pins it), each watch
or pod log a streamed ``POST``. ``KubeClient(RemoteRelayTransport(...))`` behaves like
``KubeClient(RelayTransport)`` in process: the same paths and statuses, ``Unavailable`` when the gateway
cannot be reached or has no agent for the plane (HTTP 503 on the internal hop), watches that the gateway
resumes across agent reconnects, and pod logs line by line (``/log``; a log cut short is ``Unavailable``).
If the controller-to-gateway connection itself drops mid-watch, the stream raises ``Unavailable`` and the
informer re-watches from its own last resourceVersion.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import aiohttp

from choreo_controller.contracts import ApiResponse, BadRequest, Unavailable
from choreo_controller.kube.errors import raise_for_status
from choreo_controller.relay import requestinfo

if TYPE_CHECKING:
    import ssl
    from collections.abc import AsyncIterator

    from choreo_controller.contracts import ApiRequest
    from choreo_controller.relay.identity import PlaneRef

MAX_LINE = 16 * 1024 * 1024


class RemoteRelayTransport:
    """Requests and watches to ``plane_id`` via the gateway at ``base_url`` (``https://host:port``)."""

    def __init__(
        self,
        base_url: str,
        plane_id: str,
        ssl_context: ssl.SSLContext,
        *,
        plane: PlaneRef | None = None,
        request_timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """``session``: share one (the caller closes it) among the transports of many planes."""
        self._base = f"{base_url.rstrip('/')}/internal/v1/planes/{plane_id}"
        self._params = {"plane": f"{plane.kind}/{plane.namespace}/{plane.name}"} if plane else {}
        self._ssl = ssl_context
        self._request_timeout = request_timeout
        self._session = session
        self._owns_session = session is None

    async def request(self, req: ApiRequest) -> ApiResponse:
        """One exchange through the gateway; ``Unavailable`` if the gateway or the plane cannot be reached."""
        timeout = aiohttp.ClientTimeout(total=(req.timeout or self._request_timeout) + 10)
        try:
            async with self._http().post(
                self._base + "/request",
                json=_payload(req),
                params=self._params,
                ssl=self._ssl,
                timeout=timeout,
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    _raise(resp.status, body)
                answer: dict[str, Any] = json.loads(body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"gateway unreachable: {type(exc).__name__}") from None
        headers = {"Content-Type": answer["contentType"]} if answer.get("contentType") else {}
        return ApiResponse(int(answer["status"]), base64.b64decode(answer.get("body") or ""), headers)

    async def stream(self, req: ApiRequest) -> AsyncIterator[bytes]:
        """A watch or a pod's log through the gateway; one line at a time."""
        timeout = aiohttp.ClientTimeout(total=req.timeout, sock_connect=10)
        route = "/log" if _is_log(req) else "/watch"
        try:
            resp = await self._http().post(
                self._base + route, json=_payload(req), params=self._params, ssl=self._ssl, timeout=timeout
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"gateway unreachable: {type(exc).__name__}") from None
        try:
            if resp.status != 200:
                _raise(resp.status, await resp.read())
            pending = b""
            async for chunk in resp.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if len(pending) > MAX_LINE:
                    raise Unavailable("gateway: watch line too long")
                for line in lines:
                    yield line
            if pending:
                yield pending
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"gateway connection lost: {type(exc).__name__}") from None
        finally:
            resp.close()

    async def close(self) -> None:
        """Close the connections to the gateway (unless the session is shared)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session


def _is_log(req: ApiRequest) -> bool:
    try:
        info = requestinfo.parse(req.method, req.path, req.query)
    except requestinfo.NotCanonical as exc:
        raise BadRequest(f"relay: {req.method} {req.path[:200]!r}: {exc}") from None
    return info.verb == "get" and info.subresource == "log"


def _payload(req: ApiRequest) -> dict[str, Any]:
    return {
        "method": req.method,
        "path": req.path,
        "query": [list(pair) for pair in req.query],
        "contentType": req.content_type,
        "body": base64.b64encode(req.body).decode("ascii") if req.body else None,
        "timeout": req.timeout,
    }


def _raise(status: int, body: bytes) -> None:
    if status == 503:
        raise Unavailable(f"gateway: plane unavailable ({_message(body)})")
    raise_for_status(ApiResponse(status, body))
    raise Unavailable(f"gateway answered HTTP {status}")


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""
