"""Clocks: the real one, and a fake one that tests step by hand (STYLE rule 9).

Both implement ``contracts.Clock``. Everything in ``runtime`` that waits or measures - queue delays, rate
limiters, reconcile timings, workqueue latency metrics - asks an injected clock, never ``time`` or the loop.

* ``RealClock`` schedules on the running event loop: ``monotonic()`` *is* ``loop.time()``, so a deadline
  computed from it can be handed straight to ``loop.call_at``. ``now()`` is aware UTC wall time.
* ``FakeClock`` stands still until ``step(seconds)``. Stepping fires every due ``call_at`` callback in
  deadline order (ties in scheduling order), synchronously, with ``monotonic()`` set to each callback's own
  deadline while it runs - so a callback that schedules another callback relative to "now" lands where it
  would have on a real clock, and fires in the same step if that is still due. ``sleep`` completes when the
  clock is stepped past its deadline (the sleeper resumes the next time the test yields to the loop).

Invariants (FakeClock): time never moves backwards; a cancelled timer never fires; a timer fires at most
once; ``step`` leaves ``monotonic()`` exactly at the target.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import TimerHandle

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class RealClock:
    """The event loop's monotonic time and the system's UTC wall time. Needs a running loop to schedule."""

    def monotonic(self) -> float:
        """``loop.time()`` of the running loop (the same scale ``call_at`` uses)."""
        return asyncio.get_running_loop().time()

    def now(self) -> datetime:
        """Aware UTC wall-clock time."""
        return datetime.now(UTC)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """``loop.call_at``: run ``callback`` on the loop at monotonic ``when``."""
        return asyncio.get_running_loop().call_at(when, callback)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told to. Not thread-safe; use it from the event loop's thread."""

    def __init__(self, start: float = 1000.0, wall: datetime = _EPOCH) -> None:
        if wall.tzinfo is None:
            raise ValueError("wall time must be timezone-aware")
        self._t = start
        self._start = start
        self._wall = wall
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _FakeTimer]] = []

    def monotonic(self) -> float:
        """Current fake monotonic time."""
        return self._t

    def now(self) -> datetime:
        """The wall time given at construction plus the time stepped since."""
        return self._wall + timedelta(seconds=self._t - self._start)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        """Schedule ``callback`` for the step reaching ``when`` (a past ``when`` fires on the next step)."""
        timer = _FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been stepped ``seconds`` forward. ``<= 0`` just yields to the loop."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        timer = self.call_at(self._t + seconds, wake)
        try:
            await woken
        finally:
            timer.cancel()

    def step(self, seconds: float) -> None:
        """Advance by ``seconds``, firing every timer that falls due, in deadline order."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._t + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._t = max(self._t, when)
            timer.cancelled = True  # fired: a late cancel() is a no-op, as for a loop TimerHandle
            timer.callback()
        self._t = target

    @property
    def pending(self) -> int:
        """How many timers are scheduled and not cancelled (for tests that wait for a sleeper)."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def next_deadline(self) -> float | None:
        """The earliest live timer's deadline, or ``None``."""
        live = [when for when, _, timer in self._timers if not timer.cancelled]
        return min(live) if live else None
