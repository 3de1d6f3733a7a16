"""An in-memory ``contracts.KubeApi`` for unit tests of the runtime's pure logic.

Enough of an apiserver to drive informers and leader election: one global resourceVersion counter,
optimistic concurrency on ``replace``, an event history that watches replay from a resourceVersion
(``compact()`` makes older ones ``Gone``), ``k=v`` label selectors and ``metadata.name=`` field
selectors, and fault injection (``fail``, ``drop_watches``). Objects are deep-copied in and out.
"""

# ruff: noqa: ARG002 - the methods keep KubeApi's signatures; options the fake does not model are ignored

from __future__ import annotations

import asyncio
import copy
import itertools

from choreo_controller.contracts import (
    AlreadyExists,
    Conflict,
    Gone,
    NotFound,
    ObjectList,
    Unavailable,
    WatchEvent,
)


def _matches(obj, label_selector, field_selector, namespace=None):
    if namespace is not None and obj["metadata"].get("namespace") != namespace:
        return False
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, (label_selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    for term in filter(None, (field_selector or "").split(",")):
        key, _, value = term.partition("=")
        assert key == "metadata.name", key
        if obj["metadata"]["name"] != value:
            return False
    return True


class FakeApi:
    def __init__(self):
        self.objects = {}  # (plural, namespace, name) -> obj
        self.history = []  # (rv, plural, type, obj)
        self._rv = itertools.count(1)
        self.current_rv = 0
        self.compacted = 0
        self.failures = {}  # verb -> list of exceptions to raise, in order
        self.calls = []
        self._changed = asyncio.Condition()
        self._generation = 0  # bumped by drop_watches

    # ---- test controls ----------------------------------------------------------------------------
    def fail(self, verb, *errors):
        self.failures.setdefault(verb, []).extend(errors)

    def compact(self):
        self.compacted = self.current_rv

    async def drop_watches(self):
        async with self._changed:
            self._generation += 1
            self._changed.notify_all()

    async def put(self, res, obj, event="ADDED"):
        """Store ``obj`` behind the API's back (as another client would), emitting an event."""
        obj = copy.deepcopy(obj)
        meta = obj["metadata"]
        existing = self.objects.get((res.plural, meta.get("namespace") or "", meta["name"]))
        if existing is not None:
            meta.setdefault("uid", existing["metadata"]["uid"])
        meta.setdefault("uid", f"uid-{meta['name']}-{self.current_rv + 1}")
        await self._commit(res, obj, event)
        return copy.deepcopy(obj)

    async def remove(self, res, namespace, name):
        obj = self.objects[(res.plural, namespace or "", name)]
        await self._commit(res, obj, "DELETED")

    # ---- KubeApi -------------------------------------------------------------------------------------
    def _check(self, verb):
        self.calls.append(verb)
        pending = self.failures.get(verb)
        if pending:
            raise pending.pop(0)

    async def _commit(self, res, obj, event):
        async with self._changed:
            rv = next(self._rv)
            self.current_rv = rv
            obj["metadata"]["resourceVersion"] = str(rv)
            key = (res.plural, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            if event == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
            self.history.append((rv, res.plural, event, copy.deepcopy(obj)))
            self._changed.notify_all()

    async def get(self, res, name, namespace=None):
        self._check("get")
        try:
            return copy.deepcopy(self.objects[(res.plural, namespace or "", name)])
        except KeyError:
            raise NotFound(f'{res.plural} "{name}" not found') from None

    async def list(self, res, namespace=None, *, label_selector=None, field_selector=None):
        self._check("list")
        items = [
            copy.deepcopy(o)
            for (plural, ns, _), o in sorted(self.objects.items())
            if plural == res.plural
            and (namespace is None or ns == namespace)
            and _matches(o, label_selector, field_selector)
        ]
        return ObjectList(items, str(self.current_rv))

    async def watch(
        self,
        res,
        namespace=None,
        *,
        resource_version,
        label_selector=None,
        field_selector=None,
        timeout_seconds=300,
    ):
        self._check("watch")
        start = int(resource_version or 0)
        if start < self.compacted:
            raise Gone(f"too old resource version: {start} ({self.compacted})")
        generation = self._generation
        position = start
        while True:
            for rv, plural, event, obj in list(self.history):
                if rv <= position:
                    continue
                position = rv
                if plural == res.plural and _matches(obj, label_selector, field_selector, namespace):
                    yield WatchEvent(event, copy.deepcopy(obj))
            async with self._changed:
                if self._generation != generation:
                    raise Unavailable("connection reset")
                if self.current_rv <= position:
                    await self._changed.wait()
                if self._generation != generation:
                    raise Unavailable("connection reset")

    async def create(self, res, obj):
        self._check("create")
        meta = obj["metadata"]
        if (res.plural, meta.get("namespace") or "", meta["name"]) in self.objects:
            raise AlreadyExists(f'{res.plural} "{meta["name"]}" already exists')
        return await self.put(res, obj)

    async def replace(self, res, obj, *, subresource=None):
        self._check("replace")
        meta = obj["metadata"]
        key = (res.plural, meta.get("namespace") or "", meta["name"])
        current = self.objects.get(key)
        if current is None:
            raise NotFound(f'{res.plural} "{meta["name"]}" not found')
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified; please apply your changes to the latest version")
        obj = copy.deepcopy(obj)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        await self._commit(res, obj, "MODIFIED")
        return copy.deepcopy(obj)

    async def merge_patch(self, res, name, patch, *, namespace=None, subresource=None):
        self._check("merge_patch")
        current = copy.deepcopy(self.objects[(res.plural, namespace or "", name)])
        for section, values in patch.items():
            current.setdefault(section, {}).update(values)
        await self._commit(res, current, "MODIFIED")
        return copy.deepcopy(current)

    async def delete(
        self, res, name, *, namespace=None, uid=None, resource_version=None, propagation="Background"
    ):
        self._check("delete")
        if (res.plural, namespace or "", name) not in self.objects:
            raise NotFound(f'{res.plural} "{name}" not found')
        await self.remove(res, namespace, name)

    async def apply(self, res, obj, *, field_manager, force=True, subresource=None):
        raise NotImplementedError
