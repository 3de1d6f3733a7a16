"""An informer: LIST, then WATCH from the list's resourceVersion, into a ``Store``, telling handlers.

What it owns: one resource (optionally one namespace, label and field selector), its ``Store``, and the
task that keeps the store equal to the apiserver's view. It works over any ``contracts.KubeApi`` - the
direct client or the relay's - and never imports an HTTP library.

The loop (client-go's reflector):

1. LIST, page by page: each page is stored (and reported) as it arrives, so neither the whole list nor
   the wait for its last page comes before the first objects are cached. After the last page, keys cached
   but not listed are deleted *and reported to the handlers*, so a delete that happened while we were not
   watching still reaches them (client-go's ``DeletedFinalStateUnknown``; we pass the last cached
   version). A listed object whose uid differs from the cached one was deleted and recreated meanwhile: a
   delete then an add. The store is synced after the last page of the first LIST, and the watch starts
   from that list's resourceVersion.
2. WATCH from the last resourceVersion with bookmarks (they only move the resourceVersion), for a random
   300-600 s server-side timeout, then watch again from where it ended.
3. ``Gone`` (410: the resourceVersion was compacted away, e.g. after an apiserver restart): relist at
   once, quietly (info, not a warning) - it is routine.
4. Anything else (``Unavailable``, ``ServerError``, a stream that ends at once without events, a garbled
   line): wait a jittered, capped exponential backoff, then *resume* the watch from the last
   resourceVersion. The backoff resets as soon as the apiserver delivers again.

Invariants: handlers see events in resourceVersion order and see every change of the key set; an update
is only reported when the resourceVersion moved; a handler that raises is logged and the informer goes on.
Handlers are synchronous and must only map to keys and enqueue (``runtime.handlers``). A handler added
after the informer has synced is first told about every cached object as an add.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import structlog

from choreo_controller.contracts import ApiError, Gone, ObjectKey
from choreo_controller.runtime.backoff import Backoff
from choreo_controller.runtime.store import IndexFunc, Store, slim

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, JsonObj, KubeApi, WatchEvent
    from choreo_controller.runtime.handlers import EventHandler

log = structlog.get_logger("choreo_controller.informer")

_YIELD_EVERY = 256  # objects stored between yields to the loop during a (re)list
_SHORT_WATCH = 1.0  # seconds: a watch ending this fast without an event counts as a failure


class _ShortWatch(Exception):
    """The watch ended at once without delivering anything."""


class Informer:
    """Keeps ``store`` in step with one resource and tells the handlers what changed."""

    def __init__(  # noqa: PLR0913 - selectors and tuning are keyword-only and all optional
        self,
        api: KubeApi,
        resource: ApiResource,
        *,
        clock: Clock,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: dict[str, IndexFunc] | None = None,
        backoff: Backoff | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self._api = api
        self.resource = resource
        self._clock = clock
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store(indexers)
        self._backoff = backoff if backoff is not None else Backoff()
        self._watch_timeout = watch_timeout
        self._rng = random.Random()  # spreads watch timeouts, not cryptography  # noqa: S311
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._rv: str | None = None  # where the next watch starts; None: list first
        self._listed_rv: str | None = None
        self.lists = 0  # successful LISTs (the first one plus every relist)
        self.expired = 0  # watches that ended with Gone

    @property
    def name(self) -> str:
        """``plural.group`` (``plural`` for the core group), for logs."""
        r = self.resource
        return f"{r.plural}.{r.group}" if r.group else r.plural

    @property
    def has_synced(self) -> bool:
        """The first LIST is in the store."""
        return self.store.has_synced

    async def wait_synced(self) -> None:
        """Return once the first LIST is in the store."""
        await self._synced.wait()

    def add_handler(self, handler: EventHandler) -> None:
        """Register ``handler``; if objects are cached already, it first gets an add for each."""
        self._handlers.append(handler)
        if handler.on_add is not None:
            for obj in self.store.list():
                self._call(handler, "on_add", obj)

    async def run(self) -> NoReturn:
        """Keep the store in step until cancelled. Never returns, never raises an API error."""
        log.info("informer starting", informer=self.name, namespace=self.namespace or "")
        while True:
            listed_now = self._rv is None
            try:
                if listed_now:
                    await self._relist()
                await self._watch(self._rv or "")
            except Gone:
                # Routine after a restart or compaction: relist at once. If the LIST itself, or a watch
                # opened straight from the LIST's version, is already too old, something is off: back off.
                suspicious = listed_now and self._rv in {None, self._listed_rv}
                self._rv = None
                self.expired += 1
                if suspicious:
                    await self._retry_later("resourceVersion expired right after a list")
                else:
                    log.info("watch expired; relisting", informer=self.name)
            except (ApiError, OSError, _ShortWatch) as exc:
                await self._retry_later(f"{type(exc).__name__}: {str(exc)[:200]}")
            except Exception as exc:  # a garbled event or a bug below us: keep the informer alive
                log.exception("informer error", informer=self.name)
                await self._retry_later(type(exc).__name__)

    async def _retry_later(self, why: str) -> None:
        delay = self._backoff.next()
        log.warning(
            "watch interrupted; retrying",
            informer=self.name,
            error=why,
            retry_in=round(delay, 3),
            attempt=self._backoff.attempts,
        )
        await self._clock.sleep(delay)

    async def _relist(self) -> None:
        pages = self._api.list_pages(
            self.resource,
            self.namespace,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            managed_fields=False,  # the store drops them: most are then never decoded (a cold start)
        )
        seen: set[ObjectKey] = set()
        resource_version = ""
        async with contextlib.aclosing(pages):
            async for page in pages:
                self._backoff.reset()
                if page.first:
                    seen.clear()  # the list started over: only its own pages decide what is gone
                resource_version = page.resource_version
                for i, obj in enumerate(page.items):
                    if i % _YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # first of all: lets the next page's request go out
                    seen.add(ObjectKey.of(obj))
                    self._store_listed(obj)
        for key in [k for k in self.store.list_keys() if k not in seen]:
            gone = self.store.delete(key)
            if gone is not None:
                self._notify("on_delete", gone)
        self._rv = self._listed_rv = resource_version
        self.lists += 1
        if not self.store.has_synced:
            self.store.mark_synced()
            self._synced.set()
            log.info("informer synced", informer=self.name, objects=len(self.store))
        else:
            log.info("informer relisted", informer=self.name, objects=len(self.store))

    def _store_listed(self, obj: JsonObj) -> None:
        key = ObjectKey.of(obj)
        cached_uid = self.store.uid(key)
        changed, old = self.store.upsert(obj)
        if changed and old is None:
            self._notify("on_add", obj)
        elif changed and old is not None and cached_uid != self.store.uid(key):
            self._notify("on_delete", old)  # deleted and recreated while we were away
            self._notify("on_add", obj)
        elif changed and old is not None:
            self._notify("on_update", old, obj)

    async def _watch(self, resource_version: str) -> None:
        timeout = self._rng.randint(self._watch_timeout, 2 * self._watch_timeout)
        started = self._clock.monotonic()
        delivered = False
        events = self._api.watch(
            self.resource,
            self.namespace,
            resource_version=resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout,
        )
        try:
            async for event in events:
                if not delivered:
                    delivered = True
                    self._backoff.reset()
                self._apply(event)
        finally:
            aclose: Any = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        if not delivered and self._clock.monotonic() - started < min(_SHORT_WATCH, timeout / 2):
            raise _ShortWatch("watch ended at once without events")

    def _apply(self, event: WatchEvent) -> None:
        obj = event.object
        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if event.type == "DELETED":
            self.store.delete(ObjectKey.of(obj))
            self._notify("on_delete", slim(obj))
        elif event.type in {"ADDED", "MODIFIED"}:
            changed, old = self.store.upsert(obj)
            if changed:
                self._notify("on_add", obj) if old is None else self._notify("on_update", old, obj)
        if rv:
            self._rv = rv

    def _notify(self, kind: Literal["on_add", "on_update", "on_delete"], *objs: JsonObj) -> None:
        for handler in self._handlers:
            self._call(handler, kind, *objs)

    def _call(self, handler: EventHandler, kind: str, *objs: JsonObj) -> None:
        callback = getattr(handler, kind)
        if callback is None:
            return
        try:
            callback(*objs)
        except Exception:
            log.exception("event handler failed", informer=self.name, callback=kind)
