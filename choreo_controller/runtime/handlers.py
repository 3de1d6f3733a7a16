"""Informer event handlers: map an event to keys and enqueue them. Nothing else (STYLE rule 4).

An ``EventHandler`` is three optional *synchronous* callbacks; the informer calls them in event order on
the event loop. They must not await, do IO or keep the objects they are given: a reconcile re-reads what
it needs from the cache. ``enqueue`` builds the usual one from a key mapper:

* ``own_key`` - the object itself (controller-runtime's ``EnqueueRequestForObject``);
* ``controller_owner(kind, group)`` - the owner marked ``controller: true`` of that kind, same namespace
  (``EnqueueRequestForOwner(..., OnlyControllerOwner())``);
* ``labelled(name_label, namespace_label)`` - a key spelled out in labels, for objects that live in
  another namespace or cluster than their owner (the build plane's run objects name their WorkflowRun in
  ``openchoreo.dev/workflowrun`` and ``openchoreo.dev/workflowrun-namespace``).

``update_if`` filters updates (e.g. ``generation_changed`` to ignore status-only writes); adds and
deletes always enqueue, so a level-based reconciler never misses an appearance or a disappearance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from choreo_controller.contracts import JsonObj, ObjectKey

KeyMapper: TypeAlias = Callable[[JsonObj], Iterable[ObjectKey]]
UpdatePredicate: TypeAlias = Callable[[JsonObj, JsonObj], bool]


class Enqueuer(Protocol):
    """What a handler needs of a work queue."""

    def add(self, key: ObjectKey) -> None:
        """Mark ``key`` as needing a reconcile."""
        ...


@dataclass(frozen=True, slots=True)
class EventHandler:
    """client-go's ``ResourceEventHandlerFuncs``: synchronous, never awaiting, mapping only."""

    on_add: Callable[[JsonObj], None] | None = None
    on_update: Callable[[JsonObj, JsonObj], None] | None = None
    on_delete: Callable[[JsonObj], None] | None = None


def own_key(obj: JsonObj) -> list[ObjectKey]:
    """The object's own key."""
    return [ObjectKey.of(obj)]


def controller_owner(kind: str, group: str) -> KeyMapper:
    """The key of the controlling owner of ``kind`` in API group ``group`` (same namespace)."""

    def owner(obj: JsonObj) -> list[ObjectKey]:
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or ():
            api_group = str(ref.get("apiVersion") or "").rpartition("/")[0]
            if ref.get("controller") and ref.get("kind") == kind and api_group == group:
                return [ObjectKey(str(meta.get("namespace") or ""), str(ref["name"]))]
        return []

    return owner


def labelled(name_label: str, namespace_label: str | None = None) -> KeyMapper:
    """The key named by the object's labels; no key if the name label is missing or empty."""

    def from_labels(obj: JsonObj) -> list[ObjectKey]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        name = labels.get(name_label)
        if not name:
            return []
        namespace = labels.get(namespace_label, "") if namespace_label else ""
        return [ObjectKey(str(namespace), str(name))]

    return from_labels


def generation_changed(old: JsonObj, new: JsonObj) -> bool:
    """Update predicate: the spec changed (``metadata.generation`` moved), not only status or metadata."""
    return bool(
        (old.get("metadata") or {}).get("generation") != (new.get("metadata") or {}).get("generation")
    )


def enqueue(
    queue: Enqueuer, to_keys: KeyMapper = own_key, *, update_if: UpdatePredicate | None = None
) -> EventHandler:
    """A handler adding ``to_keys(obj)`` to ``queue`` on add, delete and (filtered) update."""

    def add(obj: JsonObj) -> None:
        for key in to_keys(obj):
            queue.add(key)

    def update(old: JsonObj, new: JsonObj) -> None:
        if update_if is not None and not update_if(old, new):
            return
        keys = {*to_keys(old), *to_keys(new)}  # a relabelled object moves: both sides must look
        for key in sorted(keys):
            queue.add(key)

    return EventHandler(on_add=add, on_update=update, on_delete=add)
