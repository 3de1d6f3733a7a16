"""The controller: outcome policy, per-key exclusion across workers, crash survival, stop, log context.

Assertions are on queue state and metric values, never on which methods were called.
"""

import asyncio
import contextlib
import io
import json
import logging

import pytest
import structlog

from choreo_controller import logs
from choreo_controller.contracts import Conflict, ObjectKey, Result, TerminalError
from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.controller import Controller
from choreo_controller.runtime.queue import RateLimitingQueue
from choreo_controller.runtime.ratelimit import default_controller_rate_limiter

A = ObjectKey("ns", "a")
B = ObjectKey("ns", "b")


async def until(predicate):
    """Yield to the loop until ``predicate()`` holds; fail after 5 s."""
    async with asyncio.timeout(5):
        while True:
            if predicate():
                return
            await asyncio.sleep(0)


class Scripted:
    """Runs ``script(key)`` per reconcile; records runs and overlapping runs of one key."""

    def __init__(self, script=None):
        self.script = script or (lambda _key: Result())
        self.runs: list[ObjectKey] = []
        self.active: set[ObjectKey] = set()
        self.overlaps = 0
        self.max_parallel = 0

    async def reconcile(self, key):
        if key in self.active:
            self.overlaps += 1
        self.active.add(key)
        self.max_parallel = max(self.max_parallel, len(self.active))
        self.runs.append(key)
        try:
            outcome = self.script(key)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        finally:
            self.active.discard(key)


class Rig:
    def __init__(self, script=None, workers=1):
        self.clock = FakeClock()
        self.metrics = Metrics(process_collectors=False)
        self.queue = RateLimitingQueue(
            "things", self.clock, default_controller_rate_limiter(self.clock), metrics=self.metrics.workqueue
        )
        self.reconciler = Scripted(script)
        self.controller = Controller(
            "things", self.reconciler, self.queue, clock=self.clock, workers=workers, metrics=self.metrics
        )

    def value(self, name, **labels):
        return self.metrics.registry.get_sample_value(name, {"controller": "things", **labels})

    def total(self, result):
        return self.value("controller_runtime_reconcile_total", result=result)

    def settled(self):
        return sum(self.total(r) or 0 for r in ("success", "error", "requeue_after", "requeue"))

    @contextlib.asynccontextmanager
    async def running(self):
        task = asyncio.create_task(self.controller.run())
        try:
            yield
        finally:
            await self.controller.stop()
            await task

    async def started_busy(self):
        """The controller running, reconciling A, with B queued behind it; returns ``run()``'s task."""
        task = asyncio.create_task(self.controller.run())
        self.queue.add(A)
        await until(lambda: A in self.reconciler.active)
        self.queue.add(B)
        return task


@pytest.mark.parametrize(
    ("outcome", "result", "requeues", "delay", "errors", "terminal", "panics"),
    [
        pytest.param(Result(), "success", 0, None, 0, 0, 0, id="success-forgets"),
        pytest.param(Result(requeue_after=0), "success", 0, None, 0, 0, 0, id="zero-requeue-is-success"),
        pytest.param(Result(requeue_after=30), "requeue_after", 0, 30.0, 0, 0, 0, id="requeue-after"),
        pytest.param(Conflict("stale"), "error", 3, 0.02, 1, 0, 0, id="api-error-backs-off"),
        pytest.param(KeyError("bug"), "error", 3, 0.02, 1, 0, 1, id="bug-backs-off-counts-panic"),
        pytest.param(TerminalError("Bad", "no"), "error", 0, None, 1, 1, 0, id="terminal-forgets"),
        pytest.param(None, "error", 3, 0.02, 1, 0, 1, id="not-a-result-is-a-bug"),
    ],
)
async def test_outcome_policy(outcome, result, requeues, delay, errors, terminal, panics):
    rig = Rig(lambda _key: outcome)
    rig.queue._limiter.when(A)  # two earlier failures: the next backoff is 20 ms
    rig.queue._limiter.when(A)

    async with rig.running():
        rig.queue.add(A)
        await until(lambda: 1 == rig.settled())

        assert 1 == rig.total(result)
        assert requeues == rig.queue.num_requeues(A)
        actual_delay = (
            None if rig.clock.next_deadline() is None else rig.clock.next_deadline() - rig.clock.monotonic()
        )
        assert delay == (None if actual_delay is None else pytest.approx(actual_delay))
        assert errors == rig.value("controller_runtime_reconcile_errors_total")
        assert terminal == rig.value("controller_runtime_terminal_reconcile_errors_total")
        assert panics == rig.value("controller_runtime_reconcile_panics_total")
        assert 1 == rig.value("controller_runtime_reconcile_time_seconds_count")
        assert 0 == len(rig.queue)


async def test_failed_key_comes_back_after_backoff_and_worker_survives():
    calls = {A: 0}

    def script(key):
        if key == A:
            calls[A] += 1
            if calls[A] < 3:
                raise RuntimeError("boom")
        return Result()

    rig = Rig(script)
    async with rig.running():
        rig.queue.add(A)
        rig.queue.add(B)
        await until(lambda: 2 == rig.settled())
        rig.clock.step(0.005)
        await until(lambda: 3 == rig.settled())
        rig.clock.step(0.010)
        await until(lambda: 4 == rig.settled())

        assert [A, B, A, A] == rig.reconciler.runs
        assert (2, 2) == (rig.total("error"), rig.total("success"))
        assert 0 == rig.queue.num_requeues(A)
        assert None is rig.clock.next_deadline()


async def test_a_failure_in_the_policy_itself_does_not_kill_the_worker():
    class BrokenLimiter:
        def when(self, _key):
            raise RuntimeError("limiter bug")

        def forget(self, key):
            pass

        def num_requeues(self, _key):
            return 0

    rig = Rig(lambda key: Conflict("stale") if key == A else Result())
    rig.queue._limiter = BrokenLimiter()
    async with rig.running():
        rig.queue.add(A)
        rig.queue.add(B)
        await until(lambda: 1 == rig.total("success"))

        assert [A, B] == rig.reconciler.runs
        assert 10.0 == rig.clock.next_deadline() - rig.clock.monotonic()
        rig.clock.step(10)
        await until(lambda: 3 == len(rig.reconciler.runs))


async def test_many_workers_never_process_one_key_twice():
    async def script(key):
        for _ in range(1 + int(key.name[1:]) % 4):
            await asyncio.sleep(0)
        return Result()

    rig = Rig(script, workers=8)
    keys = [ObjectKey("ns", f"k{i}") for i in range(5)]
    async with rig.running():
        for i in range(500):
            rig.queue.add(keys[i % 5])
            if i % 3 == 0:
                await asyncio.sleep(0)
        await until(lambda: 0 == len(rig.queue) and not rig.queue._processing)

        assert 0 == rig.reconciler.overlaps
        assert rig.reconciler.max_parallel > 1
        assert set(keys) == set(rig.reconciler.runs)


async def test_adds_during_a_reconcile_yield_exactly_one_more_run():
    release = asyncio.Event()

    async def script(key):
        if len(rig.reconciler.runs) == 1:
            await release.wait()
        return Result()

    rig = Rig(script, workers=4)
    async with rig.running():
        rig.queue.add(A)
        await until(lambda: A in rig.reconciler.active)
        for _ in range(5):
            rig.queue.add(A)
        release.set()
        await until(lambda: 2 == rig.settled())
        for _ in range(20):
            await asyncio.sleep(0)

        assert [A, A] == rig.reconciler.runs
        assert 2 == rig.settled()


async def test_reconcile_time_and_worker_gauges():
    async def script(key):
        await rig.clock.sleep(0.3)
        return Result()

    rig = Rig(script, workers=3)
    async with rig.running():
        rig.queue.add(A)
        await until(lambda: 1 == rig.clock.pending)

        assert 3 == rig.value("controller_runtime_max_concurrent_reconciles")
        assert 1 == rig.value("controller_runtime_active_workers")

        rig.clock.step(0.3)
        await until(lambda: 1 == rig.settled())

        assert 0 == rig.value("controller_runtime_active_workers")
        assert pytest.approx(0.3) == rig.value("controller_runtime_reconcile_time_seconds_sum")
        assert 0 == rig.value("controller_runtime_reconcile_time_seconds_bucket", le="0.25")
        assert 1 == rig.value("controller_runtime_reconcile_time_seconds_bucket", le="0.3")


async def test_stop_lets_in_flight_reconciles_finish_and_starts_nothing_new():
    release = asyncio.Event()

    async def script(key):
        await release.wait()
        return Result()

    rig = Rig(script)
    task = await rig.started_busy()

    stopping = asyncio.create_task(rig.controller.stop())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not stopping.done()

    release.set()
    await asyncio.wait_for(stopping, 5)
    await asyncio.wait_for(task, 5)

    assert [A] == rig.reconciler.runs
    assert 1 == rig.total("success")
    assert not rig.queue._processing


async def test_queue_shutdown_drains_queued_keys_then_run_returns():
    rig = Rig()
    task = asyncio.create_task(rig.controller.run())
    rig.queue.add(A)
    rig.queue.add(B)

    rig.queue.shutdown()
    await asyncio.wait_for(task, 5)

    assert [A, B] == rig.reconciler.runs


async def test_cancelling_run_cancels_reconciles_and_releases_keys():
    async def script(key):
        await asyncio.Event().wait()

    rig = Rig(script)
    task = asyncio.create_task(rig.controller.run())
    rig.queue.add(A)
    await until(lambda: A in rig.reconciler.active)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not rig.queue._processing
    assert 0 == rig.value("controller_runtime_active_workers")
    assert 0 == rig.settled()


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    logs.configure("DEBUG", stream=stream, cache_loggers=False)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, logs._OurHandler)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        structlog.reset_defaults()


async def test_reconcile_id_is_bound_per_reconcile(log_lines):
    def script(key):
        structlog.get_logger("test").info("inside", token="s3cr3t")
        if key == B:
            raise Conflict("stale")
        return Result()

    rig = Rig(script)
    async with rig.running():
        rig.queue.add(A)
        rig.queue.add(B)
        await until(lambda: 2 == rig.settled())
    structlog.get_logger("test").info("after")

    lines = log_lines()
    inside = [line for line in lines if line["event"] == "inside"]
    failed = next(line for line in lines if line["event"] == "reconcile failed")
    after = next(line for line in lines if line["event"] == "after")

    assert ["ns/a", "ns/b"] == [line["key"] for line in inside]
    assert {"things"} == {line["controller"] for line in inside}
    assert all(16 == len(line["reconcile_id"]) for line in inside)
    assert inside[0]["reconcile_id"] != inside[1]["reconcile_id"]
    assert inside[1]["reconcile_id"] == failed["reconcile_id"]
    assert {"key": "ns/b", "error": "Conflict", "retries": 1} == {
        k: failed[k] for k in ("key", "error", "retries")
    }
    assert "[REDACTED]" == inside[0]["token"]
    assert "reconcile_id" not in after
    assert "s3cr3t" not in json.dumps(lines)


async def test_crash_is_logged_with_traceback(log_lines):
    rig = Rig(lambda _key: ZeroDivisionError("oops"))
    async with rig.running():
        rig.queue.add(A)
        await until(lambda: 1 == rig.settled())

    crashed = next(line for line in log_lines() if line["event"] == "reconcile crashed")

    assert "ns/a" == crashed["key"]
    assert "ZeroDivisionError: oops" in crashed["exception"]
    assert "error" == crashed["level"]


def test_controller_needs_a_worker():
    rig = Rig()
    with pytest.raises(ValueError, match="at least one worker"):
        Controller("x", rig.reconciler, rig.queue, clock=rig.clock, workers=0)


@pytest.mark.parametrize(("level", "expected"), [("DEBUG", ["ns/a", "ns/b"]), ("INFO", [])])
async def test_each_settled_reconcile_is_logged_at_debug_only(log_lines, level, expected):
    rig = Rig(lambda key: Result(requeue_after=30.0) if key == B else Result())
    logging.getLogger().setLevel(level)
    async with rig.running():
        rig.queue.add(A)
        rig.queue.add(B)
        await until(lambda: 2 == rig.settled())

    assert expected == sorted(line["key"] for line in log_lines() if line["event"] == "reconciled")


@pytest.mark.parametrize("workers", [1, 4])
async def test_reconciles_that_never_wait_still_let_other_tasks_run(workers):
    # A cold start settles thousands of finished runs whose reconciles await nothing that suspends: the
    # Lease renewal, the probes and /metrics must still get the loop between them, not after the last.
    rig = Rig(workers=workers)
    keys = [ObjectKey("ns", f"k{i}") for i in range(200)]
    seen: list[int] = []

    async def bystander():
        while True:
            seen.append(rig.settled())
            await asyncio.sleep(0)

    for key in keys:
        rig.queue.add(key)
    task = asyncio.create_task(bystander())
    try:
        async with rig.running():
            await until(lambda: len(keys) == rig.settled())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert any(0 < settled < len(keys) for settled in seen), "the loop was held for the whole drain"


async def test_a_cancel_swallowed_by_a_reconcile_still_stops_the_worker():
    # Python 3.11's ``wait_for`` returns its future's result when the cancel lands as that future
    # completes (a relayed response arriving as leadership is lost): the reconcile returns normally. The
    # worker must not take another key after it - the TaskGroup cancels each task once, and a leader that
    # lost its Lease would go on writing (seen: a starved controller reconciling for minutes after).
    answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
    swallowed = []

    async def script(key):
        if key == A:
            try:
                return await asyncio.shield(answer)
            except asyncio.CancelledError:
                swallowed.append(key)
                return answer.result()  # what 3.11's wait_for does when the future is done by then
        return Result()

    rig = Rig(script)
    task = await rig.started_busy()
    answer.set_result(Result())
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    rig.queue.shutdown()  # ends a worker that went on after the cancel (the old code's), for the asserts
    with pytest.raises(asyncio.CancelledError):
        await task

    assert task in done, "a worker went on taking keys after the hard stop"
    assert [A] == swallowed
    assert [A] == rig.reconciler.runs  # B was never reconciled
    assert not rig.queue._processing
