"""Repository URLs, normalised for comparison, and the Git provider a public host implies.

A Component's ``repoUrl`` and a push payload's repository URLs name the same repository in many
spellings; ``normalize`` maps all of them to ``https://<host>/<path>``, lower-cased:

* ``git@github.com:Org/Repo.git``, ``ssh://git@github.com:22/org/repo``, ``git+ssh://...``,
  ``git://host/path``, ``http://`` and ``https://`` are the same repository;
* credentials (``https://user:token@host/...``), ports, query strings, fragments, a trailing ``/`` and a
  ``.git`` suffix are dropped - a token never survives normalisation, so a normalised URL may be logged;
* host and path are compared case-insensitively (GitHub, GitLab and Bitbucket treat paths so).

``provider_for`` says which provider a host belongs to: a *public* host by name (``github.com``,
``gitlab.com``, ``bitbucket.org`` and their subdomains, by host only: ``bitbucket.org/org/github.com-sync``
is Bitbucket), a self-hosted one only if the operator named it (``hosts``); otherwise ``None``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping

Provider = Literal["github", "gitlab", "bitbucket"]

_SCP: Final = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>.+)$")
_SCHEMES: Final = ("https", "http", "ssh", "git", "git+ssh", "ssh+git")
_PUBLIC: Final[dict[str, Provider]] = {
    "github.com": "github",
    "gitlab.com": "gitlab",
    "bitbucket.org": "bitbucket",
}


def normalize(url: str) -> str:
    """``https://<host>/<path>`` lower-cased, no credentials, port, query, ``.git`` or trailing ``/``.

    Returns ``""`` for text that is not a repository URL.
    """
    text = url.strip()
    if not text:
        return ""
    scp = _SCP.match(text) if "://" not in text else None
    if scp is not None:
        host, path = scp.group("host"), scp.group("path")
    else:
        parts = urlsplit(text if "://" in text else f"https://{text}")  # "github.com/org/repo"
        if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
            return ""
        host, path = parts.hostname, parts.path
    path = path.strip("/")
    while path.endswith((".git", "/")):
        path = path.removesuffix(".git").rstrip("/")
    if not path:
        return ""
    return f"https://{host.lower()}/{path.lower()}"


def host_of(normalized: str) -> str:
    """The host of a normalised URL."""
    return normalized.removeprefix("https://").split("/", 1)[0]


def provider_for(url: str, hosts: Mapping[str, Provider] | None = None) -> Provider | None:
    """The provider hosting ``url``: public hosts by name, self-hosted ones from ``hosts``; else ``None``."""
    host = host_of(normalize(url))
    for public, provider in _PUBLIC.items():
        if host == public or host.endswith(f".{public}"):
            return provider
    return (hosts or {}).get(host)
