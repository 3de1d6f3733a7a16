"""Which webhook secret authenticates a delivery, and which Components a delivery so authenticated may build.

One Secret (``git-webhook-secrets`` in the receiver's secret namespace, watched - never read per request)
holds every key; each key is optional:

========================================  ===========================================================
key                                       builds
========================================  ===========================================================
``<provider>-secret``                     Components that have no key of their own (the shared secret;
                                          OpenChoreo's only one)
``<namespace>.<provider>-secret``         Components of ``<namespace>`` without a Component key
``<namespace>.<component>.<provider>-secret``  that one Component
========================================  ===========================================================

A delivery names its scope in the URL, so the key is known before the body is read:
``/api/v1alpha1/autobuild`` (shared), ``?namespace=<ns>``, ``?namespace=<ns>&component=<name>``.
A Component is built only by its *own* scope - the most specific key configured for it - so a team
with a key of its own can no longer be triggered with the shared secret, and the shared secret is
accepted only where nothing more specific is configured. Pure.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import ObjectKey
    from choreo_controller.reconcilers.autobuild.repourl import Provider

_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class BadScope(ValueError):
    """The URL's scope parameters are malformed; ``str()`` says how."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Shared (both empty), a namespace, or one Component."""

    namespace: str = ""
    component: str = ""

    @classmethod
    def of_query(cls, query: Mapping[str, str]) -> Scope:
        """The scope a delivery URL names; ``BadScope`` if malformed."""
        namespace, component = query.get("namespace", ""), query.get("component", "")
        if component and not namespace:
            raise BadScope("?component= needs ?namespace=")
        for value in (namespace, component):
            if value and not _NAME.fullmatch(value):
                raise BadScope(f"{value[:64]!r} is not a valid namespace or Component name")
        return cls(namespace, component)

    def key(self, provider_key: str) -> str:
        """The Secret key of this scope for a provider's key name (``github-secret``...)."""
        return ".".join(p for p in (self.namespace, self.component, provider_key) if p)

    def __str__(self) -> str:
        return "/".join(p for p in (self.namespace, self.component) if p) or "shared"


def scope_of(component: ObjectKey, provider_key: str, keys: Mapping[str, str]) -> Scope:
    """The one scope whose secret may build ``component``: the most specific key configured for it."""
    for scope in (Scope(component.namespace, component.name), Scope(component.namespace)):
        if scope.key(provider_key) in keys:
            return scope
    return Scope()


def secret_value(keys: Mapping[str, str], key: str) -> bytes:
    """The decoded value of ``key`` in a Secret's ``data`` (``b""`` if absent or not base64)."""
    try:
        return base64.b64decode(keys.get(key) or "", validate=True)
    except (binascii.Error, ValueError):
        return b""


def provider_key(provider: Provider) -> str:
    """OpenChoreo's key name for a provider's secret."""
    return f"{provider}-secret"
