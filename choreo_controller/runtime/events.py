"""``KubeEventRecorder``: the ``contracts.EventRecorder`` that writes core/v1 Events through a ``KubeApi``.

Best effort and off the reconcile path, like client-go's broadcaster: ``record`` only puts the event on a
bounded queue (full -> dropped and counted) and returns; ``run`` drains it, writing one Event at a time, and
never raises on API errors (a failed write is logged at debug level and dropped). A reconcile therefore
never waits for, nor fails because of, an Event.

Aggregation (client-go's ``EventCorrelator``, simplified): an event with the same object (involved uid),
type and reason as a recent one is not created again - whatever its message; the existing Event's
``count`` goes up, ``lastTimestamp`` moves and ``message`` becomes the latest, with one merge patch. So a
run waiting for its plane, or a cleanup retried with backoff, holds one Event that counts its retries, and
every Event object stands for one distinct (object, type, reason). What was recorded is remembered per
object, for the ``cache_size`` objects recorded about most recently (an LRU, as client-go's); ``forget`` drops
an object's memory once the object is deleted, so the memory follows the objects that exist rather than how
many have passed through (an Event queued before the deletion and written after it is remembered again, until
the LRU drops it). If the remembered Event is gone (TTL'd by the apiserver), a new one is created.

Names follow client-go: ``<object name>.<hex of the timestamp in ns>``; the Event lives in the object's
namespace (``default`` for cluster-scoped objects). Messages are clipped to 1024 characters; callers never
put secrets in them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, Literal, NamedTuple, NoReturn

import structlog

from choreo_controller.api.conditions import rfc3339
from choreo_controller.api.resources import EVENT
from choreo_controller.contracts import ApiError, NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock, JsonObj, KubeApi

log = structlog.get_logger("choreo_controller.events")
MAX_MESSAGE: Final = 1024
EventType = Literal["Normal", "Warning"]


class _Pending(NamedTuple):
    involved: dict[str, str]
    event_type: EventType
    reason: str
    message: str


class _Seen(NamedTuple):
    name: str
    namespace: str
    times: int
    message: str


class KubeEventRecorder:
    """Queues Events and writes them (``run``); see the module docstring."""

    def __init__(
        self,
        api: KubeApi,
        clock: Clock,
        *,
        component: str = "choreo-controller",
        instance: str = "",
        max_pending: int = 1000,
        cache_size: int = 4096,
    ) -> None:
        self._api = api
        self._clock = clock
        self._component = component
        self._instance = instance
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(max_pending)
        self._seen: OrderedDict[str, dict[tuple[str, str], _Seen]] = OrderedDict()
        self._cache_size = cache_size
        self._seq = itertools.count()
        self.dropped = 0
        self.written = 0

    async def record(self, obj: JsonObj, event_type: EventType, reason: str, message: str) -> None:
        """Queue one Event about ``obj``; never blocks, never raises."""
        meta = obj.get("metadata") or {}
        involved = {
            "apiVersion": str(obj.get("apiVersion") or ""),
            "kind": str(obj.get("kind") or ""),
            "name": str(meta.get("name") or ""),
            "namespace": str(meta.get("namespace") or ""),
            "uid": str(meta.get("uid") or ""),
            "resourceVersion": str(meta.get("resourceVersion") or ""),
        }
        clipped = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
        try:
            self._queue.put_nowait(_Pending(involved, event_type, reason, clipped))
        except asyncio.QueueFull:
            self.dropped += 1

    def forget(self, obj: JsonObj) -> None:
        """Drop what is remembered about ``obj`` (an informer's delete handler); never raises."""
        self._seen.pop(_object_key(obj.get("metadata") or {}), None)

    async def run(self) -> NoReturn:
        """Write queued Events until cancelled."""
        while True:
            item = await self._queue.get()
            await self._write(item)

    async def flush(self) -> None:
        """Write everything queued now (tests, shutdown)."""
        while not self._queue.empty():
            await self._write(self._queue.get_nowait())

    async def _write(self, item: _Pending) -> None:
        try:
            await self._emit(item)
            self.written += 1
        except (ApiError, OSError) as exc:
            log.debug("event not recorded", reason=item.reason, error=type(exc).__name__)

    async def _emit(self, item: _Pending) -> None:
        inv = item.involved
        obj_key, key = _object_key(inv), (item.event_type, item.reason)
        now = rfc3339(self._clock.now())
        seen = self._seen.get(obj_key, {}).get(key)
        if seen is not None:
            patch = {"count": seen.times + 1, "lastTimestamp": now}
            if item.message != seen.message:
                patch["message"] = item.message
            try:
                await self._api.merge_patch(EVENT, seen.name, patch, namespace=seen.namespace)
                self._remember(obj_key, key, seen._replace(times=seen.times + 1, message=item.message))
            except NotFound:
                pass
            else:
                return
        namespace = inv["namespace"] or "default"
        stamp = int(self._clock.now().timestamp() * 1e9) + next(self._seq)
        name = f"{inv['name'] or 'object'}.{stamp:x}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in inv.items() if v},
            "type": item.event_type,
            "reason": item.reason,
            "message": item.message,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self._component, **({"host": self._instance} if self._instance else {})},
            "reportingComponent": self._component,
            "reportingInstance": self._instance or self._component,
        }
        await self._api.create(EVENT, event)
        self._remember(obj_key, key, _Seen(name, namespace, 1, item.message))

    def _remember(self, obj_key: str, key: tuple[str, str], seen: _Seen) -> None:
        self._seen.setdefault(obj_key, {})[key] = seen
        self._seen.move_to_end(obj_key)
        while len(self._seen) > self._cache_size:
            self._seen.popitem(last=False)


def _object_key(meta: dict[str, str] | JsonObj) -> str:
    """An object's uid (``namespace/name`` without one), from its metadata or an ``involvedObject``."""
    return str(meta.get("uid") or f"{meta.get('namespace') or ''}/{meta.get('name') or ''}")
