"""The informer cache: objects by ``ObjectKey``, compressed, with secondary indexes.

What it owns: the last state the informer saw of every object of one resource (and selector), plus index
maps ``index name -> value -> keys`` kept in step with it. Only the informer writes (``upsert``,
``delete``); everyone else reads. Everything runs on the event loop's thread, so there are no locks.

Invariants:

* Cached objects are slimmed first: ``metadata.managedFields`` and the
  ``kubectl.kubernetes.io/last-applied-configuration`` annotation are removed (about a third of a
  WorkflowRun's bytes, and nothing a reconciler reads).
* ``get``, ``list`` and ``by_index`` return freshly decoded dicts: a caller may mutate what it gets and the
  cache cannot be corrupted (client-go's "do not mutate cache objects" rule cannot be broken here).
* Each index holds exactly the values its function returns for the cached version of each object.
* An ``upsert`` with the resourceVersion already cached changes nothing and reports no change.
* A *summary* (``set_summary``), if the store has one, is the value its function returns for the cached
  version of each object, kept uncompressed beside the blob: a reader that needs only that value
  (``summary(key)``) gets it without decoding the object. It must be small (it stays for every object)
  and immutable (every reader gets the same one).

Why compressed bytes instead of dicts: a decoded WorkflowRun is a tree of ~150 small Python objects, and
a plain dict cache of many runs costs over ten times the bytes it was sent as. Each object is stored as
compact JSON compressed with zlib against a *preset dictionary* - the first object this store ever cached,
which shares nearly every key and most values with the rest - so a run shrinks to a small fraction of its
slimmed JSON (figures: ``hack/bench/bench_informer_memory.py`` and ``docs/performance.md``). The price is
CPU on every access: caching an event costs a few times the ``json.loads`` that produced it, a ``get``
about one ``json.loads``. Reconcilers read a handful of objects per reconcile, so that is noise; ``list()``
over a large store is the call to avoid in a hot path. A decoded LRU was considered and rejected: it would
hand out shared dicts (a mutation hazard) to save microseconds. ``resourceVersion`` and ``uid`` stay
uncompressed beside the blob, so a relist is diffed without decoding anything that did not change.
"""

from __future__ import annotations

import json
import sys
import zlib
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeAlias

from choreo_controller.contracts import JsonObj, ObjectKey

#: An index function: the values an object is found under (``[]``: not indexed).
IndexFunc: TypeAlias = Callable[[JsonObj], Iterable[str]]
#: A summary function: a small immutable value computed from each object as it is cached.
SummaryFunc: TypeAlias = Callable[[JsonObj], object]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
NAMESPACE_INDEX = "namespace"
_ZDICT_MAX = 32 * 1024  # zlib's window: a longer preset dictionary is not used
_LEVEL = 1  # level 6 saves ~25% more bytes for ~40% more time per event; 1 is enough at these sizes
#: Compact JSON, without the cycle check: a decoded JSON object cannot hold a cycle, and the check (an id
#: recorded per container) is a measurable part of encoding, which a cold start does for every object.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


class _Entry(NamedTuple):
    resource_version: str
    uid: str
    blob: bytes
    summary: object = None


def slim(obj: JsonObj) -> JsonObj:
    """Remove ``managedFields`` and the last-applied annotation, in place; returns ``obj``."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
            if not annotations:
                del meta["annotations"]
    return obj


def namespace_index(obj: JsonObj) -> list[str]:
    """Index function: the object's namespace (client-go's ``MetaNamespaceIndexFunc``)."""
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def field_index(*path: str, namespaced: bool = True) -> IndexFunc:
    """Index function on a string field, e.g. ``field_index("spec", "workflow", "name")``.

    Values are ``namespace/value`` when ``namespaced`` (runs of Workflow ``docker`` in ``team-a`` are
    ``team-a/docker``), so equal names in different namespaces never mix. Missing or empty: not indexed.
    """

    def index(obj: JsonObj) -> list[str]:
        value: object = obj
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            return []
        if not namespaced:
            return [value]
        return [f"{(obj.get('metadata') or {}).get('namespace') or ''}/{value}"]

    return index


class Store:
    """Slimmed, compressed objects of one resource, keyed by ``ObjectKey``, with secondary indexes."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._entries: dict[ObjectKey, _Entry] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[ObjectKey]]] = {}
        self._summarise: SummaryFunc | None = None
        self._zdict = b""
        self._synced = False
        for name, func in (indexers or {}).items():
            self.add_indexer(name, func)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def has_synced(self) -> bool:
        """The informer's first LIST has been stored completely."""
        return self._synced

    def mark_synced(self) -> None:
        """Called by the informer once its first LIST is in."""
        self._synced = True

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """Register an index; objects already cached are indexed at once."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} already exists")
        self._indexers[name] = func
        self._indexes[name] = {}
        for key in self._entries:
            self._index_add(name, key, self._decode(self._entries[key].blob))

    def set_summary(self, func: SummaryFunc) -> None:
        """Keep ``func(object)`` beside every cached object (``summary``); objects already cached at once."""
        if self._summarise is not None:
            raise ValueError("the store has a summary function already")
        self._summarise = func
        for key, entry in self._entries.items():
            self._entries[key] = entry._replace(summary=func(self._decode(entry.blob)))

    # ---- reads --------------------------------------------------------------------------------------
    def get(self, key: ObjectKey) -> JsonObj | None:
        """A fresh copy of the cached object, or ``None``."""
        entry = self._entries.get(key)
        return None if entry is None else self._decode(entry.blob)

    def list_keys(self) -> list[ObjectKey]:
        """Every cached key, sorted."""
        return sorted(self._entries)

    def index_keys(self, name: str, value: str) -> list[ObjectKey]:
        """Keys whose index ``name`` contains ``value``, sorted."""
        try:
            index = self._indexes[name]
        except KeyError:
            raise KeyError(f"no index {name!r}") from None
        return sorted(index.get(value, ()))

    def by_index(self, name: str, value: str) -> list[JsonObj]:
        """Fresh copies of the objects whose index ``name`` contains ``value``, sorted by key."""
        return [self._decode(self._entries[k].blob) for k in self.index_keys(name, value)]

    def summary(self, key: ObjectKey) -> object:
        """The summary of the cached ``key`` (no decoding); ``None`` if not cached or the store has none."""
        entry = self._entries.get(key)
        return None if entry is None else entry.summary

    def resource_version(self, key: ObjectKey) -> str | None:
        """The cached resourceVersion of ``key`` (no decoding)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.resource_version

    def uid(self, key: ObjectKey) -> str | None:
        """The cached uid of ``key`` (no decoding)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.uid

    # ---- writes (the informer) ------------------------------------------------------------------------
    def upsert(self, obj: JsonObj) -> tuple[bool, JsonObj | None]:
        """Cache ``obj`` (slimmed in place). Returns ``(changed, previous version or None)``."""
        key = _key(obj)
        meta = obj["metadata"]
        rv = str(meta.get("resourceVersion") or "")
        old_entry = self._entries.get(key)
        if old_entry is not None and rv and old_entry.resource_version == rv:
            return False, None
        old = None if old_entry is None else self._decode(old_entry.blob)
        blob = self._encode(slim(obj))
        summary = None if self._summarise is None else self._summarise(obj)
        self._entries[key] = _Entry(rv, str(meta.get("uid") or ""), blob, summary)
        for name in self._indexers:
            if old is not None:
                self._index_remove(name, key, old)
            self._index_add(name, key, obj)
        return True, old

    def delete(self, key: ObjectKey) -> JsonObj | None:
        """Drop ``key``; returns the last cached version, or ``None`` if it was not cached."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        old = self._decode(entry.blob)
        for name in self._indexers:
            self._index_remove(name, key, old)
        return old

    # ---- internals -----------------------------------------------------------------------------------
    def _encode(self, obj: JsonObj) -> bytes:
        text = _ENCODER.encode(obj).encode()
        if not self._zdict:
            self._zdict = text[-_ZDICT_MAX:]
        packer = zlib.compressobj(_LEVEL, zdict=self._zdict)
        return packer.compress(text) + packer.flush()

    def _decode(self, blob: bytes) -> JsonObj:
        unpacker = zlib.decompressobj(zdict=self._zdict)
        decoded: JsonObj = json.loads(unpacker.decompress(blob) + unpacker.flush())
        return decoded

    def _index_add(self, name: str, key: ObjectKey, obj: JsonObj) -> None:
        index = self._indexes[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _index_remove(self, name: str, key: ObjectKey, obj: JsonObj) -> None:
        index = self._indexes[name]
        for value in self._indexers[name](obj):
            keys = index.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]

    # Last in the class: from here on, ``list`` in an annotation would name this method, not the builtin.
    def list(self, namespace: str | None = None) -> list[JsonObj]:
        """Fresh copies of every object (in ``namespace`` if given), sorted by key. Costly on big stores."""
        keys = [k for k in self.list_keys() if namespace is None or k.namespace == namespace]
        return [self._decode(self._entries[k].blob) for k in keys]


def _key(obj: JsonObj) -> ObjectKey:
    key = ObjectKey.of(obj)
    # Namespaces repeat across thousands of keys: share one string per namespace.
    return ObjectKey(sys.intern(key.namespace), key.name)
