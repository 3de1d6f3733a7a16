"""The auto-build receiver's HTTP listener: ``POST /api/v1alpha1/autobuild`` (SPEC sections 1 and 6).

A thin aiohttp edge around ``reconcilers.autobuild.AutoBuildReceiver`` (which holds every decision): it
reads at most ``MAX_BODY`` bytes - a larger ``Content-Length`` is refused with 413 before the body is
read, and a chunked body stops at the cap - folds header names to lower case, and writes the receiver's
``Reply`` as JSON. An unexpected exception is a 500 with a generic message; its type is logged, never the
request. The listener is its own port (off by default; ``--autobuild-bind-address``), so it can be
exposed to Git providers without exposing ``/metrics`` or the probes.

Run it as a runnable of the manager (``AutoBuildServer.run``) on every replica, not only the leader:
run names are deterministic per delivery, so two replicas receiving the same delivery create one run.

Secrets: the Secret ``git-webhook-secrets`` in ``secret_namespace`` holds one key per provider -
``github-secret`` (GitHub HMAC secret), ``gitlab-secret`` (GitLab secret token), ``bitbucket-secret``
(Bitbucket HMAC secret). It is read on every delivery, so a rotation applies at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NoReturn

import structlog
from aiohttp import web

from choreo_controller.reconcilers.autobuild import MAX_BODY, SECRET_NAME, AutoBuildReceiver
from choreo_controller.reconcilers.autobuild.receiver import reply

if TYPE_CHECKING:
    from choreo_controller.contracts import KubeApi
    from choreo_controller.reconcilers.autobuild import Reply, Source

log = structlog.get_logger("choreo_controller.autobuild")
PATH = "/api/v1alpha1/autobuild"


class AutoBuildServer:
    """Serves ``POST /api/v1alpha1/autobuild`` on ``host:port`` (``port=0``: any free port, see ``port``)."""

    def __init__(self, receiver: AutoBuildReceiver, *, host: str, port: int) -> None:
        self._receiver = receiver
        self._host = host
        self._port = port
        self._bound: int | None = None
        self._started = asyncio.Event()

    @classmethod
    def create(
        cls,
        api: KubeApi,
        *,
        host: str,
        port: int,
        secret_namespace: str,
        source: Source | None = None,
        secret_name: str = SECRET_NAME,
    ) -> AutoBuildServer:
        """A server reading the Secret and creating runs through ``api``.

        Components and Workflows come from ``source`` (the controller's caches), else from ``api``.
        """
        receiver = AutoBuildReceiver(
            api, secret_namespace=secret_namespace, source=source, secret_name=secret_name
        )
        return cls(receiver, host=host, port=port)

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
        """The aiohttp application with the one route."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self._handle)
        return app

    async def run(self) -> NoReturn:
        """Listen until cancelled."""
        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            self._bound = int(runner.addresses[0][1])
            self._started.set()
            log.info("auto-build receiver listening", host=self._host, port=self._bound, path=PATH)
            await asyncio.Event().wait()  # until cancelled
            raise AssertionError("unreachable")
        finally:
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _json(reply(413, f"the body is larger than {MAX_BODY} bytes"))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json(reply(413, f"the body is larger than {MAX_BODY} bytes"))
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            answer = await self._receiver.handle(headers, body)
        except Exception as exc:  # noqa: BLE001 - the edge answers every request; details stay in the log
            log.error("auto-build delivery failed", error=type(exc).__name__)  # noqa: TRY400 - a traceback may quote the request
            answer = reply(500, "internal error; redeliver to retry")
        return _json(answer)


def _json(answer: Reply) -> web.Response:
    return web.json_response(answer.body, status=answer.status)
