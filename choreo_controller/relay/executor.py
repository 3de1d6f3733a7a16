"""The agent's hands: run an allowed request or watch against the local apiserver, refuse the rest.

``Executor`` turns relay messages into ``contracts.Transport`` calls (the agent gives it
``kube.connect(...)``'s transport; tests give it a fake) and apiserver answers back into messages.

Invariants:

* ``authz.authorize`` runs first, on everything; a refusal is a 403 ``Status`` whose message starts with
  ``relay policy:`` and the request never reaches the transport.
* No header from the gateway is forwarded (``authz.sanitize_headers``); dropped ones are logged by name.
* Bodies are bounded both ways by ``protocol.MAX_BODY`` (3 MiB): a larger apiserver response becomes a
  413 ``Status`` (not retryable: the caller should page), a larger watch line ends the watch with 413.
* An unreachable apiserver is a 503 ``Status`` (retryable, like ``Unavailable`` in direct mode).
* A list or watch across namespaces (allowed for a few read rules) is cut down here to objects in the
  agent's build namespaces (``authz.Scope``: ``openchoreo-ci-*`` or ``workflows-*``, by the generation its
  certificate names): list items are filtered, watch events of other namespaces are dropped (bookmarks
  and ``ERROR`` events pass). An answer that cannot be filtered is not passed on (502).
* A pod's log (``log``, protocol version 2) is served only for a pod that exists and carries an engine's
  run label (``authz.run_pod``, seen with the agent's own LIST), at most ``protocol.MAX_LOG_BYTES`` per
  request (``limitBytes`` set or lowered), in ``log_data`` frames of at most ``protocol.LOG_CHUNK`` bytes,
  each sent only once the gateway granted it (``logstreams.Credit``); while it waits nothing more is read
  from the apiserver. It always ends with ``log_end``.
* Nothing here logs a body; log lines carry method, path, verb and the policy's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import structlog

from choreo_controller.contracts import ApiError, ApiRequest, Unavailable
from choreo_controller.kube.errors import raise_for_status
from choreo_controller.relay import authz, protocol
from choreo_controller.relay.protocol import LogData, LogEnd, Response, WatchBookmark, WatchEnd, WatchEvent
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

    from choreo_controller.contracts import Transport
    from choreo_controller.relay.logstreams import Credit

log = structlog.get_logger("choreo.relay.agent")
JSON = "application/json"
MAX_REQUEST_TIMEOUT = 300.0


def status_body(code: int, reason: str, message: str) -> bytes:
    """A ``meta/v1 Status`` as the apiserver writes one, so ``kube.errors`` maps it the same way."""
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": message, "reason": reason, "code": code}  # fmt: skip
    return json.dumps(status).encode()


class Executor:
    """Serves relay requests and watches from one apiserver, under the allowlist."""

    def __init__(
        self,
        transport: Transport,
        *,
        scope: authz.Scope = authz.BUILD_PLANE_SCOPE,
        request_timeout: float = 30.0,
    ) -> None:
        self._transport = transport
        self._scope = scope
        self._request_timeout = request_timeout

    async def request(self, msg: protocol.Request) -> Response:
        """Authorize, forward, answer. Never raises for an apiserver failure: it becomes a status."""
        decision = authz.authorize(
            msg.verb, msg.method, msg.path, msg.query, msg.content_type, msg.body, scope=self._scope
        )
        _log_dropped_headers(msg.headers, msg.path)
        if not decision.allowed:
            return _denied(msg.id, msg.method, msg.path, decision.reason)
        if decision.check_pod:  # only as a log stream, where the pod is checked and the bytes are granted
            return _denied(msg.id, msg.method, msg.path, "a pod's log is served as a log stream only")
        timeout = min(msg.timeout or self._request_timeout, MAX_REQUEST_TIMEOUT)
        req = ApiRequest(msg.method, msg.path, msg.query, msg.body, msg.content_type, timeout)
        try:
            resp = await self._transport.request(req)
        except Unavailable:
            log.warning("apiserver unreachable", method=msg.method, path=msg.path)
            return Response(
                msg.id,
                503,
                JSON,
                status_body(503, "ServiceUnavailable", "relay agent: apiserver unreachable"),
            )
        if len(resp.body) > protocol.MAX_BODY:
            message = (
                f"relay agent: response of {len(resp.body)} bytes exceeds the {protocol.MAX_BODY} byte limit"
            )
            return Response(msg.id, 413, JSON, status_body(413, "RequestEntityTooLarge", message))
        content_type = next((v for k, v in resp.headers.items() if k.lower() == "content-type"), None)
        body = resp.body
        if decision.filter_namespaces and 200 <= resp.status <= 299:
            filtered = _filter_list(body, self._scope)
            if filtered is None:
                message = "relay agent: a list across namespaces could not be filtered"
                return Response(msg.id, 502, JSON, status_body(502, "BadGateway", message))
            body = filtered
        return Response(msg.id, resp.status, content_type[:256] if content_type else None, body)

    async def watch(
        self, msg: protocol.WatchStart, emit: Callable[[protocol.Message], Awaitable[None]]
    ) -> None:
        """Stream a watch through ``emit`` until the apiserver ends it; always ends with ``WatchEnd``."""
        decision = authz.authorize("watch", "GET", msg.path, msg.query, scope=self._scope)
        _log_dropped_headers(msg.headers, msg.path)
        if not decision.allowed:
            denied = _denied(msg.id, "WATCH", msg.path, decision.reason)
            await emit(WatchEnd(msg.id, denied.status, denied.body))
            return
        req = ApiRequest("GET", msg.path, msg.query, timeout=msg.timeout)
        try:
            # aclosing: a cancelled watch closes its apiserver stream now, not when collected.
            async with contextlib.aclosing(_counted(self._transport.stream(req))) as lines:
                async for count, line in lines:
                    if count % 8 == 0:
                        await asyncio.sleep(0)  # a burst of buffered events must not monopolise the loop
                    if not line.strip():
                        continue
                    if len(line) > protocol.MAX_BODY:
                        message = f"relay agent: watch event exceeds the {protocol.MAX_BODY} byte limit"
                        await emit(WatchEnd(msg.id, 413, status_body(413, "RequestEntityTooLarge", message)))
                        return
                    kind, rv, in_scope = _peek(line, self._scope)
                    if kind == "BOOKMARK":
                        await emit(WatchBookmark(msg.id, rv))
                    elif in_scope or not decision.filter_namespaces or kind == "ERROR":
                        await emit(WatchEvent(msg.id, rv, line))
        except ApiError as exc:
            status = exc.status if 400 <= exc.status <= 599 else 500
            reason = exc.reason or type(exc).__name__
            await emit(WatchEnd(msg.id, status, status_body(status, reason, exc.message)))
            return
        await emit(WatchEnd(msg.id, 200))

    async def log(
        self, msg: protocol.LogStart, emit: Callable[[protocol.Message], Awaitable[None]], credit: Credit
    ) -> None:
        """Stream a run pod's log through ``emit`` within ``credit``; always ends with ``LogEnd``."""
        decision = authz.authorize("get", "GET", msg.path, msg.query)
        info = decision.info
        if not decision.check_pod or info is None:
            reason = decision.reason if not decision.allowed else "a log stream is for pods/log only"
            denied = _denied(msg.id, "LOG", msg.path, reason)
            await emit(LogEnd(msg.id, denied.status, denied.body))
            return
        try:
            refused = await self._not_a_run_pod(info.namespace, info.name)
            if refused is not None:
                await emit(LogEnd(msg.id, refused.status, refused.body))
                return
            timeout = min(msg.timeout or MAX_REQUEST_TIMEOUT, protocol.MAX_TIMEOUT)
            req = ApiRequest("GET", msg.path, _capped(msg.query), timeout=timeout)
            lines = self._transport.stream(req)
            try:
                await _forward(lines, msg.id, emit, credit)
            finally:
                aclose = getattr(lines, "aclose", None)
                if aclose is not None:
                    await aclose()  # a cancelled log closes its apiserver stream now
        except ApiError as exc:
            status = exc.status if 400 <= exc.status <= 599 else 500
            body = status_body(status, exc.reason or type(exc).__name__, exc.message)
            await emit(LogEnd(msg.id, status, body))
            return
        await emit(LogEnd(msg.id, 200))

    async def _not_a_run_pod(self, namespace: str, name: str) -> Response | None:
        """``None`` if the pod exists and is a run's; else the answer (404 gone, 403 not a run's pod)."""
        query = (("fieldSelector", f"metadata.name={name}"),)
        path = f"/api/v1/namespaces/{namespace}/pods"
        resp = await self._transport.request(ApiRequest("GET", path, query, timeout=self._request_timeout))
        raise_for_status(resp)
        found = authz.run_pod(resp.body)
        if found is None:
            return Response("", 404, JSON, status_body(404, "NotFound", f'pods "{name}" not found'))
        return None if found else _denied("", "LOG", path, "the pod carries no engine's run label")


def _capped(query: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``query`` with ``limitBytes`` at most ``protocol.MAX_LOG_BYTES`` (added if missing)."""
    asked = next((int(v) for k, v in query if k == "limitBytes"), protocol.MAX_LOG_BYTES)
    limit = str(max(1, min(asked, protocol.MAX_LOG_BYTES)))
    return (*((k, v) for k, v in query if k != "limitBytes"), ("limitBytes", limit))


async def _forward(
    lines: AsyncIterator[bytes],
    log_id: str,
    emit: Callable[[protocol.Message], Awaitable[None]],
    credit: Credit,
) -> None:
    """Send ``lines`` as ``LogData`` chunks, each once granted; read ahead at most two chunks."""
    buffer = bytearray()
    ready, room = asyncio.Event(), asyncio.Event()
    room.set()
    failure: list[BaseException] = []

    async def read() -> None:
        try:
            async for line in lines:
                buffer.extend(line + b"\n")
                ready.set()
                while len(buffer) >= 2 * protocol.LOG_CHUNK:
                    room.clear()
                    await room.wait()
        except ApiError as exc:
            failure.append(exc)
        finally:
            ready.set()

    reader = asyncio.create_task(read(), name=f"relay-log-read-{log_id}")
    try:
        while True:
            await ready.wait()
            if not buffer:
                if reader.done():
                    break
                ready.clear()
                continue
            chunk = bytes(buffer[: protocol.LOG_CHUNK])
            del buffer[: len(chunk)]
            room.set()
            await credit.take(len(chunk))
            await emit(LogData(log_id, chunk))
    finally:
        await cancel_and_wait(reader)
    if failure:
        raise failure[0]


async def _counted(lines: AsyncIterator[bytes]) -> AsyncGenerator[tuple[int, bytes], None]:
    count = 0
    try:
        async for line in lines:
            count += 1
            yield count, line
    finally:
        aclose = getattr(lines, "aclose", None)
        if aclose is not None:
            await aclose()


def _denied(message_id: str, method: str, path: str, reason: str) -> Response:
    log.warning("request denied", method=method, path=path[:300], reason=reason)
    return Response(message_id, 403, JSON, status_body(403, "Forbidden", f"relay policy: {reason}"))


def _log_dropped_headers(headers: tuple[tuple[str, str], ...], path: str) -> None:
    if headers:
        _, dropped = authz.sanitize_headers(headers)
        if dropped:
            log.warning("headers dropped", path=path[:300], dropped=dropped)


def _peek(line: bytes, scope: authz.Scope) -> tuple[str, str, bool]:
    """``(type, resourceVersion, in a build namespace)`` of a watch line ("" when it does not say)."""
    try:
        event: Any = json.loads(line)
    except (ValueError, RecursionError):
        return "", "", False
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        return "", "", False
    meta = event["object"].get("metadata")
    rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    kind = str(event.get("type") or "")
    return kind, rv if isinstance(rv, str) and len(rv) <= 128 else "", _in_scope(event["object"], scope)


def _in_scope(obj: Any, scope: authz.Scope) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return isinstance(namespace, str) and scope.contains(namespace)


def _filter_list(body: bytes, scope: authz.Scope) -> bytes | None:
    """A LIST answer cut down to items in build namespaces; ``None`` if it is not a list object."""
    try:
        listed: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(listed, dict) or not isinstance(listed.get("items"), list):
        return None
    listed["items"] = [item for item in listed["items"] if _in_scope(item, scope)]
    return json.dumps(listed, separators=(",", ":")).encode()
