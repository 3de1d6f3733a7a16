r"""TTL after completion: parse ``ttlAfterCompletion`` and compute when a finished run is deleted.

Pure functions of their inputs and ``now`` (``inherited_ttl``: the Workflow's value a run copies); the
reconciler turns the answer into ``Result(requeue_after=...)`` (no per-object timers or tasks, SPEC
section 5 step 2). An expiry is a float (epoch seconds, ``NEVER`` for a run that is kept), so the runs
cache can keep it per run at the cost of a float (``reconciler.settled_expiry``).

The format is the CRD's pattern ``^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$`` (``90d``, ``1h30m``, ``1d12h30m15s``).
The empty string means "no TTL" (keep the run). Admission rejects anything else, so ``parse_ttl`` raising
``ValueError`` means the object got past validation some other way; the caller then keeps the run and says
so. Huge values (``99999999999d``) are clamped to ``MAX_TTL`` instead of overflowing ``timedelta``.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj

_TTL = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_SECONDS: Final = (86400, 3600, 60, 1)
MAX_TTL: Final = timedelta(days=36500)  # a century: "keep it", without overflowing datetime arithmetic
NEVER: Final = math.inf  # the expiry of a run that is kept (no TTL, or no completion time)


@functools.lru_cache(maxsize=64)  # the runs cache summarises every version of every run; TTLs repeat
def parse_ttl(text: str | None) -> timedelta | None:
    """``None`` for no TTL (missing or empty); raises ``ValueError`` for a malformed value."""
    if not text:
        return None
    match = _TTL.fullmatch(text)
    if match is None:
        raise ValueError(f"ttlAfterCompletion {text[:64]!r} is not of the form 1d2h3m4s")
    seconds = sum(int(v) * unit for v, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if v)
    return min(timedelta(seconds=min(seconds, int(MAX_TTL.total_seconds()))), MAX_TTL)


def parse_time(text: str | None) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (``2026-01-01T10:00:00Z``) as an aware datetime; ``None`` if absent."""
    if not text:
        return None
    return datetime.fromisoformat(text)


def expiry(ttl: timedelta | None, completed_at: datetime | None) -> float:
    """When a run completed at ``completed_at`` is due for deletion, in epoch seconds (``NEVER``: kept)."""
    if ttl is None or completed_at is None:
        return NEVER
    return (completed_at + ttl).timestamp()


def seconds_left(expires: float, now: datetime) -> float:
    """Seconds from ``now`` until ``expires`` (an ``expiry``); ``0.0`` once due (never negative)."""
    return max(0.0, expires - now.timestamp())


def inherited_ttl(run: JsonObj, workflow: JsonObj | None) -> str | None:
    """The Workflow's ``ttlAfterCompletion`` when the run leaves its own empty (SPEC section 2), else None."""
    ttl = ((workflow or {}).get("spec") or {}).get("ttlAfterCompletion")
    if not ttl or (run.get("spec") or {}).get("ttlAfterCompletion"):
        return None
    return str(ttl)
