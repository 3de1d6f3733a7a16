"""A controller: N worker tasks draining one rate-limited queue into one reconciler.

The reconciler is one method, ``async reconcile(key) -> Result`` (controller-runtime's ``Reconciler``).
Each worker loops ``get -> reconcile -> done``, giving the event loop back between two reconciles even
when neither suspended (so a long drain never starves the Lease renewal); per-key mutual exclusion comes
from the queue's processing set, not from locks here.

The outcome policy lives in exactly one place, ``Controller._settle`` (controller-runtime's
``reconcileHandler``):

=====================================  ==========================================  =================
outcome                                queue                                       ``result`` label
=====================================  ==========================================  =================
raises ``TerminalError``               ``forget``, no requeue; terminal + errors    ``error``
raises any other ``Exception``         ``add_rate_limited``; errors                ``error``
returns ``Result(requeue_after > 0)``  ``forget`` + ``add_after(requeue_after)``    ``requeue_after``
returns ``Result()`` (or ``0``)        ``forget``                                  ``success``
=====================================  ==========================================  =================

A non-terminal exception that is not an ``ApiError`` or ``OSError`` is a bug (controller-runtime's
"panic"): it also counts in ``reconcile_panics_total`` and is logged with its traceback. Whatever the
reconciler raises, the worker survives; only ``CancelledError`` (and other ``BaseException``) propagates.
Unlike controller-runtime, a terminal error also forgets the key's backoff: the next event starts fresh.

Each reconcile runs with ``controller``, ``key`` and a fresh ``reconcile_id`` bound into structlog's
contextvars, so every log line it emits (ours and the reconciler's) can be told apart.

Stopping: ``stop()`` is graceful - no new reconcile starts, in-flight ones finish and settle, then ``run``
returns. Cancelling ``run()`` is the hard stop (lost leadership): workers are cancelled mid-reconcile, and
a worker whose reconcile swallowed the cancel stops before its next key (``Task.cancelling``).
Shutting the queue down directly makes the workers drain what is queued, then ``run`` returns.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import structlog

from choreo_controller.contracts import ApiError, ObjectKey, Result, TerminalError
from choreo_controller.logs import reconcile_context
from choreo_controller.metrics import Metrics

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock
    from choreo_controller.runtime.queue import RateLimitingQueue

log = structlog.get_logger("choreo_controller.controller")
#: The stdlib logger behind ``log``, to ask whether debug is on: ``log.is_enabled_for`` goes through
#: structlog's lazy proxy (a failed attribute lookup, then ``__getattr__``), a visible cost per reconcile.
_stdlog = logging.getLogger("choreo_controller.controller")

Outcome = Literal["success", "error", "requeue_after"]
_EXPECTED = (ApiError, OSError)  # failures of the world, not of our code
_MAX_MESSAGE = 300
_BUG_RETRY_SECONDS = 10.0  # not through the limiter: it may be what failed


class Reconciler(Protocol):
    """Drives one object towards its desired state. Level-based: only the key is given."""

    async def reconcile(self, key: ObjectKey) -> Result:
        """Make the world match ``key``'s spec; raise ``TerminalError`` if retrying cannot help."""
        ...


class Controller:
    """Runs ``workers`` concurrent reconciles of distinct keys from ``queue``."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        queue: RateLimitingQueue[ObjectKey],
        *,
        clock: Clock,
        workers: int = 1,
        metrics: Metrics | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a controller needs at least one worker")
        self.name = name
        self._reconciler = reconciler
        self._queue = queue
        self._clock = clock
        self._workers = workers
        self._metrics = metrics if metrics is not None else Metrics(process_collectors=False)
        self._stopping = False
        self._stopped: asyncio.Event | None = None

    @property
    def queue(self) -> RateLimitingQueue[ObjectKey]:
        """The queue the workers drain (informer handlers enqueue here)."""
        return self._queue

    async def run(self) -> None:
        """Run the workers until the queue shuts down (or ``stop``); cancelling stops them at once."""
        self._metrics.init_controller(self.name, self._workers)
        # This controller's series, looked up once: ``labels()`` costs a good part of a no-op reconcile,
        # and a cold start settles thousands of finished runs.
        m, name = self._metrics, self.name
        self._active, self._time = m.active_workers.labels(name), m.reconcile_time.labels(name)
        self._total = {outcome: m.reconcile_total.labels(name, outcome) for outcome in get_args(Outcome)}
        self._stopped = asyncio.Event()
        log.info("starting workers", controller=self.name, workers=self._workers)
        try:
            async with asyncio.TaskGroup() as group:
                for i in range(self._workers):
                    group.create_task(self._worker(), name=f"{self.name}-worker-{i}")
        finally:
            self._stopped.set()
            log.info("workers stopped", controller=self.name)

    async def stop(self) -> None:
        """Graceful stop: start nothing new, let in-flight reconciles finish, wait for ``run`` to return."""
        self._stopping = True
        self._queue.shutdown()
        if self._stopped is not None:
            await self._stopped.wait()

    async def _worker(self) -> None:
        task = asyncio.current_task()
        while not self._stopping:
            # A hard stop is one cancel per worker; a reconcile may swallow it (Python 3.11's ``wait_for``
            # returns its future's result when the cancel lands as that future completes): a worker must not
            # go on taking keys after it - a leader that lost its Lease would keep writing.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            # A reconcile that awaits nothing that suspends (a settled run's: cache reads only) and a queue
            # with keys ready never give the loop back: without this, a cold start's thousands of them would
            # hold it - Lease renewal, probes, informers - until the last one.
            await asyncio.sleep(0)
            key, shutdown = await self._queue.get()
            if shutdown or key is None:
                return
            try:
                if not self._stopping:
                    await self._process(key)
            except Exception:  # a bug in our own machinery: keep the worker, retry the key later
                log.exception("controller error", controller=self.name, key=str(key))
                self._queue.add_after(key, _BUG_RETRY_SECONDS)
            finally:
                self._queue.done(key)

    async def _process(self, key: ObjectKey) -> None:
        with reconcile_context(self.name, key):
            started = self._clock.monotonic()
            self._active.inc()
            try:
                returned: object = await self._reconciler.reconcile(key)
            except Exception as exc:  # noqa: BLE001 - every failure is settled by the policy below
                returned = exc
            finally:
                self._active.dec()
                elapsed = self._clock.monotonic() - started
                self._time.observe(elapsed)
            outcome = (
                returned
                if isinstance(returned, Result | Exception)  # anything else is a reconciler bug
                else TypeError(f"reconcile returned {type(returned).__name__}, not Result")
            )
            self._settle(key, outcome, elapsed)

    def _settle(self, key: ObjectKey, outcome: Result | Exception, elapsed: float) -> None:
        """The outcome policy: the only place that decides whether and when ``key`` comes back."""
        m, name = self._metrics, self.name
        label: Outcome
        if isinstance(outcome, TerminalError):
            self._queue.forget(key)
            m.terminal_reconcile_errors.labels(name).inc()
            m.reconcile_errors.labels(name).inc()
            label = "error"
            log.warning(
                "reconcile failed permanently", reason=outcome.reason, message=_short(outcome.message)
            )
        elif isinstance(outcome, Exception):
            self._queue.add_rate_limited(key)
            m.reconcile_errors.labels(name).inc()
            label = "error"
            retries = self._queue.num_requeues(key)
            if isinstance(outcome, _EXPECTED):
                log.warning(
                    "reconcile failed",
                    error=type(outcome).__name__,
                    message=_short(str(outcome)),
                    retries=retries,
                )
            else:
                m.reconcile_panics.labels(name).inc()
                log.error("reconcile crashed", retries=retries, exc_info=outcome)
        elif outcome.requeue_after:
            self._queue.forget(key)
            self._queue.add_after(key, outcome.requeue_after)
            label = "requeue_after"
            if _stdlog.isEnabledFor(logging.DEBUG):  # a disabled call still runs structlog's wrapper
                log.debug("reconciled", requeue_after=outcome.requeue_after, seconds=round(elapsed, 6))
        else:
            self._queue.forget(key)
            label = "success"
            if _stdlog.isEnabledFor(logging.DEBUG):
                log.debug("reconciled", seconds=round(elapsed, 6))
        self._total[label].inc()


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."
