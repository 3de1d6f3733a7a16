"""The auto-build receiver's logic: one webhook delivery in, WorkflowRuns and an HTTP answer out.

``AutoBuildReceiver.handle(headers, body, query)`` knows nothing about HTTP servers (``app_autobuild`` is
the aiohttp edge); it gets lower-cased headers, the raw body and the URL's query, and returns a ``Reply``:
a status code and the JSON body ``{success, message, affectedComponents, triggeredBuilds, workflowRuns}``.
No work before authentication (GitHub's guidance): the first four steps cost no IO and read nothing of the
body, and the secret comes from a watched cache (``SecretSource``), never a GET per request. In order:

====================================================================== =========================
step                                                                    refusal
====================================================================== =========================
body at most ``MAX_BODY`` (1 MiB)                                      413
the URL's scope (``secrets.Scope``: shared, namespace or Component)    400
provider detected from the headers (``providers.detect``)              400
the webhook Secret is loaded (its watch has synced)                    503 (redeliver to retry)
the scope's key for the provider present and non-empty                 401
signature / token verified against the raw body, in constant time     401
``ping`` -> 200 "pong"; any other non-push event -> 200, ignored
body is JSON and a push payload of that provider, with safe ref names  400
the same signed push (provider, scope, repository, refs) handled here  200, nothing created
the Component source is ready (``sources``: caches synced)             503 (redeliver to retry)
Components listed, Workflows read, runs created                        500 (redeliver to retry)
====================================================================== =========================

A push builds only Components whose repository it names *and* whose own scope signed it
(``secrets.scope_of``). Replays create nothing new twice over, whatever delivery id they carry: run names
hash what the signature covers (``matching.build_run``), so a replay hits ``AlreadyExists``; and this
process remembers the last ``REMEMBERED`` pushes it fully handled. A delivery that failed part-way is not
remembered, so the provider's redelivery creates exactly the runs that are still missing.

Logs carry the provider, event, scope, delivery id, the normalised repository URL and counts - never the
body, a header value or a secret.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import structlog

from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import AlreadyExists, ApiError, ObjectKey
from choreo_controller.reconcilers.autobuild import providers
from choreo_controller.reconcilers.autobuild.matching import as_map, build_run, component_source, match
from choreo_controller.reconcilers.autobuild.secrets import BadScope, Scope, scope_of, secret_value
from choreo_controller.reconcilers.autobuild.sources import ApiSource

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.reconcilers.autobuild.providers import PushEvent
    from choreo_controller.reconcilers.autobuild.repourl import Provider
    from choreo_controller.reconcilers.autobuild.sources import SecretSource, Source

log = structlog.get_logger("choreo_controller.autobuild")

MAX_BODY: Final = 1024 * 1024
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
        secrets: SecretSource,
        source: Source | None = None,
        hosts: Mapping[str, Provider] | None = None,
        remembered: int = REMEMBERED,
    ) -> None:
        """``api`` creates the runs (give it a budget of its own); ``hosts``: self-hosted Git hosts."""
        self._api = api
        self._secrets = secrets
        self._source: Source = source if source is not None else ApiSource(api)
        self._hosts = dict(hosts or {})
        self._remembered = remembered
        self._handled: OrderedDict[tuple[object, ...], None] = OrderedDict()

    async def handle(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> Reply:
        """Process one delivery (``headers`` with lower-case names, ``query`` the URL's parameters)."""
        admitted = self._admit(headers, body, query or {})
        if isinstance(admitted, Reply):
            return admitted
        provider, scope, keys = admitted
        delivery = providers.delivery_id(provider, headers)
        push = _parse(provider, body)
        if isinstance(push, Reply):
            return push
        replay = (provider, str(scope), tuple(sorted(push.repositories)), push.branches)
        early = self._nothing_to_match(replay, push)
        if early is not None:
            return early
        bound = log.bind(provider=provider, scope=str(scope), delivery=delivery)
        try:
            outcome = await self._build(push, delivery, scope, keys)
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
        return self._done(replay, reply(200, message, outcome.affected, outcome.created))

    def _nothing_to_match(self, replay: tuple[object, ...], push: PushEvent) -> Reply | None:
        if replay in self._handled:
            log.info("repeated push; nothing created", provider=push.provider, scope=replay[1])
            return reply(200, "this push was already handled; nothing created")
        if not push.branches:
            return self._done(replay, reply(200, "no branch was updated (tag push or deletion)"))
        if not self._source.ready:
            return reply(503, "Components are not loaded yet; redeliver to retry")
        return None

    def _admit(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str]
    ) -> Reply | tuple[Provider, Scope, Mapping[str, str]]:
        """Size, scope, provider, authenticity, event kind: no IO, and the body unread until the MAC holds."""
        if len(body) > MAX_BODY:
            return reply(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            scope = Scope.of_query(query)
        except BadScope as bad:
            return reply(400, f"bad webhook scope: {bad}")
        provider = providers.detect(headers)
        if provider is None:
            return reply(
                400, "unknown Git provider: expected X-Hub-Signature-256, X-Gitlab-Token or X-Event-Key"
            )
        keys = self._authenticate(provider, scope, headers, body)
        if isinstance(keys, Reply):
            return keys
        ignored = _ignored(provider, headers)
        return ignored if ignored is not None else (provider, scope, keys)

    def _authenticate(
        self, provider: Provider, scope: Scope, headers: Mapping[str, str], body: bytes
    ) -> Reply | Mapping[str, str]:
        """The Secret's keys if the scope's key verifies the request (constant time), else a refusal."""
        if not self._secrets.ready:
            return reply(503, "webhook secrets are not loaded yet; redeliver to retry")
        keys = self._secrets.data()
        key = scope.key(providers.SECRET_KEYS[provider])
        value = secret_value(keys, key)
        if not value:
            log.warning("no webhook secret for this scope; refused", provider=provider, scope=str(scope))
            return reply(401, f"no {provider} webhook secret is configured ({self._secrets}, key {key!r})")
        if not providers.verify(provider, headers, body, value):
            log.warning("webhook signature rejected", provider=provider, scope=str(scope))
            return reply(401, f"the {provider} webhook signature or token is invalid")
        return keys

    # ---- steps -------------------------------------------------------------------------------------------
    async def _build(self, push: PushEvent, delivery: str, scope: Scope, keys: Mapping[str, str]) -> _Outcome:
        outcome = _Outcome()
        workflows: dict[tuple[str, str, str], JsonObj | None] = {}
        provider_key = providers.SECRET_KEYS[push.provider]
        for component in await self._source.components():
            spec = as_map(component.get("spec"))
            ref = as_map(spec.get("workflow"))
            deleting = as_map(component.get("metadata")).get("deletionTimestamp")
            if spec.get("autoBuild") is not True or not ref.get("name") or deleting:
                continue
            key = ObjectKey.of(component)
            if scope_of(key, provider_key, keys) != scope:
                continue  # another secret builds this Component
            kind, name = str(ref.get("kind") or ""), str(ref["name"])
            if not kind:  # the namespace's Workflow if one exists, else the ClusterWorkflow (api.refs)
                namespaced = await self._workflow(workflows, ("Workflow", key.namespace, name))
                kind = "Workflow" if namespaced is not None else "ClusterWorkflow"
            wf_key = (kind, "" if kind == "ClusterWorkflow" else key.namespace, name)
            workflow = await self._workflow(workflows, wf_key)
            source = (
                component_source(component, workflow, kind=kind)
                if workflow is not None
                else "its workflow is missing"
            )
            if isinstance(source, str):
                log.debug("component skipped", component=str(key), why=source)
                continue
            for pushed in push.branches:
                why = match(source, push, pushed, self._hosts)
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

    async def _workflow(
        self, seen: dict[tuple[str, str, str], JsonObj | None], wf_key: tuple[str, str, str]
    ) -> JsonObj | None:
        """``(kind, namespace, name)``'s Workflow or ClusterWorkflow, read once per delivery."""
        if wf_key not in seen:
            seen[wf_key] = await self._source.workflow(*wf_key)
        return seen[wf_key]

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

    def _done(self, replay: tuple[object, ...], answer: Reply) -> Reply:
        """Remember a fully handled push (bounded, least recently handled forgotten first)."""
        self._handled[replay] = None
        self._handled.move_to_end(replay)
        while len(self._handled) > self._remembered:
            self._handled.popitem(last=False)
        return answer


def _parse(provider: Provider, body: bytes) -> PushEvent | Reply:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, absurd nesting
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
