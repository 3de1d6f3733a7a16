"""Liveness of the event loop: a probe that measures how late the loop runs a timer.

Everything in this process shares one event loop, so "alive" means "the loop turns": a CPU-bound render or
a blocking call starves every watch, reconcile and lease renewal at once. ``LoopLagMonitor`` sleeps
``interval`` seconds in a loop and records how much later than asked it woke up, into the
``choreo_event_loop_lag_seconds`` histogram. ``/healthz`` fails while the last lag, or the time since the
probe last ran (it cannot run while the loop is blocked), exceeds ``bound``.

A fully blocked loop cannot answer ``/healthz`` at all - the kubelet's probe times out, which is the same
verdict; the monitor is for the loop that still turns, but too slowly to renew a lease in time. Time comes
from the injected ``Clock`` (``RealClock.monotonic`` *is* the loop's clock), so tests step a fake one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock
    from choreo_controller.metrics import Metrics


class LoopLagMonitor:
    """Measures event-loop lag every ``interval`` seconds; unhealthy beyond ``bound`` seconds."""

    def __init__(self, clock: Clock, metrics: Metrics, *, interval: float = 0.25, bound: float = 5.0) -> None:
        if interval <= 0 or bound <= 0:
            raise ValueError("interval and bound must be positive")
        self._clock = clock
        self._metrics = metrics
        self.interval = interval
        self.bound = bound
        self.lag = 0.0
        self._last_beat: float | None = None

    async def run(self) -> NoReturn:
        """Probe forever (until cancelled)."""
        self._last_beat = self._clock.monotonic()
        while True:
            asked = self._clock.monotonic() + self.interval
            await self._clock.sleep(self.interval)
            now = self._clock.monotonic()
            self.lag = max(0.0, now - asked)
            self._last_beat = now
            self._metrics.event_loop_lag.observe(self.lag)

    def problems(self) -> list[str]:
        """``[]`` when the loop is responsive, else one line saying how late it runs."""
        if self._last_beat is None:
            return []
        overdue = self._clock.monotonic() - self._last_beat - self.interval
        worst = max(self.lag, overdue)
        if worst > self.bound:
            return [f"event loop lag {worst:.1f}s exceeds {self.bound:g}s"]
        return []
