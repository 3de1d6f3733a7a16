"""Git inputs from a webhook are data: ref names, commits and paths are checked before anything uses them.

A pushed branch or tag name reaches the build as a workflow parameter, so a name like
``$(id>&2;echo${IFS}PWNED>&2)`` - valid for git - must never get that far. ``ref_problem`` applies git's
``check-ref-format`` rules *and* a conservative character set (letters, digits, ``.``, ``_``, ``-``,
``/``), and refuses a leading ``-`` in any component (option injection); ``commit_problem`` accepts only
a full SHA-1 or SHA-256 in hex; ``path_problem`` accepts relative paths of the same characters without
``.``/``..`` components. Each returns ``None`` or why not - a sentence for the HTTP answer.
``commit_time`` reads a commit's timestamp (ISO 8601 with an offset) as UTC ``YYYY-MM-DDTHH:MM:SSZ``, or
``""`` when it is missing or not a timestamp: it only orders builds, so a bad one never refuses a push. Pure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

MAX_REF: Final = 255
MAX_PATH: Final = 1024
MAX_TIME: Final = 64
_SAFE: Final = re.compile(r"[A-Za-z0-9._/-]+")
_COMMIT: Final = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def ref_problem(name: str) -> str | None:
    """Why ``name`` (a branch or tag name, without ``refs/heads/``) is refused, or ``None``."""
    if not name or len(name) > MAX_REF:
        return f"must be 1 to {MAX_REF} characters"
    if not _SAFE.fullmatch(name):
        return "may only contain letters, digits, '.', '_', '-' and '/'"
    parts = name.split("/")
    reasons = (
        (any(not p for p in parts), "has an empty path component (leading, trailing or double '/')"),
        (any(p.startswith((".", "-")) for p in parts), "has a component starting with '.' or '-'"),
        (any(p.endswith(".lock") for p in parts), "has a component ending in '.lock'"),
        (".." in name, "contains '..'"),
        (name.endswith("."), "ends with '.'"),
    )
    return next((why for bad, why in reasons if bad), None)


def commit_problem(sha: str) -> str | None:
    """Why ``sha`` is not a full lower-case hex commit id (SHA-1 or SHA-256), or ``None``."""
    return None if _COMMIT.fullmatch(sha) else "is not a full hexadecimal commit id"


def commit_time(value: Any) -> str:
    """``value`` (``2026-05-01T12:00:05+02:00``) as ``2026-05-01T10:00:05Z``; ``""`` if it is not one."""
    if not isinstance(value, str) or not value or len(value) > MAX_TIME:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return ""
    if parsed.tzinfo is None:
        return ""
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def path_problem(path: str) -> str | None:
    """Why ``path`` (relative, inside the repository; ``""`` is the root) is refused, or ``None``."""
    if not path:
        return None
    if len(path) > MAX_PATH or not _SAFE.fullmatch(path):
        return f"may only contain letters, digits, '.', '_', '-' and '/' (at most {MAX_PATH})"
    parts = path.split("/")
    if path.startswith("/") or any(p in {"", ".", ".."} or p.startswith("-") for p in parts):
        return "must be relative, without empty, '.', '..' or '-'-leading components"
    return None
