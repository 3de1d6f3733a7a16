"""The auto-build receiver's HTTP listener: ``POST /api/v1alpha1/autobuild`` (SPEC sections 1 and 6).

A thin aiohttp edge around ``reconcilers.autobuild.AutoBuildReceiver`` (which holds every decision): it
reads at most ``MAX_BODY`` bytes within the listener's body deadline - a larger ``Content-Length`` is
refused with 413 before the body is read, and a chunked body stops at the cap - folds header names to
lower case, passes the URL's query (the webhook scope) and writes the receiver's ``Reply`` as JSON. An
unexpected exception is a 500 with a generic message; its type is logged, never the request. The listener
is its own port (off by default; ``--autobuild-bind-address``), so it can be exposed to Git providers
without exposing ``/metrics`` or the probes.

Flood hygiene (``runtime.listener``, ``LIMITS``): at most 256 connections, 32 per address, each cut if its
request head is not in within 10 s; at most 20 requests/s per address (burst 40), 429 beyond - before the
receiver does anything. The receiver itself does no IO before the signature check.

Run it as a runnable of the manager (``AutoBuildServer.run``) on every replica, not only the leader:
run names are deterministic per push, so two replicas receiving the same delivery create one run.

Secrets: the Secret ``git-webhook-secrets`` in ``secret_namespace`` holds the keys of
``reconcilers.autobuild.secrets`` (``github-secret``, ``<namespace>.github-secret``,
``<namespace>.<component>.github-secret``, likewise for gitlab and bitbucket). It is watched (a
``metadata.name`` field selector, so RBAC can name that one Secret) and read from the cache; a rotation
applies when the watch delivers it. Runs are created through the ``api`` given - the controller gives a
client with a small rate budget of its own, so deliveries never spend the reconcilers' budget.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, NoReturn

import structlog
from aiohttp import web

from choreo_controller.api.resources import SECRET
from choreo_controller.reconcilers.autobuild import MAX_BODY, SECRET_NAME, AutoBuildReceiver, CachedSecret
from choreo_controller.reconcilers.autobuild.receiver import reply
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.listener import Listener, ListenerLimits
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import KubeApi
    from choreo_controller.reconcilers.autobuild import Reply, Source
    from choreo_controller.reconcilers.autobuild.repourl import Provider
    from choreo_controller.reconcilers.autobuild.sources import ListableStore

log = structlog.get_logger("choreo_controller.autobuild")
PATH = "/api/v1alpha1/autobuild"
LIMITS = ListenerLimits(
    header_timeout=10.0,
    idle_timeout=30.0,
    body_timeout=10.0,
    max_connections=256,
    per_source=32,
    reserved=0,
    rate=20.0,
    burst=40,
)


def secret_informer(api: KubeApi, namespace: str, name: str = SECRET_NAME) -> Informer:
    """An informer on the one webhook Secret (what ``CachedSecret`` reads)."""
    return Informer(
        api, SECRET, clock=RealClock(), namespace=namespace, field_selector=f"metadata.name={name}"
    )


class AutoBuildServer:
    """Serves ``POST /api/v1alpha1/autobuild`` on ``host:port`` (``port=0``: any free port, see ``port``)."""

    def __init__(
        self,
        receiver: AutoBuildReceiver,
        *,
        host: str,
        port: int,
        limits: ListenerLimits = LIMITS,
        informer: Informer | None = None,
    ) -> None:
        """``informer``: the Secret's informer, if this server must run it itself."""
        self._receiver = receiver
        self._host = host
        self._port = port
        self._bound: int | None = None
        self._started = asyncio.Event()
        self._listener = Listener(limits)
        self._informer = informer

    @classmethod
    def create(  # noqa: PLR0913 - keyword-only wiring, all but the address optional
        cls,
        api: KubeApi,
        *,
        host: str,
        port: int,
        secret_namespace: str,
        source: Source | None = None,
        secret_store: ListableStore | None = None,
        secret_name: str = SECRET_NAME,
        hosts: Mapping[str, Provider] | None = None,
        limits: ListenerLimits = LIMITS,
    ) -> AutoBuildServer:
        """A server creating runs through ``api``.

        Components and Workflows come from ``source`` (the controller's caches), else from ``api``; the
        Secret from ``secret_store`` (an informer's store the caller runs), else from an informer this
        server runs.
        """
        informer = secret_informer(api, secret_namespace, secret_name) if secret_store is None else None
        store = secret_store if secret_store is not None else informer.store  # type: ignore[union-attr]
        secrets = CachedSecret(store, secret_namespace, secret_name)
        receiver = AutoBuildReceiver(api, secrets=secrets, source=source, hosts=hosts)
        return cls(receiver, host=host, port=port, limits=limits, informer=informer)

    @property
    def port(self) -> int:
        """The port actually listened on (after ``wait_started``)."""
        if self._bound is None:
            raise RuntimeError("the server has not started")
        return self._bound

    async def wait_started(self) -> None:
        """Return once the socket is listening (and the Secret's own informer, if any, has listed)."""
        await self._started.wait()
        if self._informer is not None:
            await self._informer.wait_synced()

    def application(self) -> web.Application:
        """The aiohttp application with the one route."""
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._listener.middleware])
        app.router.add_post(PATH, self._handle)
        return app

    async def run(self) -> NoReturn:
        """Listen (and watch the Secret, if this server owns its informer) until cancelled."""
        watching = (
            asyncio.create_task(self._informer.run(), name="autobuild-secret-informer")
            if self._informer is not None
            else None
        )
        try:
            await self._listener.serve(self.application(), self._host, self._port, self._listening)
        finally:
            if watching is not None:
                await cancel_and_wait(watching)

    def _listening(self, port: int) -> None:
        self._bound = port
        self._started.set()
        log.info("auto-build receiver listening", host=self._host, port=port, path=PATH)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _json(reply(413, f"the body is larger than {MAX_BODY} bytes"))
        try:
            body = await self._listener.read_body(request)
        except web.HTTPRequestEntityTooLarge:
            return _json(reply(413, f"the body is larger than {MAX_BODY} bytes"))
        except TimeoutError:
            return _json(reply(408, "the request body did not arrive in time"))
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            answer = await self._receiver.handle(headers, body, dict(request.query))
        except Exception as exc:  # noqa: BLE001 - the edge answers every request; details stay in the log
            log.error("auto-build delivery failed", error=type(exc).__name__)  # noqa: TRY400 - a traceback may quote the request
            answer = reply(500, "internal error; redeliver to retry")
        return _json(answer)


def _json(answer: Reply) -> web.Response:
    return web.json_response(answer.body, status=answer.status)
