"""Kubernetes names: DNS-1123 checks, and the name builders behind ``oc_generate_name``/``oc_dns_label``.

``generate_name`` follows OpenChoreo's ``GenerateK8sNameWithLengthLimit`` so existing Workflows keep
producing the same names: each part is lower-cased, characters outside ``[a-z0-9.-]`` become ``-``, parts
are trimmed of ``-``/``.``, truncated to share the length budget evenly, joined with ``-`` and suffixed with
``-`` plus the first 8 hex digits of SHA-256 over the *original* parts joined with ``-`` (so inputs that
sanitise alike still differ). Two deliberate differences, both only where OC would emit an invalid name:
non-ASCII letters become ``-`` (OC keeps them), and a part truncated to end in ``-``/``.`` is trimmed
again. For a DNS label (``oc_dns_label``, at most 63) dots become ``-`` too.

``fnv32a`` is ``oc_hash``: 8 lower-case hex digits of 32-bit FNV-1a over the UTF-8 bytes.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

MAX_SUBDOMAIN: Final = 253
MAX_LABEL: Final = 63
HASH_LENGTH: Final = 8

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_RE: Final = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_LABEL_RE: Final = re.compile(_LABEL)
_LABEL_VALUE_RE: Final = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_INVALID_SUBDOMAIN_CHARS: Final = re.compile(r"[^a-z0-9.-]")
_INVALID_LABEL_CHARS: Final = re.compile(r"[^a-z0-9-]")
_FNV_OFFSET: Final = 0x811C9DC5
_FNV_PRIME: Final = 0x01000193


def is_dns_subdomain(name: str) -> bool:
    """RFC 1123 subdomain as Kubernetes checks ``metadata.name``: at most 253, labels of ``[a-z0-9-]``."""
    return len(name) <= MAX_SUBDOMAIN and _SUBDOMAIN_RE.fullmatch(name) is not None


def is_dns_label(name: str) -> bool:
    """RFC 1123 label: at most 63 characters of ``[a-z0-9-]``, alphanumeric at both ends."""
    return len(name) <= MAX_LABEL and _LABEL_RE.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    """A Kubernetes label value: empty, or at most 63 of ``[A-Za-z0-9._-]`` with alphanumeric ends."""
    return len(value) <= MAX_LABEL and _LABEL_VALUE_RE.fullmatch(value) is not None


def fnv32a(text: str) -> str:
    """8-hex FNV-32a of the UTF-8 bytes of ``text`` (``oc_hash``)."""
    value = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return f"{value:08x}"


def generate_name(parts: list[str], limit: int = MAX_SUBDOMAIN) -> str:
    """A valid name of at most ``limit`` characters built from ``parts`` with a hash suffix."""
    label_only = limit <= MAX_LABEL
    invalid = _INVALID_LABEL_CHARS if label_only else _INVALID_SUBDOMAIN_CHARS
    digest = hashlib.sha256("-".join(parts).encode("utf-8")).hexdigest()[:HASH_LENGTH]
    cleaned = [invalid.sub("-", part.lower()).strip("-.") for part in parts]
    if not cleaned:
        return digest
    base_budget = limit - HASH_LENGTH - len(cleaned)  # one separator per part, the last before the hash
    share, extra = divmod(max(base_budget, 0), len(cleaned))
    truncated = [
        part[: share + (1 if index < extra else 0)].rstrip("-.") for index, part in enumerate(cleaned)
    ]
    name = "-".join([*truncated, digest])
    return re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", name)
