"""Resource descriptors: group/version/plural/kind/scope, and the REST paths they map to.

Paths are built here, once, so the direct client, the relay client and the agent's allowlist all agree
on what ``/apis/apps/v1/namespaces/x/deployments/y`` means.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class ApiResource:
    """One REST resource: ``group=""`` is the core group."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version`` or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """REST path for the collection (no name) or one object (name given)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{_segment(namespace)}"
        elif not self.namespaced and namespace:
            raise ValueError(f"{self.kind} is cluster-scoped; no namespace allowed")
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{_segment(name)}"
            if subresource:
                base += f"/{_segment(subresource)}"
        elif subresource:
            raise ValueError("a subresource needs an object name")
        return base


def _segment(value: str) -> str:
    if not value or value in {".", ".."} or "/" in value:
        raise ValueError(f"invalid path segment {value!r}")
    return quote(value, safe="")
