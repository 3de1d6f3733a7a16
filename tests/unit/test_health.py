"""The event-loop lag probe, driven by a FakeClock: a late wake-up is lag, a probe that cannot run is too."""

import asyncio

import pytest

from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.health import LoopLagMonitor


async def until(predicate):
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


@pytest.fixture
async def monitor():
    clock = FakeClock()
    metrics = Metrics(process_collectors=False)
    lag = LoopLagMonitor(clock, metrics, interval=0.25, bound=5.0)
    task = asyncio.create_task(lag.run())
    await until(lambda: clock.pending)
    yield clock, metrics, lag
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_punctual_loop_is_healthy(monitor):
    clock, metrics, lag = monitor
    for _ in range(4):
        clock.step(0.25)
        await until(lambda: clock.pending)

    assert ([], 0.0) == (lag.problems(), lag.lag)
    assert 4 == metrics.registry.get_sample_value("choreo_event_loop_lag_seconds_count")


async def test_a_late_probe_is_lag_and_a_stalled_one_is_overdue(monitor):
    clock, metrics, lag = monitor

    clock.step(6.0)  # the timer is due, but the probe has not run yet: the loop looks stalled
    stalled = lag.problems()
    await until(lambda: clock.pending)  # the probe ran 5.75 s late
    late = lag.problems()
    clock.step(0.25)
    await until(lambda: lag.lag == 0.0)

    assert ["event loop lag 5.8s exceeds 5s"] == stalled == late
    assert [] == lag.problems()
    assert 1 == metrics.registry.get_sample_value("choreo_event_loop_lag_seconds_bucket", {"le": "+Inf"}) - (
        metrics.registry.get_sample_value("choreo_event_loop_lag_seconds_bucket", {"le": "5.0"})
    )


def test_a_monitor_that_never_ran_reports_nothing():
    lag = LoopLagMonitor(FakeClock(), Metrics(process_collectors=False))
    assert [] == lag.problems()
