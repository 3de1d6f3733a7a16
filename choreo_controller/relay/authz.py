"""The agent's allowlist: what the control plane may do in a build plane through the relay. DEFAULT DENY.

The agent runs this on every request before anything reaches its apiserver (SPEC section 7). A request is
served only if all of these hold:

1. It is canonical (``requestinfo.parse``: no ``..``, ``%``, ``//``, ``;``, NUL, upper case, legacy prefixes,
   unknown or repeated query keys) and the verb the gateway declared is the verb the path means.
2. A rule names its group, version, resource, subresource and verb. The rules are the engine's table of
   build-plane kinds (``api.buildkinds``: prerequisites, the extra kinds a Workflow may render, the
   engine's run kind, and what people read of a run), verbs and all; nothing else is served. The only
   subresource is ``pods/log`` (get); ``exec``, ``proxy``, ``attach``, ``portforward``, ``token``,
   ``status``... are refused.
3. The namespace (or, for the Namespace object itself, its name) is a build namespace of the agent's
   ``Scope``: ``openchoreo-ci-<label>`` for an agent of a BuildPlane (its certificate names
   ``openchoreo://buildplane/...``), ``workflows-<label>`` for one of a WorkflowPlane
   (``openchoreo://workflowplane/...``) - the generation decides (``api.planes``). Every namespaced rule is
   confined to build namespaces, and the only cluster-scoped resource is the Namespace
   prerequisite of SPEC 5.6. One exception, for the engine's informers, cleanup and orphan sweep: a kind
   the engine lists may be *listed (and watched)* across all namespaces, and then the agent cuts the
   answer down to objects in build namespaces (``Decision.filter_namespaces``) - nothing from another
   namespace leaves the build plane. Writes and gets always name a build namespace.
4. The content type is the one ``KubeClient`` sends for that verb (JSON, merge patch, apply); strategic
   merge and JSON patch are refused.
5. Bodies of every write are checked so that nothing can widen access or move workloads:
   * no label or annotation in the ``kubernetes.io`` / ``k8s.io`` domains (``pod-security.kubernetes.io/
     enforce=privileged``, ``scheduler.alpha.kubernetes.io/node-selector``, a Secret's
     ``kubernetes.io/service-account.name``...), on any object;
   * a Namespace is exactly what the engine writes: a build namespace, no annotations, no spec,
     labels only ``openchoreo.dev/managed-by``;
   * a Secret is not a ``kubernetes.io/service-account-token`` (that would mint a token);
   * a Role may only grant verbs on the table's ``GRANT`` rows (what an engine's pods write, e.g. task
     results); a RoleBinding may only bind a Role to ServiceAccounts of its own namespace.
   The prerequisites are never patched (the engine creates what is missing), so no patch of a Namespace,
   ServiceAccount, Role or RoleBinding is served at all.
6. What people read of a run (``OBSERVE`` rows: ``runs logs``, ``runs get``) is read-only and narrow:
   pods are listed only by the label an engine puts on its run's pods (``Engine.pod_label``), equal to
   one run's name (``workflows.argoproj.io/workflow=<name>``: no other selector, no field selector); a
   pod's log only with the log options we use (``container`` named; no ``previous``, no
   ``insecureSkipTLSVerifyBackend``) and only once the agent has seen that the pod carries such a label
   (``Decision.check_pod``: ``run_pod``); Events only field-selected by ``involvedObject.name`` (plus
   ``involvedObject.kind``, ``.namespace``, ``.uid``, ``type``, ``reason``). None across namespaces.

Headers: the agent forwards none of the caller's headers (the content type travels in its own field and
is checked above). ``sanitize_headers`` still classifies what it drops - ``Impersonate-*``, ``X-Remote-*``,
headers named by ``Connection`` (CVE-2021-31999) - so a smuggling attempt shows in the log.

The agent's ClusterRole (``manifests/build-plane``) grants the same set; RBAC is the second line, this the
first, and it is the only one that can express "namespaces named openchoreo-ci-*" (or ``workflows-*``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from choreo_controller.api import buildkinds, labels, planes
from choreo_controller.engines import ENGINES
from choreo_controller.relay.requestinfo import NotCanonical, RequestInfo, parse

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
ROLE_VERBS = frozenset({"get", "list", "watch", "create", "patch"})  # what the workflow's Role may grant
GRANTABLE = frozenset(
    (row.resource.group, row.resource.plural) for row in buildkinds.KINDS if row.use == buildkinds.GRANT
)
_GRANT_RULES = [[[group], [plural]] for group, plural in sorted(GRANTABLE)]
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"  # noqa: S105 - a Secret type, not a secret
FORWARDED_HEADERS: frozenset[str] = frozenset()  # none: see the module docstring
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                         "transfer-encoding", "proxy-authorization", "proxy-authenticate"})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scope:
    """The build namespaces one agent may touch: ``<prefix><label>``, a valid namespace name (<= 63)."""

    prefix: str

    @property
    def pattern(self) -> re.Pattern[str]:
        """The namespaces of this scope."""
        room = 63 - len(self.prefix) - 2  # a label of at least one character, at most 63 in all
        return re.compile(re.escape(self.prefix) + rf"[a-z0-9]([-a-z0-9]{{0,{room}}}[a-z0-9])?")

    def contains(self, namespace: str) -> bool:
        """``namespace`` is a build namespace of this scope."""
        return bool(self.pattern.fullmatch(namespace))

    def __str__(self) -> str:
        return f"{self.prefix}*"


#: An agent's scope by the generation its certificate names (``identity.claimed_plane``).
SCOPES: dict[str, Scope] = {g.identity: Scope(g.namespace_prefix) for g in planes.GENERATIONS}
BUILD_PLANE_SCOPE = SCOPES[planes.BUILD_PLANE_ERA.identity]


@dataclass(frozen=True, slots=True)
class Rule:
    """Verbs allowed on one resource; ``namespaced=False`` means the Namespace prerequisite."""

    group: str
    versions: frozenset[str]
    resource: str
    verbs: frozenset[str]
    namespaced: bool = True
    across_namespaces: bool = False  # list/watch over all namespaces, answers filtered to build namespaces
    subresource: str = ""
    observe: bool = False  # read-only for people: selectors and log options are checked (point 6)


POD_LABELS = frozenset(engine.pod_label for engine in ENGINES)  # a run's pods are listed by one of them
RULES: tuple[Rule, ...] = tuple(
    Rule(group, row.versions, plural, row.verbs, row.namespaced, row.across_namespaces, sub, row.observe)
    for (group, plural, sub), row in sorted(buildkinds.relayed().items())
)
_LABEL_VALUE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?")  # a run object's name, as its pods carry it
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_SINCE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")
_EVENT_FIELDS = frozenset({"involvedObject.name", "involvedObject.kind", "involvedObject.namespace",
                           "involvedObject.uid", "type", "reason"})  # fmt: skip
_CONTENT_TYPES: dict[str, frozenset[str | None]] = {
    "get": frozenset({None}),
    "list": frozenset({None}),
    "watch": frozenset({None}),
    "create": frozenset({JSON}),
    "update": frozenset({JSON}),
    "patch": frozenset({MERGE_PATCH, APPLY_PATCH}),
    "delete": frozenset({None, JSON}),
}


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed, or not and why (a short reason naming the rule, never the payload)."""

    allowed: bool
    reason: str
    info: RequestInfo | None = None
    filter_namespaces: bool = False  # the answer must be cut down to objects in build namespaces
    check_pod: bool = False  # a pod's log: serve it only if ``run_pod`` says the pod is a run's


def authorize(
    verb: str,
    method: str,
    path: str,
    query: tuple[tuple[str, str], ...] = (),
    content_type: str | None = None,
    body: bytes | None = None,
    *,
    scope: Scope = BUILD_PLANE_SCOPE,
) -> Decision:
    """Decide one request in ``scope``. ``verb`` is what the sender declared (``watch`` for a watch_start)."""
    try:
        info = parse(method, path, query)
    except NotCanonical as exc:
        return Decision(allowed=False, reason=f"not canonical: {exc}")
    reason = _refusal(info, verb, content_type, body, query, scope)
    across = (
        reason is None
        and not info.namespace
        and info.verb in {"list", "watch"}
        and info.resource != "namespaces"
    )
    allowed = reason is None
    log = allowed and info.subresource == "log"
    return Decision(allowed, reason or "allowed", info, filter_namespaces=across, check_pod=log)


def _rule(info: RequestInfo) -> Rule | None:
    wanted = (info.group, info.resource, info.subresource)
    return next((r for r in RULES if (r.group, r.resource, r.subresource) == wanted), None)


def _refusal(
    info: RequestInfo,
    verb: str,
    content_type: str | None,
    body: bytes | None,
    query: tuple[tuple[str, str], ...],
    scope: Scope,
) -> str | None:
    rule = _rule(info)
    reason: str | None = None
    if info.verb != verb:
        reason = f"declared verb {verb!r} but the request is {info.verb!r}"
    elif rule is None and info.subresource and _rule(replace(info, subresource="")) is not None:
        reason = "subresources are not allowed (but pods/log)"
    elif rule is None or info.version not in rule.versions:
        reason = "resource not in the allowlist"
    elif info.verb not in rule.verbs:
        reason = f"verb {info.verb} not allowed on {info.resource}"
    elif not _in_build_namespace(rule, info, scope):
        reason = f"only {scope} namespaces are allowed"
    elif content_type not in _CONTENT_TYPES[info.verb] or (body is not None and content_type is None):
        reason = f"content type not allowed for {info.verb}"
    elif info.verb in {"create", "update", "patch"}:
        reason = _check_body(info, body, scope)
    elif rule.observe:
        reason = _check_observe(info, dict(query))
    return reason


def _check_observe(info: RequestInfo, query: dict[str, str]) -> str | None:
    """Point 6 of the module docstring (the query is canonical: each key once)."""
    if info.resource == "pods" and info.subresource == "log":
        return _check_log_options(query)
    if info.resource == "pods":
        key, sep, value = query.get("labelSelector", "").partition("=")
        allowed = POD_LABELS
        if sep != "=" or key not in allowed or not _LABEL_VALUE.fullmatch(value) or "fieldSelector" in query:
            return f"pods may only be listed by a run's label ({' or '.join(sorted(allowed))}=<name>)"
        return None
    terms = [term.partition("=") for term in query.get("fieldSelector", "").split(",")]
    fields = {key: value for key, sep, value in terms if sep == "=" and not key.endswith("!")}
    if (
        "labelSelector" in query
        or len(fields) != len(terms)
        or not set(fields) <= _EVENT_FIELDS
        or not _OBJECT_NAME.fullmatch(fields.get("involvedObject.name", ""))
    ):
        return "events may only be listed field-selected by involvedObject.name (one object's events)"
    return None


def _check_log_options(query: dict[str, str]) -> str | None:
    container = query.get("container", "")
    flags_ok = all(query.get(flag, "true") in {"true", "false"} for flag in ("follow", "timestamps"))
    numbers_ok = all(
        query.get(key, "0").isdigit() and len(query.get(key, "0")) <= 12
        for key in ("sinceSeconds", "tailLines", "limitBytes")
    )
    since_ok = "sinceTime" not in query or bool(_SINCE_TIME.fullmatch(query["sinceTime"]))
    if not (_DNS_LABEL.fullmatch(container) and flags_ok and numbers_ok and since_ok):
        return "a pod's log needs a container name and well-formed log options"
    return None


def run_pod(listed: bytes) -> bool | None:
    """A LIST of one pod (``fieldSelector=metadata.name=...``): a run's (engine label)? ``None``: no pod."""
    try:
        answer: Any = json.loads(listed)
    except (ValueError, RecursionError):
        return False
    items = answer.get("items") if isinstance(answer, dict) else None
    if items == []:
        return None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        return False
    pod_labels = (items[0].get("metadata") or {}).get("labels") or {}
    return isinstance(pod_labels, dict) and any(isinstance(pod_labels.get(key), str) for key in POD_LABELS)


def _in_build_namespace(rule: Rule, info: RequestInfo, scope: Scope) -> bool:
    if rule.namespaced and not info.namespace:
        return rule.across_namespaces and info.verb in {"list", "watch"}
    if rule.namespaced:
        return scope.contains(info.namespace)
    # The Namespace prerequisite: cluster-scoped; a create names it in the body (checked there).
    return not info.namespace and (not info.name or scope.contains(info.name))


def _check_body(info: RequestInfo, body: bytes | None, scope: Scope) -> str | None:
    try:
        obj: Any = json.loads(body or b"null")
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        return "body must be a JSON object"
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return "metadata must be a JSON object"
    return _check_metadata(meta or {}) or _check_kind(info, obj, meta or {}, scope)


def _check_kind(info: RequestInfo, obj: dict[str, Any], meta: dict[str, Any], scope: Scope) -> str | None:
    if info.resource == "namespaces":
        return _check_namespace(obj, meta, info.name, scope)
    if info.resource == "secrets" and obj.get("type") == SERVICE_ACCOUNT_TOKEN:
        return "a Secret may not be a service account token"
    if info.resource == "roles":
        return _check_rules(obj.get("rules"))
    if info.resource == "rolebindings":
        return _check_binding(obj, info.namespace)
    return None


def _check_metadata(meta: dict[str, Any]) -> str | None:
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"metadata.{field} must be a map"
        reserved = next((k for k in values if isinstance(k, str) and _reserved(k)), None)
        if reserved is not None or not all(isinstance(k, str) for k in values):
            return f"metadata.{field} may not set {str(reserved)[:80]!r} (kubernetes.io and k8s.io keys)"
    return None


def _reserved(key: str) -> bool:
    """A key in the Kubernetes domains (``pod-security.kubernetes.io/...``, ``k8s.io/...``)."""
    prefix, slash, _ = key.rpartition("/")
    domain = prefix.lower()
    return bool(slash) and any(domain == d or domain.endswith("." + d) for d in ("kubernetes.io", "k8s.io"))


def _check_namespace(obj: dict[str, Any], meta: dict[str, Any], path_name: str, scope: Scope) -> str | None:
    name = meta.get("name")
    wanted = path_name or name
    if not (isinstance(wanted, str) and scope.contains(wanted) and name in {None, wanted}):
        return f"a Namespace must be named {scope}"
    extra = (set(obj) - {"apiVersion", "kind", "metadata"}) | (set(meta) - {"name", "labels"})
    if extra or set(meta.get("labels") or {}) - {labels.LABEL_MANAGED_BY}:
        return f"a Namespace may only carry the {labels.LABEL_MANAGED_BY} label (no annotations, no spec)"
    return None


def _check_rules(rules: Any) -> str | None:
    if rules is None:
        return None
    ok = isinstance(rules, list) and all(
        isinstance(r, dict)
        and set(r) <= {"apiGroups", "resources", "verbs", "resourceNames"}
        and [r.get("apiGroups"), r.get("resources")] in _GRANT_RULES  # list equality: any JSON is safe
        and isinstance(r.get("verbs"), list)
        and set(r["verbs"]) <= ROLE_VERBS
        for r in rules
    )
    grantable = ", ".join(sorted(f"{group}/{plural}" for group, plural in GRANTABLE))
    return None if ok else f"a Role may only grant verbs on {grantable}"


def _check_binding(obj: dict[str, Any], namespace: str) -> str | None:
    ref = obj.get("roleRef")
    if ref is not None and not (
        isinstance(ref, dict)
        and ref.get("kind") == "Role"
        and ref.get("apiGroup") == "rbac.authorization.k8s.io"
    ):
        return "a RoleBinding may only reference a Role"
    subjects = obj.get("subjects")
    if subjects is not None and not (
        isinstance(subjects, list)
        and all(
            isinstance(s, dict)
            and s.get("kind") == "ServiceAccount"
            and s.get("namespace", namespace) == namespace
            for s in subjects
        )
    ):
        return "a RoleBinding may only bind ServiceAccounts of its own namespace"
    return None


def sanitize_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """``(forwarded, dropped)``: forwarded headers and ``"<name>: <why>"`` for each dropped one."""
    named_by_connection = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("impersonate-"):
            why = "impersonation"
        elif lower.startswith("x-remote-"):
            why = "authenticating-proxy identity"
        elif lower in named_by_connection or lower in _HOP_BY_HOP:
            why = "hop-by-hop"
        elif lower not in FORWARDED_HEADERS:
            why = "not allowlisted"
        else:
            kept.append((name, value))
            continue
        dropped.append(f"{name[:64]}: {why}")
    return tuple(kept), dropped
