"""A SecretReference's spec as OpenChoreo's Go types re-serialise it, for ``externalRefs['<id>'].spec``.

OpenChoreo reads the SecretReference into its ``v1alpha1.SecretReference`` struct and hands CEL the spec
marshalled back from that struct, so templates see Go's view of it (shared/conformance e26), and
Workflows test ``has(externalRefs.git.spec.template)`` on it:

* ``template`` is always there (a struct, not a pointer): ``{}`` when absent, with only ``type`` and
  ``metadata.annotations``/``labels`` when set;
* ``data[]`` items keep ``secretKey`` and ``remoteRef.key``, ``property``/``version`` only when non-empty;
* ``refreshInterval`` is a ``metav1.Duration``: ``1h`` reads back as ``1h0m0s``, ``90m`` as ``1h30m0s``;
* fields the type does not have are dropped.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

_UNITS: Final = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9,
                 "m": 60 * 10**9, "h": 3600 * 10**9}  # fmt: skip
_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a Go duration (``time.ParseDuration``), or ``None`` when it is not one."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    total, at = Decimal(0), 0
    while at < len(body):
        match = _PART.match(body, at)
        if match is None:
            return None
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        at = match.end()
    return sign * int(total) if body else None


def _fraction(value: int, scale: int) -> str:
    whole, rest = divmod(value, scale)
    digits = f"{rest:0{len(str(scale)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def duration_text(nanos: int) -> str:
    """``time.Duration.String()``: ``1h0m0s``, ``1m30s``, ``1.5s``, ``250ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
    if nanos < 10**9:
        for unit, scale in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if nanos >= scale:
                return sign + _fraction(nanos, scale) + unit
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _fraction(rest, 10**9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> dict[str, str]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def go_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` as ``json.Marshal(v1alpha1.SecretReferenceSpec)`` writes it."""
    template_in = _map(spec.get("template"))
    template: dict[str, Any] = {}
    if template_in.get("type"):
        template["type"] = template_in["type"]
    meta_in = template_in.get("metadata")
    if isinstance(meta_in, dict):
        template["metadata"] = {
            key: _strings(meta_in[key]) for key in ("annotations", "labels") if _strings(meta_in.get(key))
        }
    data = []
    for item in spec.get("data") or []:
        if not isinstance(item, dict):
            continue
        remote_in = _map(item.get("remoteRef"))
        remote = {"key": remote_in.get("key", "")}
        remote.update({key: remote_in[key] for key in ("property", "version") if remote_in.get(key)})
        data.append({"secretKey": item.get("secretKey", ""), "remoteRef": remote})
    out: dict[str, Any] = {"template": template, "data": data if "data" in spec else None}
    interval = spec.get("refreshInterval")
    if isinstance(interval, str) and interval:
        nanos = parse_duration(interval)
        out["refreshInterval"] = duration_text(nanos) if nanos is not None else interval
    return out
