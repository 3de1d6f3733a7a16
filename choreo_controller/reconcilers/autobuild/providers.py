"""Git providers at the webhook edge: who sent it, is it authentic, what was pushed. Pure.

Header names are lower-case here (the HTTP layer folds them). Detection, in this order:

=========  ==============================================  =======================  ========================
provider   detected by                                     authenticated by         delivery id
=========  ==============================================  =======================  ========================
Bitbucket  ``X-Event-Key``                                 ``X-Hub-Signature``      ``X-Request-UUID``
GitLab     ``X-Gitlab-Token`` (or ``X-Gitlab-Event``)      ``X-Gitlab-Token``       ``X-Gitlab-Event-UUID``
GitHub     ``X-Hub-Signature-256`` (or ``X-GitHub-Event``) ``X-Hub-Signature-256``  ``X-GitHub-Delivery``
=========  ==============================================  =======================  ========================

GitHub and Bitbucket sign: ``sha256=<hex HMAC-SHA256 of the raw body under the secret>``; GitLab sends the
secret itself as the token. Every comparison is ``hmac.compare_digest``; an empty secret or a missing
header never verifies (fail closed). Event kinds: ``push`` (GitHub ``push``, GitLab
``Push Hook``/``System Hook`` with ``object_kind: push``, Bitbucket ``repo:push`` and Bitbucket Server
``repo:refs_changed``), ``ping`` (GitHub ``ping``, Bitbucket ``diagnostics:ping``), anything else ``other``.

``parse_push`` reduces a push payload to a ``PushEvent``: the repository's URLs (normalised), the branches
pushed with their head commits (Bitbucket may push several at once; tag pushes and branch deletions push
nothing), and the changed paths - ``None`` when the payload cannot tell (Bitbucket never lists files;
GitHub and GitLab list at most 20 commits), which means "assume everything changed".

Git inputs are data (``gitrefs``): every pushed branch or tag name and commit is checked, and a payload
with one that is not allowed is refused whole (``MalformedPayload``) - nothing of it is built. A payload
must name one repository: its URLs may spell it differently (clone, SSH, web, Bitbucket Server's
``/scm/`` prefix) but not name two.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from choreo_controller.reconcilers.autobuild.gitrefs import commit_problem, commit_time, ref_problem
from choreo_controller.reconcilers.autobuild.repourl import Provider, normalize
from choreo_controller.reconcilers.autobuild.secrets import provider_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

EventKind = Literal["push", "ping", "other"]

#: Keys of the ``git-webhook-secrets`` Secret, per provider (OpenChoreo's names).
SECRET_KEYS: Final[dict[Provider, str]] = {p: provider_key(p) for p in ("github", "gitlab", "bitbucket")}
MAX_LISTED_COMMITS: Final = 20  # GitHub and GitLab list at most this many commits in a push payload
_ZERO_SHA: Final = frozenset({"0" * 40, "0" * 64})
_BRANCH_PREFIX: Final = "refs/heads/"
_TAG_PREFIX: Final = "refs/tags/"
_EVENT_HEADER: Final[dict[Provider, str]] = {
    "github": "x-github-event",
    "gitlab": "x-gitlab-event",
    "bitbucket": "x-event-key",
}
_DELIVERY_HEADER: Final[dict[Provider, str]] = {
    "github": "x-github-delivery",
    "gitlab": "x-gitlab-event-uuid",
    "bitbucket": "x-request-uuid",
}
_PUSH: Final[dict[Provider, frozenset[str]]] = {
    "github": frozenset({"push"}),
    "gitlab": frozenset({"push hook", "system hook"}),
    "bitbucket": frozenset({"repo:push", "repo:refs_changed"}),
}
_PING: Final[dict[Provider, frozenset[str]]] = {
    "github": frozenset({"ping"}),
    "gitlab": frozenset(),
    "bitbucket": frozenset({"diagnostics:ping"}),
}


class MalformedPayload(Exception):
    """The body is JSON but not a push payload of the provider; ``str()`` names what is missing."""


@dataclass(frozen=True, slots=True)
class PushedBranch:
    """One branch moved by a push, and the commit it now points at."""

    branch: str
    commit: str
    committed_at: str = (
        ""  # the head commit's time, UTC (``gitrefs.commit_time``); "" if the payload omits it
    )


@dataclass(frozen=True, slots=True)
class PushEvent:
    """What a push changed."""

    provider: Provider
    repositories: frozenset[str]  # normalised URLs of the pushed repository
    branches: tuple[PushedBranch, ...]
    changed_paths: tuple[str, ...] | None  # None: unknown, treat every path as changed


# ---- headers ------------------------------------------------------------------------------------------
def detect(headers: Mapping[str, str]) -> Provider | None:
    """The provider that sent a request, from its headers (lower-case names)."""
    if "x-event-key" in headers:
        return "bitbucket"
    if "x-gitlab-token" in headers or "x-gitlab-event" in headers:
        return "gitlab"
    if "x-hub-signature-256" in headers or "x-github-event" in headers:
        return "github"
    return None


def event_name(provider: Provider, headers: Mapping[str, str]) -> str:
    """The provider's event name (for logs and messages), clipped."""
    return headers.get(_EVENT_HEADER[provider], "")[:64]


def classify(provider: Provider, headers: Mapping[str, str]) -> EventKind:
    """``push``, ``ping`` or ``other``."""
    name = event_name(provider, headers).lower()
    if name in _PUSH[provider]:
        return "push"
    return "ping" if name in _PING[provider] else "other"


def delivery_id(provider: Provider, headers: Mapping[str, str]) -> str:
    """The provider's id of this delivery (repeated on redelivery); ``""`` if absent."""
    return headers.get(_DELIVERY_HEADER[provider], "").strip()[:128]


def verify(provider: Provider, headers: Mapping[str, str], body: bytes, secret: bytes) -> bool:
    """Whether the request is authentic under ``secret``. Constant-time; fails closed."""
    if not secret:
        return False
    if provider == "gitlab":
        token = headers.get("x-gitlab-token", "")
        return bool(token) and hmac.compare_digest(token.encode("utf-8"), secret)
    header = headers.get("x-hub-signature-256", "")
    if provider == "bitbucket":
        header = headers.get("x-hub-signature", "") or header
    algorithm, _, given = header.partition("=")
    if algorithm.strip().lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8"))


# ---- payloads -----------------------------------------------------------------------------------------
def parse_push(provider: Provider, payload: Any) -> PushEvent:
    """The ``PushEvent`` of a push payload; raises ``MalformedPayload``."""
    if not isinstance(payload, dict):
        raise MalformedPayload("the payload is not a JSON object")
    if provider == "github":
        return _github(payload)
    if provider == "gitlab":
        return _gitlab(payload)
    return _bitbucket(payload)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(values: Iterable[Any]) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]


def _repositories(urls: Iterable[Any]) -> frozenset[str]:
    found = frozenset(u for u in (normalize(v) for v in _strings(urls)) if u)
    if not found:
        raise MalformedPayload("the payload names no repository URL")
    if len({_repository_key(u) for u in found}) > 1:
        raise MalformedPayload("the payload names more than one repository")
    return found


def _repository_key(url: str) -> str:
    """One repository's spellings as one key (Bitbucket Server clones under ``/scm/``)."""
    host, _, path = url.removeprefix("https://").partition("/")
    return f"{host}/{path.removeprefix('scm/')}"


def _branch(ref: Any, commit: Any, when: Any = None) -> tuple[PushedBranch, ...]:
    """A pushed branch, or nothing for a tag push or a branch deletion; ``MalformedPayload`` if unsafe."""
    if not isinstance(ref, str) or not ref.startswith((_BRANCH_PREFIX, _TAG_PREFIX)):
        return ()
    name = ref.removeprefix(_BRANCH_PREFIX).removeprefix(_TAG_PREFIX)
    problem = ref_problem(name)
    if problem is not None:
        raise MalformedPayload(f"ref name {name[:80]!r} refused: it {problem}")
    if not ref.startswith(_BRANCH_PREFIX) or not isinstance(commit, str) or not commit or commit in _ZERO_SHA:
        return ()
    problem = commit_problem(commit)
    if problem is not None:
        raise MalformedPayload(f"pushed commit {commit[:80]!r} refused: it {problem}")
    return (PushedBranch(name, commit, commit_time(when)),)


def _timestamp(commits: Any, sha: Any) -> Any:
    """The ``timestamp`` of the listed commit ``sha`` (GitHub and GitLab list the pushed commits)."""
    found = (
        (c for c in commits if isinstance(c, dict) and c.get("id") == sha)
        if isinstance(commits, list)
        else ()
    )
    return next((c.get("timestamp") for c in found), None)


def _paths(commits: Any, total: Any = None) -> tuple[str, ...] | None:
    if not isinstance(commits, list) or not commits or len(commits) >= MAX_LISTED_COMMITS:
        return None
    if isinstance(total, int) and total > len(commits):
        return None
    paths: list[str] = []
    for commit in commits:
        if isinstance(commit, dict):
            for key in ("added", "modified", "removed"):
                paths.extend(_strings(commit.get(key) or []))
    return tuple(dict.fromkeys(paths))


def _github(payload: dict[str, Any]) -> PushEvent:
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        raise MalformedPayload("the payload has no repository object")
    urls = (repo.get(k) for k in ("clone_url", "html_url", "ssh_url", "git_url", "svn_url"))
    after, head = payload.get("after"), _map(payload.get("head_commit"))
    when = head.get("timestamp") if head.get("id") == after else _timestamp(payload.get("commits"), after)
    branches = () if payload.get("deleted") is True else _branch(payload.get("ref"), after, when)
    return PushEvent("github", _repositories(urls), branches, _paths(payload.get("commits")))


def _gitlab(payload: dict[str, Any]) -> PushEvent:
    if payload.get("object_kind", "push") != "push":
        raise MalformedPayload(f"object_kind {str(payload.get('object_kind'))[:32]!r} is not a push")
    project, repo = _map(payload.get("project")), _map(payload.get("repository"))
    urls = [project.get(k) for k in ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url")]
    urls += [repo.get(k) for k in ("git_http_url", "git_ssh_url", "url", "homepage")]
    sha = payload.get("checkout_sha") or payload.get("after")
    branches = _branch(payload.get("ref"), sha, _timestamp(payload.get("commits"), sha))
    paths = _paths(payload.get("commits"), payload.get("total_commits_count"))
    return PushEvent("gitlab", _repositories(urls), branches, paths)


def _bitbucket(payload: dict[str, Any]) -> PushEvent:
    repo = payload.get("repository")
    if not isinstance(repo, dict):
        raise MalformedPayload("the payload has no repository object")
    links = _map(repo.get("links"))
    urls: list[Any] = [_map(links.get("html")).get("href")]
    urls += [c.get("href") for c in links.get("clone") or [] if isinstance(c, dict)]  # Bitbucket Server
    if isinstance(repo.get("full_name"), str) and not any(urls):
        urls.append(f"https://bitbucket.org/{repo['full_name']}")
    branches: list[PushedBranch] = []
    push = _map(payload.get("push"))
    for change in push.get("changes") or payload.get("changes") or []:
        if not isinstance(change, dict):
            continue
        new = _map(change.get("new"))
        if new.get("type") == "branch":  # Bitbucket Cloud
            target = _map(new.get("target"))
            ref = f"{_BRANCH_PREFIX}{new.get('name')}"
            branches.extend(_branch(ref, target.get("hash"), target.get("date")))
        elif change.get("ref") and change.get("type") != "DELETE":  # Bitbucket Server
            branches.extend(_branch(_map(change.get("ref")).get("id"), change.get("toHash")))
    return PushEvent("bitbucket", _repositories(urls), tuple(branches), None)
