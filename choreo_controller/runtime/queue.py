"""The work queue: client-go's ``util/workqueue`` (queue -> delaying -> rate-limited), on asyncio.

Three small layers, as upstream:

* ``WorkQueue`` - ``add``, ``get``, ``done``, ``shutdown``, ``shutdown_with_drain``, ``len``; two lanes:
  ``add(key, urgent=True)`` puts the key in the urgent lane, which ``get`` empties first (controller-runtime's
  priority queue, reduced to two priorities). A controller marks as urgent the keys whose reconcile is
  cheap and user-visible (e.g. a WorkflowRun whose build-plane object changed: a status update), so they
  do not wait behind a burst of expensive ones (submissions). Urgent work must come from a bounded source:
  the normal lane waits while the urgent one is not empty.
* ``DelayingQueue`` - ``add_after(key, seconds)`` through the injected clock's ``call_at`` (one timer per
  waiting key, no tasks); a pending delay only ever moves *earlier*.
* ``RateLimitingQueue`` - ``add_rate_limited`` (``add_after(key, limiter.when(key))``), ``forget``,
  ``num_requeues``.

Everything runs on the event loop's thread and every method except ``get``/``shutdown_with_drain`` is
synchronous, so informer handlers and timer callbacks can enqueue without awaiting and no lock is needed.

Metrics follow client-go's ``defaultQueueMetrics``: a real add (not a dedup) counts in ``adds`` and
``depth``; ``get`` observes queue latency since the first add; ``done`` observes work duration;
``add_after`` counts a retry on every call, zero delays included.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import TYPE_CHECKING, Generic, Literal, TypeAlias, TypeVar

from choreo_controller.metrics import NOOP_WORKQUEUE_METRICS, WorkqueueMetricsProvider

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock, TimerHandle
    from choreo_controller.runtime.ratelimit import RateLimiter

K = TypeVar("K", bound=Hashable)
#: ``get()``'s answer: a key, or ``(None, True)`` once shut down and empty.
Got: TypeAlias = tuple[K, Literal[False]] | tuple[None, Literal[True]]


class _QueueMetrics(Generic[K]):
    """client-go's ``defaultQueueMetrics``: times keyed by item, on the injected clock."""

    def __init__(self, name: str, clock: Clock, provider: WorkqueueMetricsProvider) -> None:
        self._clock = clock
        self._depth = provider.depth(name)
        self._adds = provider.adds(name)
        self._latency = provider.latency(name)
        self._work = provider.work_duration(name)
        self.retries = provider.retries(name)
        self._added_at: dict[K, float] = {}
        self._started_at: dict[K, float] = {}
        provider.unfinished(name, self.unfinished_seconds, self.longest_running_seconds)

    def add(self, key: K) -> None:
        self._adds.inc()
        self._depth.inc()
        self._added_at.setdefault(key, self._clock.monotonic())

    def get(self, key: K) -> None:
        self._depth.dec()
        now = self._clock.monotonic()
        self._started_at[key] = now
        added = self._added_at.pop(key, None)
        if added is not None:
            self._latency.observe(now - added)

    def done(self, key: K) -> None:
        started = self._started_at.pop(key, None)
        if started is not None:
            self._work.observe(self._clock.monotonic() - started)

    def unfinished_seconds(self) -> float:
        now = self._clock.monotonic()
        return sum(now - t for t in list(self._started_at.values()))

    def longest_running_seconds(self) -> float:
        now = self._clock.monotonic()
        return max((now - t for t in list(self._started_at.values())), default=0.0)


class WorkQueue(Generic[K]):
    """A set-like FIFO of keys (two lanes) with per-key mutual exclusion for its consumers.

    Invariants (client-go ``Typed[T]``):

    * ``dirty`` holds every key that needs processing; the lanes (``urgent``, ``queue``) hold those of them
      *not* being processed, each in exactly one lane, once. A key in ``dirty`` is never added again
      (dedup); an urgent add of a key waiting in the normal lane moves it to the urgent lane, and one of a
      key being processed makes its next run urgent.
    * ``processing`` holds keys handed out by ``get`` and not yet ``done``. A key is never handed to two
      consumers at once: an ``add`` while it is processing only marks it dirty, and ``done`` queues it then,
      so any number of such adds yield exactly one more run.
    * After ``shutdown``, ``add`` is ignored; ``get`` still hands out what is queued and reports shutdown
      (``(None, True)``) only once the queue is empty.
    """

    def __init__(
        self, name: str, clock: Clock, *, metrics: WorkqueueMetricsProvider = NOOP_WORKQUEUE_METRICS
    ) -> None:
        self.name = name
        self._clock = clock
        self._queue: OrderedDict[K, None] = OrderedDict()
        self._urgent: OrderedDict[K, None] = OrderedDict()
        self._dirty: set[K] = set()
        self._expedite: set[K] = set()  # processing keys whose next run is urgent
        self._processing: set[K] = set()
        self._shutting_down = False
        self._drain = False
        self._getters: deque[asyncio.Future[None]] = deque()
        self._drainers: list[asyncio.Future[None]] = []
        self._metrics: _QueueMetrics[K] = _QueueMetrics(name, clock, metrics)

    def __len__(self) -> int:
        """Keys waiting to be handed out (not those being processed)."""
        return len(self._queue) + len(self._urgent)

    @property
    def shutting_down(self) -> bool:
        """``shutdown`` (or ``shutdown_with_drain``) has been called."""
        return self._shutting_down

    def add(self, key: K, *, urgent: bool = False) -> None:
        """Mark ``key`` as needing processing (``urgent``: before every non-urgent key). Idempotent."""
        if self._shutting_down:
            return
        if key in self._dirty:
            if urgent and key in self._queue:
                del self._queue[key]
                self._urgent[key] = None
            elif urgent and key in self._processing:
                self._expedite.add(key)
            return
        self._metrics.add(key)
        self._dirty.add(key)
        if key in self._processing:
            if urgent:
                self._expedite.add(key)
            return  # queued again by done()
        (self._urgent if urgent else self._queue)[key] = None
        self._wake_one()

    async def get(self) -> Got[K]:
        """Wait for a key and mark it processing; ``(None, True)`` once shut down and empty."""
        while not self and not self._shutting_down:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                if waiter in self._getters:
                    self._getters.remove(waiter)
                elif self:
                    self._wake_one()  # we were woken for an item we will not take: pass it on
                raise
        if not self:
            return None, True
        key, _ = (self._urgent or self._queue).popitem(last=False)
        self._metrics.get(key)
        self._processing.add(key)
        self._dirty.discard(key)
        return key, False

    def done(self, key: K) -> None:
        """``key``'s processing has finished; queue it again if it was added meanwhile."""
        self._metrics.done(key)
        self._processing.discard(key)
        urgent = key in self._expedite
        self._expedite.discard(key)
        if key in self._dirty:
            (self._urgent if urgent else self._queue)[key] = None
            self._wake_one()
        elif not self._processing:
            self._release_drainers()

    def shutdown(self) -> None:
        """Ignore further adds; wake all consumers. Also ends a pending ``shutdown_with_drain`` at once."""
        self._drain = False
        self._shutting_down = True
        self._wake_all()
        self._release_drainers()

    async def shutdown_with_drain(self) -> None:
        """``shutdown``, then wait until no key is processing (consumers must call ``done``)."""
        self._drain = True
        self._shutting_down = True
        self._wake_all()
        while self._processing and self._drain:
            drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drainers.append(drained)
            await drained

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _release_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for drained in drainers:
            if not drained.done():
                drained.set_result(None)


class DelayingQueue(WorkQueue[K]):
    """A ``WorkQueue`` with ``add_after``.

    Invariant: a key has at most one pending timer (``_waiting``); adding it again with a later deadline
    changes nothing, with an earlier one replaces the timer. A due timer ``add``s the key (so dedup
    applies). ``shutdown`` cancels every pending timer: delayed keys are dropped.
    """

    def __init__(
        self, name: str, clock: Clock, *, metrics: WorkqueueMetricsProvider = NOOP_WORKQUEUE_METRICS
    ) -> None:
        super().__init__(name, clock, metrics=metrics)
        self._waiting: dict[K, tuple[float, TimerHandle]] = {}

    def add_after(self, key: K, seconds: float) -> None:
        """``add`` ``key`` after ``seconds`` (at once if ``seconds <= 0``); never postpones a pending add."""
        if self._shutting_down:
            return
        self._metrics.retries.inc()
        if seconds <= 0:
            self.add(key)
            return
        ready_at = self._clock.monotonic() + seconds
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        self._waiting[key] = (ready_at, self._clock.call_at(ready_at, lambda: self._ready(key)))

    @property
    def waiting(self) -> int:
        """Keys with a pending delayed add."""
        return len(self._waiting)

    def _ready(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def shutdown(self) -> None:
        """Drop pending delayed adds, then ``WorkQueue.shutdown``."""
        self._cancel_timers()
        super().shutdown()

    async def shutdown_with_drain(self) -> None:
        """Drop pending delayed adds, then ``WorkQueue.shutdown_with_drain``."""
        self._cancel_timers()
        await super().shutdown_with_drain()

    def _cancel_timers(self) -> None:
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()


class RateLimitingQueue(DelayingQueue[K]):
    """A ``DelayingQueue`` whose retries are spaced by a ``RateLimiter``."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        limiter: RateLimiter,
        *,
        metrics: WorkqueueMetricsProvider = NOOP_WORKQUEUE_METRICS,
    ) -> None:
        super().__init__(name, clock, metrics=metrics)
        self._limiter = limiter

    def add_rate_limited(self, key: K) -> None:
        """``add_after(key, limiter.when(key))``: the limiter records a retry even if we are shut down."""
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset ``key``'s retry history. The caller still has to call ``done``."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Retries of ``key`` since it was last forgotten."""
        return self._limiter.num_requeues(key)
