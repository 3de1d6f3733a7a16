"""client-go default_rate_limiters_test.go behaviours, on a fake clock."""

import math

import pytest

from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.ratelimit import (
    Bucket,
    ItemExponentialFailure,
    MaxOf,
    default_controller_rate_limiter,
)


def test_exponential_sequence_doubles_from_base():
    limiter = ItemExponentialFailure(0.005, 1000.0)

    actual = [limiter.when("one") for _ in range(5)]

    assert [0.005, 0.010, 0.020, 0.040, 0.080] == pytest.approx(actual)
    assert 5 == limiter.num_requeues("one")


def test_exponential_keys_are_independent_and_forget_resets():
    limiter = ItemExponentialFailure(0.001, 1.0)
    limiter.when("one")
    limiter.when("one")

    assert 0.001 == limiter.when("two")
    assert 0.004 == pytest.approx(limiter.when("one"))

    limiter.forget("one")

    assert 0 == limiter.num_requeues("one")
    assert 0.001 == limiter.when("one")
    assert (1, 1) == (limiter.num_requeues("one"), limiter.num_requeues("two"))


@pytest.mark.parametrize(
    ("base", "cap", "failures", "expected"),
    [
        pytest.param(0.005, 1000.0, 17, 655.36, id="18th-retry-655s-last-below-cap"),
        pytest.param(0.005, 1000.0, 18, 1000.0, id="19th-retry-capped"),
        pytest.param(0.005, 1000.0, 64, 1000.0, id="int64-range-capped"),
        pytest.param(0.005, 1000.0, 5000, 1000.0, id="float-overflow-capped"),
        pytest.param(1.0, 10.0, 4, 10.0, id="small-cap"),
    ],
)
def test_exponential_cap_and_overflow(base, cap, failures, expected):
    limiter = ItemExponentialFailure(base, cap)
    limiter._failures["k"] = failures

    actual = limiter.when("k")

    assert expected == pytest.approx(actual)
    assert math.isfinite(actual)
    assert failures + 1 == limiter.num_requeues("k")


def test_bucket_burst_then_spacing():
    clock = FakeClock()
    bucket = Bucket(10.0, 100, clock)

    burst = [bucket.when(f"k{i}") for i in range(100)]
    after = [bucket.when(f"x{i}") for i in range(3)]

    assert [0.0] * 100 == burst
    assert [0.1, 0.2, 0.3] == pytest.approx(after)
    assert 0 == bucket.num_requeues("k1")


def test_bucket_refills_with_time_up_to_burst():
    clock = FakeClock()
    bucket = Bucket(10.0, 100, clock)
    for _ in range(101):
        bucket.when("k")  # tokens: -1

    clock.step(0.3)  # +3 tokens -> 2

    assert [0.0, 0.0, 0.1] == pytest.approx([bucket.when("k") for _ in range(3)])

    clock.step(3600)  # refills to the burst, never beyond

    assert [0.0] * 100 + [0.1] == pytest.approx([bucket.when("k") for _ in range(101)])


def test_max_of_returns_max_and_every_limiter_records():
    slow = ItemExponentialFailure(1.0, 100.0)
    fast = ItemExponentialFailure(0.001, 100.0)
    limiter = MaxOf(fast, slow)

    actual = [limiter.when("k") for _ in range(3)]

    assert [1.0, 2.0, 4.0] == actual
    assert 3 == fast.num_requeues("k")
    assert 3 == slow.num_requeues("k")
    assert 3 == limiter.num_requeues("k")

    limiter.forget("k")

    assert (0, 0) == (fast.num_requeues("k"), slow.num_requeues("k"))


def test_default_limiter_per_key_backoff_and_overall_bucket():
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)

    first = [limiter.when("one") for _ in range(4)]
    # 96 more distinct keys use up the burst of 100; the next first failure waits for the bucket.
    for i in range(96):
        limiter.when(f"other-{i}")
    throttled = limiter.when("fresh")

    assert [0.005, 0.01, 0.02, 0.04] == pytest.approx(first)
    assert 0.1 == pytest.approx(throttled)
    assert 4 == limiter.num_requeues("one")
    assert 1 == limiter.num_requeues("fresh")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: ItemExponentialFailure(-1, 1), "negative", id="negative-base"),
        pytest.param(lambda: Bucket(0, 1, FakeClock()), "positive", id="zero-rate"),
        pytest.param(lambda: Bucket(1, 0, FakeClock()), "burst", id="zero-burst"),
        pytest.param(MaxOf, "at least one", id="empty-max-of"),
    ],
)
def test_limiters_reject_bad_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()
