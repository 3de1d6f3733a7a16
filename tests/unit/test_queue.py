"""client-go workqueue behaviours (queue_test.go, delaying_queue_test.go, rate_limiting_queue_test.go).

Time is a FakeClock; the only waiting is yielding to the loop until a condition holds, under a deadline.
"""

import asyncio

import pytest

from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.queue import DelayingQueue, RateLimitingQueue, WorkQueue
from choreo_controller.runtime.ratelimit import ItemExponentialFailure, default_controller_rate_limiter


async def until(predicate):
    """Yield to the loop until ``predicate()`` holds; fail after 5 s."""
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


async def drain(queue):
    """Get (and finish) everything queued right now, in order."""
    keys = []
    while len(queue):
        key, shutdown = await queue.get()
        assert not shutdown
        keys.append(key)
        queue.done(key)
    return keys


@pytest.fixture
def clock():
    return FakeClock()


async def test_add_dedups_while_queued(clock):
    queue = WorkQueue("q", clock)
    for key in ["a", "b", "a", "c", "b", "a"]:
        queue.add(key)

    assert 3 == len(queue)
    assert ["a", "b", "c"] == await drain(queue)


async def test_add_while_processing_yields_exactly_one_more_run(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    key, _ = await queue.get()

    for _ in range(3):
        queue.add("a")

    assert 0 == len(queue)  # not queued while a worker holds it
    queue.done(key)
    assert 1 == len(queue)
    assert ["a"] == await drain(queue)
    assert 0 == len(queue)


async def test_urgent_keys_are_handed_out_first_in_their_own_order(clock):
    queue = WorkQueue("q", clock)
    for key in ["a", "b", "c"]:
        queue.add(key)
    queue.add("x", urgent=True)
    queue.add("y", urgent=True)

    assert 5 == len(queue)
    assert ["x", "y", "a", "b", "c"] == await drain(queue)


async def test_an_urgent_add_moves_a_waiting_key_and_keeps_it_once(clock):
    queue = WorkQueue("q", clock)
    for key in ["a", "b", "c"]:
        queue.add(key)

    queue.add("c", urgent=True)
    queue.add("c", urgent=True)
    queue.add("c")  # a later normal add does not demote it

    assert 3 == len(queue)
    assert ["c", "a", "b"] == await drain(queue)


async def test_an_urgent_add_while_processing_makes_the_one_next_run_urgent(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    key, _ = await queue.get()
    queue.add("b")
    queue.add("a")
    queue.add("a", urgent=True)

    assert 1 == len(queue)  # "a" is not queued while a worker holds it
    queue.done(key)
    assert ["a", "b"] == await drain(queue)
    queue.add("a")  # the urgency was for that one run only
    queue.add("c")
    queue.add("d", urgent=True)
    assert ["d", "a", "c"] == await drain(queue)


async def test_an_urgent_key_is_never_handed_to_two_consumers(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    first, _ = await queue.get()
    second = asyncio.create_task(queue.get())

    queue.add("a", urgent=True)
    for _ in range(10):
        await asyncio.sleep(0)
    assert not second.done()

    queue.done(first)
    assert ("a", False) == await second
    queue.done("a")
    assert 0 == len(queue)


async def test_key_is_never_handed_to_two_consumers(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    first, _ = await queue.get()
    second = asyncio.create_task(queue.get())

    queue.add("a")
    for _ in range(10):
        await asyncio.sleep(0)
    assert not second.done()

    queue.done(first)
    assert ("a", False) == await second
    queue.done("a")


async def test_get_waits_for_add(clock):
    queue = WorkQueue("q", clock)
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()

    queue.add("a")

    assert ("a", False) == await getter
    queue.done("a")


async def test_cancelled_getter_passes_its_wakeup_on(clock):
    queue = WorkQueue("q", clock)
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await until(lambda: 2 == len(queue._getters))

    queue.add("a")  # wakes `first` ...
    first.cancel()  # ... which leaves before taking it
    await asyncio.gather(first, return_exceptions=True)

    assert ("a", False) == await asyncio.wait_for(second, 5)
    queue.done("a")


async def test_shutdown_ignores_adds_but_drains_queued(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    queue.add("b")

    queue.shutdown()
    queue.add("c")

    assert queue.shutting_down
    assert ("a", False) == await queue.get()
    assert ("b", False) == await queue.get()
    assert (None, True) == await queue.get()


async def test_shutdown_wakes_every_waiting_consumer(clock):
    queue = WorkQueue("q", clock)
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await until(lambda: 3 == len(queue._getters))

    queue.shutdown()

    assert [(None, True)] * 3 == await asyncio.gather(*getters)


async def test_add_while_processing_then_shutdown_still_requeues_on_done(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    await queue.get()
    queue.add("a")  # dirty before the shutdown

    queue.shutdown()
    queue.done("a")

    assert ("a", False) == await queue.get()
    queue.done("a")
    assert (None, True) == await queue.get()


async def test_shutdown_with_drain_waits_for_processing(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    await queue.get()
    drainer = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0)

    queue.add("b")
    assert not drainer.done()
    assert 0 == len(queue)

    queue.done("a")
    await asyncio.wait_for(drainer, 5)
    assert (None, True) == await queue.get()


async def test_shutdown_forces_a_pending_drain(clock):
    queue = WorkQueue("q", clock)
    queue.add("a")
    await queue.get()
    drainer = asyncio.create_task(queue.shutdown_with_drain())
    await asyncio.sleep(0)
    assert not drainer.done()

    queue.shutdown()

    await asyncio.wait_for(drainer, 5)
    assert ["a"] == sorted(queue._processing)


async def test_shutdown_with_drain_returns_at_once_when_idle(clock):
    queue = WorkQueue("q", clock)

    await asyncio.wait_for(queue.shutdown_with_drain(), 5)

    assert queue.shutting_down


async def test_add_after_fires_at_deadline(clock):
    queue = DelayingQueue("q", clock)

    queue.add_after("a", 0.05)
    clock.step(0.049)
    assert 0 == len(queue)

    clock.step(0.001)
    assert 1 == len(queue)
    assert 0 == queue.waiting


@pytest.mark.parametrize(
    ("delays", "fires_at"),
    [
        pytest.param([10.0, 5.0], 5.0, id="earlier-replaces"),
        pytest.param([5.0, 10.0], 5.0, id="later-ignored"),
        pytest.param([5.0, 5.0], 5.0, id="same-kept"),
        pytest.param([10.0, 1.0, 7.0], 1.0, id="earliest-wins"),
    ],
)
async def test_add_after_only_moves_earlier(clock, delays, fires_at):
    queue = DelayingQueue("q", clock)
    for delay in delays:
        queue.add_after("a", delay)

    clock.step(fires_at - 0.001)
    assert 0 == len(queue)
    clock.step(0.001)
    assert ["a"] == await drain(queue)

    clock.step(100)  # the replaced or ignored deadlines never fire
    assert 0 == len(queue)
    assert 0 == clock.pending


async def test_add_after_nonpositive_adds_now(clock):
    queue = DelayingQueue("q", clock)

    queue.add_after("a", 0)
    queue.add_after("b", -1)

    assert ["a", "b"] == await drain(queue)
    assert 0 == clock.pending


async def test_add_after_dedups_with_queued_and_wakes_waiter(clock):
    queue = DelayingQueue("q", clock)
    queue.add("a")
    queue.add_after("a", 1)
    queue.add_after("b", 2)

    clock.step(1)
    assert 1 == len(queue)
    assert ["a"] == await drain(queue)

    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    clock.step(1)
    assert ("b", False) == await getter
    queue.done("b")


async def test_shutdown_drops_delayed_and_ignores_add_after(clock):
    queue = DelayingQueue("q", clock)
    queue.add_after("a", 1)

    queue.shutdown()
    queue.add_after("b", 1)
    queue.add_after("c", 0)
    clock.step(10)

    assert 0 == len(queue)
    assert 0 == clock.pending
    assert (None, True) == await queue.get()


async def test_rate_limited_backoff_forget_and_requeues(clock):
    queue = RateLimitingQueue("q", clock, default_controller_rate_limiter(clock))
    arrivals = []
    for expected_delay in [0.005, 0.010, 0.020, 0.040]:
        queue.add_rate_limited("a")
        start = clock.monotonic()
        clock.step(clock.next_deadline() - start)
        arrivals.append(round(clock.monotonic() - start, 6))
        assert ["a"] == await drain(queue)
        assert expected_delay == pytest.approx(arrivals[-1])

    assert 4 == queue.num_requeues("a")
    queue.forget("a")
    assert 0 == queue.num_requeues("a")
    queue.add_rate_limited("a")
    assert 0.005 == pytest.approx(clock.next_deadline() - clock.monotonic())
    queue.shutdown()


async def test_rate_limited_while_queued_dedups(clock):
    queue = RateLimitingQueue("q", clock, ItemExponentialFailure(1.0, 60.0))
    queue.add("a")

    queue.add_rate_limited("a")
    clock.step(1)

    assert ["a"] == await drain(queue)
    assert 1 == queue.num_requeues("a")


def sample(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, {"name": "q", "controller": "q", **labels})


async def test_queue_metrics_follow_client_go(clock):
    metrics = Metrics(process_collectors=False)
    queue = RateLimitingQueue("q", clock, ItemExponentialFailure(1.0, 60.0), metrics=metrics.workqueue)
    queue.add("a")
    queue.add("a")  # dedup: not counted
    queue.add("b")
    assert 2 == sample(metrics, "workqueue_depth", priority="")

    clock.step(2)
    await queue.get()  # a waited 2 s
    clock.step(3)
    await queue.get()  # b waited 5 s
    clock.step(1)  # a has run 4 s, b 1 s

    assert 2 == sample(metrics, "workqueue_adds_total")
    assert 0 == sample(metrics, "workqueue_depth", priority="")
    assert 5 == sample(metrics, "workqueue_unfinished_work_seconds")
    assert 4 == sample(metrics, "workqueue_longest_running_processor_seconds")

    queue.done("a")
    queue.done("b")
    queue.add_rate_limited("a")  # a retry, delayed 1 s
    queue.add_after("b", 0)  # a retry too, added now

    assert 2 == sample(metrics, "workqueue_retries_total")
    assert 3 == sample(metrics, "workqueue_adds_total")
    assert 1 == sample(metrics, "workqueue_depth", priority="")
    assert 2 == sample(metrics, "workqueue_queue_duration_seconds_count")
    assert 7 == sample(metrics, "workqueue_queue_duration_seconds_sum")
    assert 0 == sample(metrics, "workqueue_queue_duration_seconds_bucket", le="1.0")
    assert 2 == sample(metrics, "workqueue_queue_duration_seconds_bucket", le="10.0")
    assert 5 == sample(metrics, "workqueue_work_duration_seconds_sum")
    assert 0 == sample(metrics, "workqueue_unfinished_work_seconds")
    assert 0 == sample(metrics, "workqueue_longest_running_processor_seconds")
    queue.shutdown()
