r"""What a relayed request *is*: verb, group, version, resource, namespace, name - from method, path, query.

This mirrors the apiserver's ``RequestInfoFactory`` (``k8s.io/apiserver/pkg/endpoints/request``) closely
enough that the agent's allowlist judges the request the apiserver will actually serve, but it is strict
where the apiserver is lenient: only the *canonical* form of a path is accepted, so there is nothing to
normalise and no second interpretation to smuggle through. ``KubeClient`` only ever produces canonical
paths (names are DNS-1123, so nothing in them needs percent-encoding).

Refused (``NotCanonical``): anything but printable ASCII (NUL, control characters, spaces, non-ASCII), ``%``
in any form (``%2e``, ``%2f``, ``%00``), ``\\``, ``;``, ``?``, ``#``, empty segments (``//``, a trailing
``/``), ``.`` and ``..`` segments, upper case in group, version or resource, the legacy ``/watch/`` and
``/proxy/`` prefixes, query keys that are unknown (for the verb, or for ``get`` of ``log``: the
``PodLogOptions`` we use) or repeated, ``watch`` with a name or with a value other than ``1``/``true``, a POST
to a named path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_GROUP = _DNS_SUBDOMAIN
_VERSION = re.compile(r"v[1-9][0-9]*((alpha|beta)[1-9][0-9]*)?")
_RESOURCE = re.compile(r"[a-z][a-z0-9]{0,62}")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_FORBIDDEN_CHARS = frozenset("%\\;?#")
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})  # /api/v1/namespaces/{name}/{sub}
_LEGACY_PREFIXES = frozenset({"watch", "proxy"})
MAX_PATH = 2048
TRUE_VALUES = frozenset({"1", "true"})

_QUERY_KEYS: dict[str, frozenset[str]] = {
    "get": frozenset({"resourceVersion"}),
    "list": frozenset({"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
                       "resourceVersionMatch"}),
    "watch": frozenset({"watch", "resourceVersion", "resourceVersionMatch", "allowWatchBookmarks",
                        "timeoutSeconds", "labelSelector", "fieldSelector", "sendInitialEvents"}),
    "create": frozenset({"fieldManager", "fieldValidation"}),
    "update": frozenset({"fieldManager", "fieldValidation"}),
    "patch": frozenset({"fieldManager", "fieldValidation", "force"}),
    "delete": frozenset(),
    "deletecollection": frozenset(),
    "get log": frozenset({"container", "follow", "timestamps", "sinceSeconds", "sinceTime", "tailLines",
                          "limitBytes"}),  # PodLogOptions, less previous and insecureSkipTLSVerifyBackend
}  # fmt: skip


class NotCanonical(ValueError):
    """The request is not in the one form the relay accepts; the message says why (no payloads)."""


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The parts of a resource request an authorizer looks at."""

    verb: str
    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""


# Pure, so cached - but small: most keys name one run's objects (its Workflow's name, its uid in a label
# selector) and never come again, so a big cache only fills with them; the keys that do repeat (a create
# into a namespace) repeat within a few runs. Measured: docs/performance.md, "## Soak".
@functools.lru_cache(maxsize=128)
def parse(method: str, path: str, query: tuple[tuple[str, str], ...] = ()) -> RequestInfo:
    """Classify a request; ``NotCanonical`` unless method, path and query are in canonical form."""
    group, version, rest = _api_prefix(_segments(path))
    namespace, rest = _namespace(rest)
    if len(rest) > 3:
        raise NotCanonical("too many path segments")
    resource, name, subresource = (*rest, "", "")[:3]
    if not _RESOURCE.fullmatch(resource):
        raise NotCanonical("invalid resource name")
    if name:
        _check_name(name, "name")
    if subresource and not _RESOURCE.fullmatch(subresource):
        raise NotCanonical("invalid subresource")
    verb = _verb(method, name=name, query=query)
    _check_query(f"{verb} {subresource}" if f"{verb} {subresource}" in _QUERY_KEYS else verb, query)
    return RequestInfo(verb, group, version, resource, namespace, name, subresource)


def _api_prefix(segments: list[str]) -> tuple[str, str, list[str]]:
    if segments[:1] == ["api"] and len(segments) >= 2:
        group, version, rest = "", segments[1], segments[2:]
    elif segments[:1] == ["apis"] and len(segments) >= 3:
        group, version, rest = segments[1], segments[2], segments[3:]
        if not _GROUP.fullmatch(group):
            raise NotCanonical("invalid API group")
    else:
        raise NotCanonical("not a resource path (/api/... or /apis/...)")
    if not _VERSION.fullmatch(version):
        raise NotCanonical("invalid API version")
    if not rest or rest[0] in _LEGACY_PREFIXES:
        raise NotCanonical("not a resource path (legacy /watch or /proxy prefixes are refused)")
    return group, version, rest


def _namespace(rest: list[str]) -> tuple[str, list[str]]:
    """Split ``namespaces/{ns}/`` off as the apiserver does; ``namespaces/{name}[/status]`` is the object."""
    if rest[0] != "namespaces" or len(rest) < 2 or (len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES):
        return "", rest
    _check_name(rest[1], "namespace")
    if len(rest) == 2:
        return "", rest
    return rest[1], rest[2:]


def _segments(path: str) -> list[str]:
    if not isinstance(path, str) or not 1 < len(path) <= MAX_PATH or not path.startswith("/"):
        raise NotCanonical("path must be an absolute path of at most 2048 characters")
    if not _PRINTABLE.fullmatch(path):
        raise NotCanonical("path holds a character outside printable ASCII")
    if _FORBIDDEN_CHARS.intersection(path):
        raise NotCanonical("path holds a forbidden character (% \\ ; ? #)")
    segments = path[1:].split("/")
    if any(s in {"", ".", ".."} for s in segments):
        raise NotCanonical("path has an empty, '.' or '..' segment")
    return segments


def _check_name(value: str, what: str) -> None:
    pattern = _DNS_LABEL if what == "namespace" else _DNS_SUBDOMAIN
    if len(value) > 253 or not pattern.fullmatch(value):
        raise NotCanonical(f"{what} is not a DNS-1123 name")


def _verb(method: str, *, name: str, query: tuple[tuple[str, str], ...]) -> str:
    watch = [v for k, v in query if k == "watch"]
    if method == "GET":
        return _read_verb(name, watch)
    if watch:
        raise NotCanonical("watch is only valid on GET")
    if method == "POST" and name:
        raise NotCanonical("POST to a named path is refused")
    if method in {"PUT", "PATCH"} and not name:
        raise NotCanonical(f"{method} needs an object name")
    verbs = {
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }
    if method not in verbs:
        raise NotCanonical("unsupported method")
    return verbs[method]


def _read_verb(name: str, watch: list[str]) -> str:
    if not watch:
        return "get" if name else "list"
    if name:
        raise NotCanonical("watch of a named object via ?watch is refused (use a fieldSelector)")
    if watch[0] not in TRUE_VALUES:
        raise NotCanonical("watch must be 1 or true")
    return "watch"


def _check_query(verb: str, query: tuple[tuple[str, str], ...]) -> None:
    allowed = _QUERY_KEYS[verb]
    keys = [k for k, _ in query]
    if len(set(keys)) != len(keys):
        raise NotCanonical("a query parameter is repeated")
    for key, value in query:
        if key not in allowed:
            raise NotCanonical(f"query parameter {key[:40]!r} is not allowed for {verb}")
        if value and not _PRINTABLE.fullmatch(value.replace(" ", "x")):
            raise NotCanonical(f"query parameter {key!r} holds a control or non-ASCII character")
