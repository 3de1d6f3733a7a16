"""Object keys: the only thing a work queue carries and a reconciler receives.

A key is namespace + name, nothing else (controller-runtime's ``reconcile.Request``). Cluster-scoped
objects have an empty namespace. Keys are hashable, ordered and print as ``ns/name`` or ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """Identifies one object of a known kind."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """Parse ``ns/name`` or ``name`` (cluster-scoped)."""
        namespace, sep, name = text.partition("/")
        if not sep:
            return cls("", namespace)
        if not namespace or not name or "/" in name:
            raise ValueError(f"not an object key: {text!r} (want 'namespace/name' or 'name')")
        return cls(namespace, name)

    @classmethod
    def of(cls, obj: dict[str, object]) -> ObjectKey:
        """Key of an object as the apiserver returns it."""
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise TypeError("object has no metadata")
        return cls(str(meta.get("namespace") or ""), str(meta["name"]))
