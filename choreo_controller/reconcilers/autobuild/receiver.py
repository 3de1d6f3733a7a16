"""The auto-build receiver's logic: one webhook delivery in, WorkflowRuns and an HTTP answer out.

``AutoBuildReceiver.handle(headers, body)`` knows nothing about HTTP servers (``app_autobuild`` is the
aiohttp edge); it gets lower-cased headers and the raw body and returns a ``Reply``: a status code and the
JSON body ``{success, message, affectedComponents, triggeredBuilds, workflowRuns}``. In order:

====================================================================== =========================
step                                                                    refusal
====================================================================== =========================
body at most ``MAX_BODY`` (1 MiB)                                      413
provider detected from the headers (``providers.detect``)              400
Secret ``git-webhook-secrets`` readable (``secret_namespace``)         500
the provider's key present and non-empty (``providers.SECRET_KEYS``)   401
signature / token verified against the raw body                        401
``ping`` -> 200 "pong"; any other non-push event -> 200, ignored
delivery id already handled by this process -> 200, nothing created
body is JSON and a push payload of that provider                       400
the Component source is ready (``sources``: caches synced)             503 (redeliver to retry)
Components listed, Workflows read, runs created                        500 (redeliver to retry)
====================================================================== =========================

Fail closed: nothing is read from the body, and nothing is created, before the request is authenticated.
Replays create nothing new twice over: run names are derived from the delivery id (a redelivery hits
``AlreadyExists``, counted as affected but not triggered), and this process remembers the last
``REMEMBERED`` delivery ids it fully handled. A delivery that failed part-way is not remembered, so the
provider's redelivery creates exactly the runs that are still missing.

Logs carry the provider, event, delivery id, the normalised repository URL and counts - never the body,
a header value or a secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog

from choreo_controller.api.resources import SECRET, WORKFLOW_RUN
from choreo_controller.contracts import AlreadyExists, ApiError, NotFound, ObjectKey
from choreo_controller.reconcilers.autobuild import providers
from choreo_controller.reconcilers.autobuild.matching import as_map, build_run, component_source, match
from choreo_controller.reconcilers.autobuild.sources import ApiSource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.reconcilers.autobuild.providers import PushEvent
    from choreo_controller.reconcilers.autobuild.repourl import Provider
    from choreo_controller.reconcilers.autobuild.sources import Source

log = structlog.get_logger("choreo_controller.autobuild")

MAX_BODY: Final = 1024 * 1024
SECRET_NAME: Final = "git-webhook-secrets"  # noqa: S105 - the Secret's name, not a secret
REMEMBERED: Final = 4096


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]


def reply(
    status: int, message: str, affected: list[str] | None = None, runs: list[str] | None = None
) -> Reply:
    """The response body every answer shares."""
    return Reply(
        status,
        {
            "success": 200 <= status < 300,
            "message": message,
            "affectedComponents": affected or [],
            "triggeredBuilds": len(runs or []),
            "workflowRuns": runs or [],
        },
    )


@dataclass
class _Outcome:
    affected: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class AutoBuildReceiver:
    """Authenticates pushes and creates the WorkflowRuns of the Components they affect."""

    def __init__(
        self,
        api: KubeApi,
        *,
        secret_namespace: str,
        source: Source | None = None,
        secret_name: str = SECRET_NAME,
        remembered: int = REMEMBERED,
    ) -> None:
        self._api = api
        self._source: Source = source if source is not None else ApiSource(api)
        self._secret_namespace = secret_namespace
        self._secret_name = secret_name
        self._remembered = remembered
        self._handled: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def handle(self, headers: Mapping[str, str], body: bytes) -> Reply:
        """Process one delivery (``headers`` with lower-case names)."""
        admitted = await self._admit(headers, body)
        if isinstance(admitted, Reply):
            return admitted
        provider, delivery = admitted
        push = _parse(provider, body)
        if isinstance(push, Reply):
            return push
        early = self._nothing_to_match(provider, delivery, push)
        if early is not None:
            return early
        bound = log.bind(provider=provider, delivery=delivery)
        try:
            outcome = await self._build(push, delivery)
        except ApiError as exc:
            bound.warning("cannot list components", error=type(exc).__name__)
            return reply(500, "Components cannot be listed; redeliver to retry")
        bound.info(
            "push handled",
            repositories=sorted(push.repositories),
            affected=len(outcome.affected),
            triggered=len(outcome.created),
            failed=len(outcome.failed),
        )
        if outcome.failed:
            message = f"builds of {', '.join(outcome.failed)} could not be created; redeliver to retry"
            return reply(500, message, outcome.affected, outcome.created)
        message = f"{len(outcome.created)} build(s) triggered for {len(outcome.affected)} component(s)"
        return self._done(provider, delivery, reply(200, message, outcome.affected, outcome.created))

    def _nothing_to_match(self, provider: Provider, delivery: str, push: PushEvent) -> Reply | None:
        if not push.branches:
            return self._done(provider, delivery, reply(200, "no branch was updated (tag push or deletion)"))
        if not self._source.ready:
            return reply(503, "Components are not loaded yet; redeliver to retry")
        return None

    async def _admit(self, headers: Mapping[str, str], body: bytes) -> Reply | tuple[Provider, str]:
        """Size, provider, authenticity, event kind, replay: a refusal, or the provider and delivery id."""
        if len(body) > MAX_BODY:
            return reply(413, f"the body is larger than {MAX_BODY} bytes")
        provider = providers.detect(headers)
        if provider is None:
            return reply(
                400, "unknown Git provider: expected X-Hub-Signature-256, X-Gitlab-Token or X-Event-Key"
            )
        refused = await self._authenticate(provider, headers, body)
        if refused is not None:
            return refused
        ignored = _ignored(provider, headers)
        if ignored is not None:
            return ignored
        delivery = providers.delivery_id(provider, headers)
        if delivery and (provider, delivery) in self._handled:
            log.info("repeated delivery; nothing created", provider=provider, delivery=delivery)
            return reply(200, f"delivery {delivery!r} was already handled; nothing created")
        return provider, delivery

    # ---- steps -------------------------------------------------------------------------------------------
    async def _authenticate(
        self, provider: Provider, headers: Mapping[str, str], body: bytes
    ) -> Reply | None:
        key = providers.SECRET_KEYS[provider]
        where = f"Secret {self._secret_namespace}/{self._secret_name}"
        try:
            secret = await self._api.get(SECRET, self._secret_name, self._secret_namespace)
            value = base64.b64decode((secret.get("data") or {}).get(key) or "", validate=True)
        except NotFound:
            value = b""
        except (ApiError, binascii.Error) as exc:
            log.warning("webhook secrets cannot be read", provider=provider, error=type(exc).__name__)
            return reply(500, f"webhook secrets cannot be read ({where})")
        if not value:
            log.warning("no webhook secret for provider; refused", provider=provider)
            return reply(401, f"no {provider} webhook secret is configured ({where}, key {key!r})")
        if not providers.verify(provider, headers, body, value):
            log.warning("webhook signature rejected", provider=provider)
            return reply(401, f"the {provider} webhook signature or token is invalid")
        return None

    async def _build(self, push: PushEvent, delivery: str) -> _Outcome:
        outcome = _Outcome()
        workflows: dict[tuple[str, str, str], JsonObj | None] = {}
        for component in await self._source.components():
            spec = as_map(component.get("spec"))
            ref = as_map(spec.get("workflow"))
            deleting = as_map(component.get("metadata")).get("deletionTimestamp")
            if spec.get("autoBuild") is not True or not ref.get("name") or deleting:
                continue
            key = ObjectKey.of(component)
            kind, name = str(ref.get("kind") or "Workflow"), str(ref["name"])
            wf_key = (kind, "" if kind == "ClusterWorkflow" else key.namespace, name)
            if wf_key not in workflows:
                workflows[wf_key] = await self._source.workflow(*wf_key)
            workflow = workflows[wf_key]
            source = (
                component_source(component, workflow) if workflow is not None else "its workflow is missing"
            )
            if isinstance(source, str):
                log.debug("component skipped", component=str(key), why=source)
                continue
            for pushed in push.branches:
                why = match(source, push, pushed)
                if why is not None:
                    log.debug("component not affected", component=str(key), why=why)
                    continue
                try:
                    run = build_run(source, push, pushed, delivery)
                except ValueError:
                    log.warning("push skipped: malformed commit id", component=str(key))
                    continue
                if str(key) not in outcome.affected:
                    outcome.affected.append(str(key))
                await self._create(outcome, key, run)
        return outcome

    async def _create(self, outcome: _Outcome, key: ObjectKey, run: JsonObj) -> None:
        name = f"{key.namespace}/{run['metadata']['name']}"
        try:
            await self._api.create(WORKFLOW_RUN, run)
        except AlreadyExists:
            log.info("build already triggered by this delivery", run=name)
            return
        except ApiError as exc:
            log.warning("build could not be created", run=name, error=type(exc).__name__)
            outcome.failed.append(str(key))
            return
        outcome.created.append(name)

    def _done(self, provider: Provider, delivery: str, answer: Reply) -> Reply:
        """Remember a fully handled delivery (bounded, least recently handled forgotten first)."""
        if delivery:
            self._handled[(provider, delivery)] = None
            self._handled.move_to_end((provider, delivery))
            while len(self._handled) > self._remembered:
                self._handled.popitem(last=False)
        return answer


def _parse(provider: Provider, body: bytes) -> PushEvent | Reply:
    try:
        payload = json.loads(body)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return reply(400, "the body is not valid JSON")
    try:
        return providers.parse_push(provider, payload)
    except providers.MalformedPayload as bad:
        return reply(400, f"not a {provider} push payload: {bad}")


def _ignored(provider: Provider, headers: Mapping[str, str]) -> Reply | None:
    kind = providers.classify(provider, headers)
    if kind == "ping":
        return reply(200, "pong")
    if kind != "push":
        return reply(
            200, f"event {providers.event_name(provider, headers)!r} ignored: only push events build"
        )
    return None
