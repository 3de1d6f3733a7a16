"""``RelayTransport``: ``contracts.Transport`` to one build plane, through the agents at the gateway.

``KubeClient(RelayTransport(...))`` is a ``contracts.KubeApi`` for the build plane, a drop-in for
``kube.connect(kubeconfig)`` in direct mode: same paths, same error mapping, same watch lines.

Requests go to one agent of the plane (round-robin) and fail fast: no agent connected, the connection
dropping mid-flight, or no answer within the timeout all raise ``Unavailable`` (retryable) at once. Nothing
is retried here - a write may or may not have happened; the reconcile re-reads and decides.

Watches resume; this is the controller side's job, by design (the agent keeps no state, so a restarted or
replaced agent, or another agent of the plane, can take over). The transport remembers the resourceVersion
of the last event or bookmark it delivered; when the connection drops it waits up to ``resume_within``
seconds for an agent and re-issues ``watch_start`` from that resourceVersion. The consumer sees one
unbroken stream with nothing missed - or ``Gone`` if the apiserver compacted past that version (the
informer relists), or ``Unavailable`` if no agent came back in time.

Logs (``GET .../pods/{name}/log``, protocol version 2) stream through ``stream`` too, as lines: the log's
bytes arrive in credit-granted chunks (``logstreams``) and are cut at newlines here. A log cannot be
resumed from a version, so a dropped connection is ``Unavailable`` and the caller - which knows the
timestamp of the last line it printed - asks again from there. A line longer than ``MAX_LINE`` is
``Unavailable`` too (the agent's own transport refuses those).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from typing import TYPE_CHECKING

import structlog

from choreo_controller.contracts import ApiResponse, BadRequest, Unavailable
from choreo_controller.kube.errors import raise_for_status
from choreo_controller.relay import protocol, requestinfo
from choreo_controller.relay.logstreams import LOG_WINDOW
from choreo_controller.relay.session import INTERRUPTED

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator

    from choreo_controller.contracts import ApiRequest
    from choreo_controller.metrics import Metrics
    from choreo_controller.relay.identity import PlaneRef
    from choreo_controller.relay.registry import Registry
    from choreo_controller.relay.session import AgentSession

log = structlog.get_logger("choreo.relay.transport")
RESPONSE_SLACK = 5.0  # the gateway waits this much longer than the agent's own deadline
MAX_LINE = 16 * 1024 * 1024  # one log line, as the agent's own transport bounds it


class RelayTransport:
    """Requests and watches to ``plane_id`` (only agents vouched for by ``plane``, if given)."""

    def __init__(
        self,
        registry: Registry,
        plane_id: str,
        *,
        plane: PlaneRef | None = None,
        request_timeout: float = 30.0,
        connect_grace: float = 0.0,
        resume_within: float = 30.0,
        response_slack: float = RESPONSE_SLACK,
        metrics: Metrics | None = None,
    ) -> None:
        self._registry = registry
        self.plane_id = plane_id
        self.plane = plane
        self._request_timeout = request_timeout
        self._grace = connect_grace
        self._resume_within = resume_within
        self._slack = response_slack
        self._metrics = metrics

    async def request(self, req: ApiRequest) -> ApiResponse:
        """One exchange through an agent; ``Unavailable`` when no agent answers."""
        verb = _verb(req)
        if verb not in protocol.VERBS:
            raise BadRequest(f"relay: {verb} is not a request verb (use stream for watches)")
        session = await self._session(self._grace)
        asked = (
            req.timeout if req.timeout is not None and math.isfinite(req.timeout) and req.timeout > 0 else 0
        )
        timeout = min(asked or self._request_timeout, protocol.MAX_TIMEOUT)  # NaN would wait for ever
        msg = protocol.Request(
            id=session.next_id(),
            verb=verb,  # type: ignore[arg-type]  # checked against VERBS above
            method=req.method,
            path=req.path,
            query=req.query,
            content_type=req.content_type,
            body=req.body,
            timeout=timeout,
        )
        started = time.perf_counter()
        resp = await session.request(msg, timeout + self._slack)
        if self._metrics is not None:
            self._metrics.relay_request_seconds.labels(self.plane_id).observe(time.perf_counter() - started)
        headers = {"Content-Type": resp.content_type} if resp.content_type else {}
        return ApiResponse(resp.status, resp.body, headers)

    async def stream(self, req: ApiRequest) -> AsyncIterator[bytes]:
        """A watch (resumed across reconnects), or a pod's log; one line at a time."""
        info = _info(req)
        if info.verb == "get" and info.subresource == "log":
            lines = self._log(req)
        elif info.verb == "watch":
            lines = self._watch(req)
        else:
            raise BadRequest("relay: stream is for watches (?watch=1) and pod logs")
        async with contextlib.aclosing(lines):
            async for line in lines:
                yield line

    async def _log(self, req: ApiRequest) -> AsyncGenerator[bytes, None]:
        session = await self._session(self._grace)
        timeout = min(req.timeout or protocol.MAX_TIMEOUT, protocol.MAX_TIMEOUT)
        start = protocol.LogStart(session.next_id(), req.path, req.query, timeout, LOG_WINDOW)
        channel = await session.log(start)
        ended = False
        pending = b""
        try:
            while True:
                item = await channel.next()
                if isinstance(item, bytes):
                    *lines, pending = (pending + item).split(b"\n")
                    if len(pending) > MAX_LINE:
                        raise Unavailable(f"relay: a log line over {MAX_LINE} bytes in {req.path[:200]}")
                    for line in lines:
                        yield line
                    continue
                ended = True
                if isinstance(item, protocol.LogEnd):
                    if not 200 <= item.status <= 299:
                        raise_for_status(ApiResponse(item.status, item.body))
                    if pending:
                        yield pending
                    return
                raise Unavailable(
                    f"relay: the log stream from plane {self.plane_id} was cut (connection lost)"
                )
        finally:
            if not ended:
                await session.cancel_log(start.id)

    async def _watch(self, req: ApiRequest) -> AsyncGenerator[bytes, None]:
        rv = dict(req.query).get("resourceVersion", "")
        resuming = False
        while True:
            session = await self._session(self._resume_within if resuming else self._grace)
            query = tuple((k, rv if k == "resourceVersion" else v) for k, v in req.query)
            start = protocol.WatchStart(session.next_id(), req.path, query, timeout=req.timeout)
            channel = await session.watch(start)
            ended = False
            try:
                while True:
                    item = await channel.next()
                    if item is INTERRUPTED:
                        break
                    if isinstance(item, protocol.WatchEnd):
                        ended = True
                        if not 200 <= item.status <= 299:
                            raise_for_status(ApiResponse(item.status, item.body))
                        return
                    if isinstance(item, protocol.WatchEvent):
                        rv = item.rv or rv
                        yield item.data
                    elif isinstance(item, protocol.WatchBookmark):
                        rv = item.rv or rv
                        yield _bookmark(rv)
            finally:
                if not ended:
                    await session.cancel_watch(start.id)
            resuming = True
            log.info(
                "relay watch interrupted; resuming", plane=self.plane_id, path=req.path, resource_version=rv
            )

    async def close(self) -> None:
        """Nothing to release: the gateway owns the connections."""

    async def _session(self, wait: float) -> AgentSession:
        session = await self._registry.wait_pick(self.plane_id, self.plane, wait)
        if session is None:
            trusted = f" trusted by {self.plane}" if self.plane is not None else ""
            raise Unavailable(f"relay: no agent connected for plane {self.plane_id}{trusted}")
        return session


def _verb(req: ApiRequest) -> str:
    return _info(req).verb


def _info(req: ApiRequest) -> requestinfo.RequestInfo:
    try:
        return requestinfo.parse(req.method, req.path, req.query)
    except requestinfo.NotCanonical as exc:
        raise BadRequest(f"relay: {req.method} {req.path[:200]!r}: {exc}") from None


def _bookmark(rv: str) -> bytes:
    return json.dumps({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": rv}}}).encode()
