"""The manager: owns every long-lived task of the controller process, in one ``asyncio.TaskGroup``.

What it runs (controller-runtime's ``Manager``):

* informers and "always" runnables (the HTTP endpoints, the loop-lag monitor) from the start - a standby
  keeps warm caches, so it is ready to take over, and ``/readyz`` can call it ready;
* leader election, if configured; controllers and "leader-only" runnables start only once this process
  leads, and each controller only after the informers it reads have synced.

How it ends:

* ``stop()`` (SIGTERM/SIGINT with ``run(handle_signals=True)``) is graceful: controllers stop taking keys
  and finish in-flight reconciles (at most ``shutdown_grace`` seconds, then they are cancelled), the lease
  is released so a standby takes over at once, then everything else is cancelled; ``run`` returns.
* Lost leadership is not: the elector raises ``LeadershipLost``, the TaskGroup cancels every task at once
  - no reconcile gets to write again - and ``run`` raises ``LeadershipLost``. The caller exits non-zero
  (controller-runtime exits too: a process that once led cannot be trusted to have stopped every write).

Informers are shared: asking twice for the same resource, namespace, selectors and API returns one.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from choreo_controller.runtime.controller import Controller
from choreo_controller.runtime.health import LoopLagMonitor
from choreo_controller.runtime.informer import Informer
from choreo_controller.runtime.leader import LeaderConfig, LeaderElector, LeadershipLost
from choreo_controller.runtime.queue import RateLimitingQueue
from choreo_controller.runtime.ratelimit import default_controller_rate_limiter
from choreo_controller.runtime.tasks import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

    from choreo_controller.contracts import ApiResource, Clock, KubeApi, ObjectKey
    from choreo_controller.metrics import Metrics
    from choreo_controller.runtime.controller import Reconciler

log = structlog.get_logger("choreo_controller.manager")


class _Runnable(NamedTuple):
    name: str
    start: Callable[[], Coroutine[Any, Any, Any]]
    leader_only: bool


class Manager:
    """Runs informers, controllers, leader election and runnables; see the module docstring."""

    def __init__(
        self,
        api: KubeApi,
        *,
        clock: Clock,
        metrics: Metrics,
        leader_election: LeaderConfig | None = None,
        lease_api: KubeApi | None = None,
        lag_bound: float = 5.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        """``lease_api`` should bypass the client rate limiter (``KubeClient(transport.unthrottled())``)."""
        self._api = api
        self._clock = clock
        self.metrics = metrics
        self.elector = (
            None
            if leader_election is None
            else LeaderElector(lease_api if lease_api is not None else api, leader_election, clock)
        )
        self.lag = LoopLagMonitor(clock, metrics, bound=lag_bound)
        self._grace = shutdown_grace
        self._informers: dict[tuple[object, ...], Informer] = {}
        self._controllers: list[tuple[Controller, list[Informer]]] = []
        self._runnables: list[_Runnable] = []
        self._group: asyncio.TaskGroup | None = None
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self._stop_requested = asyncio.Event()
        self._running = False
        self._stopping = False

    # ---- building ----------------------------------------------------------------------------------
    def add_informer(
        self,
        resource: ApiResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        api: KubeApi | None = None,
    ) -> Informer:
        """The (shared) informer for these arguments; ``api`` defaults to the manager's."""
        client = api if api is not None else self._api
        key = (resource, namespace, label_selector, field_selector, id(client))
        if key not in self._informers:
            if self._running:
                raise RuntimeError("add informers before run()")
            self._informers[key] = Informer(
                client,
                resource,
                clock=self._clock,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            )
        return self._informers[key]

    def new_controller(self, name: str, reconciler: Reconciler, *, workers: int = 1) -> Controller:
        """A controller with client-go's default rate limiter and the workqueue metrics, not yet added."""
        queue: RateLimitingQueue[ObjectKey] = RateLimitingQueue(
            name, self._clock, default_controller_rate_limiter(self._clock), metrics=self.metrics.workqueue
        )
        return Controller(name, reconciler, queue, clock=self._clock, workers=workers, metrics=self.metrics)

    def add_controller(self, controller: Controller, *, informers: Sequence[Informer] | None = None) -> None:
        """Run ``controller`` while leading, once ``informers`` (default: all of them) have synced."""
        if self._running:
            raise RuntimeError("add controllers before run()")
        waits_for = list(self._informers.values()) if informers is None else list(informers)
        self._controllers.append((controller, waits_for))

    def add_runnable(
        self, name: str, start: Callable[[], Coroutine[Any, Any, Any]], *, leader_only: bool = False
    ) -> None:
        """Run ``start()`` for the process's life (or while leading); if it fails, the manager fails."""
        if self._running:
            raise RuntimeError("add runnables before run()")
        self._runnables.append(_Runnable(name, start, leader_only))

    # ---- state ---------------------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        """Controllers are running: we lead, or there is no election."""
        return bool(self._leader_tasks) and not self._stopping

    def health_problems(self) -> list[str]:
        """For ``/healthz``: the event loop is responsive."""
        return self.lag.problems()

    def ready_problems(self) -> list[str]:
        """For ``/readyz``: running, caches synced, and leading or a standby that has read the lease."""
        if not self._running:
            return ["manager: not running"]
        problems = ["manager: shutting down"] if self._stopping else []
        problems += [f"informer {i.name}: not synced" for i in self._informers.values() if not i.has_synced]
        if self.elector is not None and self.elector.state == "starting":
            problems.append("leader election: lease not read yet")
        return problems

    # ---- running -------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask for a graceful stop (safe from a signal handler); ``run`` returns when it is done."""
        self._stop_requested.set()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Run until ``stop()`` (return) or lost leadership (raise ``LeadershipLost``).

        ``handle_signals``: SIGTERM and SIGINT call ``stop()`` (the process's main manager only). A runnable
        that fails ends the manager too: its exception propagates, in an ``ExceptionGroup``.
        """
        if self._running:
            raise RuntimeError("the manager is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                others = [group.create_task(self.lag.run(), name="loop-lag")]
                others += [
                    group.create_task(i.run(), name=f"informer-{i.name}") for i in self._informers.values()
                ]
                others += [
                    group.create_task(r.start(), name=r.name) for r in self._runnables if not r.leader_only
                ]
                elector_task = None
                if self.elector is None:
                    self._start_leading()
                else:
                    elector_task = group.create_task(
                        self.elector.run(self._start_leading), name="leader-election"
                    )
                await self._stop_requested.wait()
                await self._shutdown(elector_task, others)
        except* LeadershipLost as lost:
            raise LeadershipLost(str(lost.exceptions[0])) from None
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            self._group = None
            log.info("manager stopped")

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("signal received; stopping", signal=sig.name)
        self.stop()

    def _start_leading(self) -> None:
        group = self._group
        if group is None or self._stopping:
            return
        log.info("starting controllers", controllers=[c.name for c, _ in self._controllers])
        for controller, informers in self._controllers:
            self._leader_tasks.append(
                group.create_task(
                    self._run_controller(controller, informers), name=f"controller-{controller.name}"
                )
            )
        for r in self._runnables:
            if r.leader_only:
                self._leader_tasks.append(group.create_task(r.start(), name=r.name))

    async def _run_controller(self, controller: Controller, informers: list[Informer]) -> None:
        await asyncio.gather(*(i.wait_synced() for i in informers))
        await controller.run()

    async def _shutdown(
        self, elector_task: asyncio.Task[Any] | None, others: list[asyncio.Task[Any]]
    ) -> None:
        self._stopping = True
        log.info("stopping gracefully", grace=self._grace)
        if self._leader_tasks:
            graceful = asyncio.gather(*(c.stop() for c, _ in self._controllers))
            timer = self._clock.call_at(self._clock.monotonic() + self._grace, lambda: _cancel_soon(graceful))
            try:
                await graceful
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                log.warning("controllers did not finish in time; cancelling them", grace=self._grace)
            finally:
                timer.cancel()
        await cancel_and_wait(*self._leader_tasks)
        if elector_task is not None and self.elector is not None:
            await cancel_and_wait(elector_task)  # no renewal may race the release below
            await self.elector.release()
        await cancel_and_wait(*others)


def _cancel_soon(future: asyncio.Future[Any]) -> None:
    future.cancel()
