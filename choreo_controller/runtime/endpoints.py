"""The operational HTTP endpoints: ``/healthz``, ``/readyz``, ``/metrics`` (aiohttp).

The server knows nothing about informers or leases: it is given two check functions returning the list
of current problems (``[]`` = fine) and the ``Metrics`` to render. Answers follow the apiserver's own
probes: ``200 ok`` or ``503`` with one ``[-]problem`` line per failed check, as plain text, so
``curl`` shows why a pod is not ready. ``/metrics`` negotiates the Prometheus text or OpenMetrics format
from ``Accept``; its content type (which carries a charset) goes out as a header, because aiohttp's
``content_type=`` argument rejects one.

Access logs are off: probes arrive every few seconds and say nothing. Shutdown waits at most one second
for in-flight requests, so a process that lost its lease exits promptly. Connections go through
``runtime.listener`` (``LIMITS``: a small cap, slow or idle clients cut), so scrapers and probes cannot
exhaust the process's file handles.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NoReturn

from aiohttp import web

from choreo_controller.runtime.listener import Listener, ListenerLimits

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.metrics import Metrics

LIMITS = ListenerLimits(max_connections=64, per_source=16, reserved=0)


class HttpServer:
    """Serves the probes and the metrics on ``host:port`` (``port=0``: any free port, see ``port``)."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        health: Callable[[], list[str]],
        ready: Callable[[], list[str]],
        host: str,
        port: int,
    ) -> None:
        self._metrics = metrics
        self._health = health
        self._ready = ready
        self._host = host
        self._port = port
        self._bound: int | None = None
        self._started = asyncio.Event()
        self._listener = Listener(LIMITS)

    @property
    def port(self) -> int:
        """The port actually listened on (after ``wait_started``)."""
        if self._bound is None:
            raise RuntimeError("the server has not started")
        return self._bound

    async def wait_started(self) -> None:
        """Return once the socket is listening."""
        await self._started.wait()

    def application(self) -> web.Application:
        """The aiohttp application with the three routes."""
        app = web.Application(middlewares=[self._listener.middleware])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        return app

    async def run(self) -> NoReturn:
        """Listen until cancelled."""
        await self._listener.serve(self.application(), self._host, self._port, self._listening)

    def _listening(self, port: int) -> None:
        self._bound = port
        self._started.set()

    async def _healthz(self, _request: web.Request) -> web.Response:
        return _verdict(self._health())

    async def _readyz(self, _request: web.Request) -> web.Response:
        return _verdict(self._ready())

    async def _metrics_page(self, request: web.Request) -> web.Response:
        body, content_type = self._metrics.render_latest(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})


def _verdict(problems: list[str]) -> web.Response:
    if not problems:
        return web.Response(text="ok\n")
    return web.Response(status=503, text="".join(f"[-]{p}\n" for p in problems))
