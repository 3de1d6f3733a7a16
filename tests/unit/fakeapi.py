"""An in-memory ``contracts.KubeApi`` with the apiserver's semantics, for unit tests of reconcilers and runtime.

What it does as kube-apiserver does (each point is what a lost update, a race or a leak depends on):

* one global resourceVersion counter; ``uid``, ``creationTimestamp`` and ``generation`` set on create;
  ``generation`` bumped when ``spec`` changes;
* preconditions: ``replace`` and a merge patch carrying ``metadata.resourceVersion`` fail with ``Conflict``
  when it is stale, ``replace`` and ``delete`` (``uid``/``resource_version``) likewise for a uid that
  differs; a merge patch changing ``metadata.uid`` is ``Invalid``; every verb on a missing object is ``NotFound``, a create on an existing one ``AlreadyExists``;
* JSON merge patch (RFC 7386): maps merge recursively, ``null`` deletes a key, lists are replaced;
* the ``status`` subresource of our CRDs (every ``openchoreo.dev`` kind has one): a write through it
  changes only ``status``, a write to the object never changes ``status``;
* finalizers: ``delete`` of an object with finalizers sets ``deletionTimestamp`` (once) and keeps it; the
  write that removes the last finalizer of a deleting object deletes it; no finalizer may be added to an
  object being deleted (``Invalid``);
* watches replay history from a resourceVersion (``compact()`` makes older ones ``Gone``, 410); label
  selectors ``k=v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``; field selectors
  ``metadata.name``/``metadata.namespace``.

Pod logs: ``logs[(namespace, pod, container)]`` is a list of lines; ``log`` serves them (``tail_lines``,
``timestamps`` as ``<time> <line>`` when the line carries none); a pod that is not stored is ``NotFound``.

Test controls: ``put``/``remove`` behind the API's back (as another client would), ``fail(verb, *errors)``,
``before(verb, hook)`` (an async hook run once just before the next call of ``verb``: how a test makes a
race happen at an exact point), ``drop_watches``. Objects are deep-copied in and out.
"""

# ruff: noqa: ARG002 - the methods keep KubeApi's signatures; options the fake does not model are ignored

from __future__ import annotations

import asyncio
import copy
import itertools
import re
from datetime import UTC, datetime

from choreo_controller.contracts import (
    AlreadyExists,
    ApiResource,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    ObjectList,
    Unavailable,
    WatchEvent,
)

STATUS_SUBRESOURCE_GROUP = "openchoreo.dev"
POD = ApiResource("", "v1", "pods", "Pod")


def merge(target, patch):
    """RFC 7386: ``patch`` applied to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


SET_TERM = re.compile(r"\s*([^\s!=,()]+)\s+(in|notin)\s*\(([^)]*)\)\s*")


def _label_terms(selector):
    """The selector's terms: split at commas outside a set's parentheses."""
    return [t.strip() for t in re.split(r",(?![^()]*\))", selector) if t.strip()]


def _matches(obj, label_selector, field_selector, namespace=None):
    meta = obj["metadata"]
    if namespace is not None and meta.get("namespace") != namespace:
        return False
    labels = meta.get("labels") or {}
    for term in _label_terms(label_selector or ""):
        if set_based := SET_TERM.fullmatch(term):
            key, op, values = set_based.groups()
            inside = labels.get(key) in {v.strip() for v in values.split(",")}
            ok = inside if op == "in" else not inside  # notin: a missing key matches, as in kube-apiserver
        elif "!=" in term:
            key, value = term.split("!=", 1)
            ok = labels.get(key) != value
        elif "=" in term:
            key, value = term.split("=", 1)
            ok = labels.get(key.rstrip("=")) == value.lstrip("=")
        elif term.startswith("!"):
            ok = term[1:] not in labels
        else:
            ok = term in labels
        if not ok:
            return False
    fields = {"metadata.name": meta["name"], "metadata.namespace": meta.get("namespace") or ""}
    for term in filter(None, (field_selector or "").split(",")):
        key, _, value = term.partition("=")
        if fields[key] != value:
            return False
    return True


def _split_status(res, current, desired, subresource):
    """What of ``desired`` a write keeps: only ``status`` through the subresource, all but it otherwise."""
    if subresource == "status":
        kept = {**current, "status": desired.get("status")}
        return kept if kept["status"] is not None else {k: v for k, v in kept.items() if k != "status"}
    if res.group != STATUS_SUBRESOURCE_GROUP:
        return desired
    kept = {k: v for k, v in desired.items() if k != "status"}
    return {**kept, "status": current["status"]} if "status" in current else kept


class FakeApi:
    def __init__(self, now=lambda: datetime.now(UTC)):
        self.objects = {}  # (plural, namespace, name) -> obj
        self.history = []  # (rv, plural, type, obj)
        self._rv = itertools.count(1)
        self._uids = itertools.count(1)
        self.now = now
        self.current_rv = 0
        self.compacted = 0
        self.failures = {}  # verb -> list of exceptions to raise, in order
        self.hooks = {}  # verb -> list of async callables, run once each
        self.calls = []
        self.logs = {}  # (namespace, pod, container) -> [bytes]
        self._changed = asyncio.Condition()
        self._generation = 0  # bumped by drop_watches

    # ---- test controls ----------------------------------------------------------------------------
    def fail(self, verb, *errors):
        self.failures.setdefault(verb, []).extend(errors)

    def before(self, verb, hook, *, res=None):
        """Run ``await hook()`` once, just before the next ``verb`` call (on ``res``, if given)."""
        self.hooks.setdefault(verb, []).append((res.plural if res is not None else None, hook))

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
        existing = self.objects.get(self._key(res, meta.get("namespace"), meta["name"]))
        if existing is not None:
            meta.setdefault("uid", existing["metadata"]["uid"])
        meta.setdefault("uid", f"uid-{meta['name']}-{next(self._uids)}")
        meta.setdefault("creationTimestamp", self._timestamp())
        await self._commit(res, obj, event)
        return copy.deepcopy(obj)

    async def remove(self, res, namespace, name):
        obj = self.objects[self._key(res, namespace, name)]
        await self._commit(res, obj, "DELETED")

    def stored(self, res, namespace, name):
        """The stored object (a copy), or ``None``."""
        obj = self.objects.get(self._key(res, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    # ---- internals -------------------------------------------------------------------------------------
    @staticmethod
    def _key(res, namespace, name):
        return (res.plural, namespace or "", name)

    def _timestamp(self):
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    async def _check(self, verb, res=None):
        self.calls.append(verb)
        pending = self.failures.get(verb)
        if pending:
            raise pending.pop(0)
        hooks = self.hooks.get(verb) or []
        for index, (plural, hook) in enumerate(hooks):
            if plural is None or (res is not None and plural == res.plural):
                del hooks[index]
                await hook()
                return

    def _current(self, res, namespace, name):
        current = self.objects.get(self._key(res, namespace, name))
        if current is None:
            raise NotFound(f'{res.plural} "{name}" not found', reason="NotFound")
        return copy.deepcopy(current)

    async def _commit(self, res, obj, event):
        async with self._changed:
            rv = next(self._rv)
            self.current_rv = rv
            obj["metadata"]["resourceVersion"] = str(rv)
            key = self._key(res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if event == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
            self.history.append((rv, res.plural, event, copy.deepcopy(obj)))
            self._changed.notify_all()

    async def _write(self, res, current, desired, subresource):
        """Store ``desired`` over ``current`` as an update does: subresource split, generation, finalizers."""
        desired = copy.deepcopy(_split_status(res, current, desired, subresource))
        meta, old = desired["metadata"], current["metadata"]
        for fixed in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(fixed, None)
            meta.update({fixed: old[fixed]} if fixed in old else {})
        if desired.get("spec") != current.get("spec"):
            meta["generation"] = int(old.get("generation") or 1) + 1
        event = "MODIFIED"
        if old.get("deletionTimestamp"):
            if set(meta.get("finalizers") or []) - set(old.get("finalizers") or []):
                raise Invalid("Forbidden: no new finalizers can be added if the object is being deleted")
            event = "MODIFIED" if meta.get("finalizers") else "DELETED"
        last = copy.deepcopy(current)
        await self._commit(res, desired, event)
        # emptied finalizers: the apiserver deletes the object and answers with its last stored state
        # (registry.Store.Update -> deleteWithoutFinalizers), finalizers and resourceVersion included
        return last if event == "DELETED" else copy.deepcopy(desired)

    @staticmethod
    def _preconditions(current, uid=None, resource_version=None):
        meta = current["metadata"]
        if uid is not None and uid != meta.get("uid"):
            raise Conflict(
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}"
            )
        if resource_version is not None and resource_version != meta.get("resourceVersion"):
            raise Conflict("the object has been modified; please apply your changes to the latest version")

    # ---- KubeApi -------------------------------------------------------------------------------------
    async def get(self, res, name, namespace=None):
        await self._check("get", res)
        return self._current(res, namespace, name)

    async def list(self, res, namespace=None, *, label_selector=None, field_selector=None):
        await self._check("list", res)
        items = [
            copy.deepcopy(o)
            for (plural, ns, _), o in sorted(self.objects.items())
            if plural == res.plural
            and (namespace is None or ns == namespace)
            and _matches(o, label_selector, field_selector)
        ]
        return ObjectList(items, str(self.current_rv))

    async def list_pages(
        self, res, namespace=None, *, label_selector=None, field_selector=None, managed_fields=True
    ):
        listed = await self.list(res, namespace, label_selector=label_selector, field_selector=field_selector)
        if not managed_fields:
            for obj in listed.items:
                obj.get("metadata", {}).pop("managedFields", None)
        yield listed

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
        await self._check("watch", res)
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
        await self._check("create", res)
        meta = obj["metadata"]
        if self._key(res, meta.get("namespace"), meta["name"]) in self.objects:
            raise AlreadyExists(f'{res.plural} "{meta["name"]}" already exists', reason="AlreadyExists")
        obj = copy.deepcopy(obj)
        for server_side in ("uid", "resourceVersion", "deletionTimestamp", "creationTimestamp"):
            obj["metadata"].pop(server_side, None)
        obj["metadata"]["generation"] = 1
        return await self.put(res, obj)

    async def replace(self, res, obj, *, subresource=None):
        await self._check("replace", res)
        meta = obj["metadata"]
        current = self._current(res, meta.get("namespace"), meta["name"])
        self._preconditions(current, meta.get("uid"), meta.get("resourceVersion"))
        return await self._write(res, current, copy.deepcopy(obj), subresource)

    async def merge_patch(self, res, name, patch, *, namespace=None, subresource=None):
        await self._check("merge_patch", res)
        current = self._current(res, namespace, name)
        wanted = patch.get("metadata") or {}
        if wanted.get("uid") not in {None, current["metadata"]["uid"]}:
            raise Invalid("metadata.uid: Invalid value: field is immutable")  # a patch may not change it
        self._preconditions(current, resource_version=wanted.get("resourceVersion"))
        return await self._write(res, current, merge(current, patch), subresource)

    async def delete(
        self, res, name, *, namespace=None, uid=None, resource_version=None, propagation="Background"
    ):
        await self._check("delete", res)
        current = self._current(res, namespace, name)
        self._preconditions(current, uid, resource_version)
        if not current["metadata"].get("finalizers"):
            await self.remove(res, namespace, name)
        elif not current["metadata"].get("deletionTimestamp"):
            current["metadata"]["deletionTimestamp"] = self._timestamp()
            await self._commit(res, current, "MODIFIED")

    async def apply(self, res, obj, *, field_manager, force=True, subresource=None):
        raise NotImplementedError

    async def log(self, namespace, pod, options):
        await self._check("log")
        if self._key(POD, namespace, pod) not in self.objects:
            raise NotFound(f'pods "{pod}" not found', reason="NotFound")
        lines = list(self.logs.get((namespace, pod, options.container), []))
        if options.tail_lines is not None:
            lines = lines[-options.tail_lines :] if options.tail_lines else []
        for line in lines:
            yield line
