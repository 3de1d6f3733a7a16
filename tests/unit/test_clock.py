"""FakeClock: stepping fires due timers in order; RealClock: the loop's time and aware UTC."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from choreo_controller.runtime.clock import FakeClock, RealClock


async def until(predicate):
    """Yield to the loop until ``predicate()`` holds; fail after 5 s."""
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


def test_step_fires_due_timers_in_deadline_then_scheduling_order():
    clock = FakeClock(start=0.0)
    fired = []
    for when, name in [(3.0, "c"), (1.0, "a"), (2.0, "b1"), (2.0, "b2"), (9.0, "late")]:
        clock.call_at(when, lambda name=name: fired.append((name, clock.monotonic())))

    clock.step(5.0)

    assert [("a", 1.0), ("b1", 2.0), ("b2", 2.0), ("c", 3.0)] == fired
    assert 5.0 == clock.monotonic()
    assert 1 == clock.pending
    assert 9.0 == clock.next_deadline()


def test_cancelled_timer_never_fires_and_callbacks_can_chain():
    clock = FakeClock(start=0.0)
    fired = []
    clock.call_at(1.0, lambda: fired.append("cancelled")).cancel()
    clock.call_at(1.0, lambda: clock.call_at(clock.monotonic() + 1.0, lambda: fired.append("chained")))

    clock.step(2.0)

    assert ["chained"] == fired
    assert 0 == clock.pending


def test_past_deadline_fires_on_the_next_step_and_time_never_goes_back():
    clock = FakeClock(start=10.0)
    fired = []
    clock.call_at(5.0, lambda: fired.append(clock.monotonic()))

    clock.step(0)

    assert [10.0] == fired
    with pytest.raises(ValueError, match="backwards"):
        clock.step(-1)


def test_now_follows_steps():
    wall = datetime(2026, 3, 1, 12, tzinfo=UTC)
    clock = FakeClock(wall=wall)

    clock.step(90.5)

    assert wall + timedelta(seconds=90.5) == clock.now()
    with pytest.raises(ValueError, match="aware"):
        FakeClock(wall=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


async def test_sleep_completes_when_stepped_past():
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(2.0))
    await until(lambda: clock.pending)

    clock.step(1.999)
    await asyncio.sleep(0)
    assert not sleeper.done()

    clock.step(0.001)
    await asyncio.wait_for(sleeper, 5)
    await clock.sleep(0)


async def test_cancelled_sleep_cancels_its_timer():
    clock = FakeClock()
    sleeper = asyncio.create_task(clock.sleep(2.0))
    await until(lambda: clock.pending)

    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)

    assert 0 == clock.pending


async def test_real_clock_uses_the_loop():
    clock = RealClock()
    loop = asyncio.get_running_loop()
    fired = loop.create_future()

    clock.call_at(clock.monotonic(), lambda: fired.set_result(loop.time()))
    at = await asyncio.wait_for(fired, 5)

    assert clock.monotonic() >= at
    assert UTC == clock.now().tzinfo
    await clock.sleep(0)
