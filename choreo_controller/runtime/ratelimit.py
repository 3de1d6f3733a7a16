"""Rate limiters for retries, as client-go's ``util/workqueue/default_rate_limiters.go``.

A limiter answers "how long should this key wait before its next retry?" (``when``), and keeps whatever
state that needs. ``when`` is called once per retry and *records* it; ``forget`` says the key succeeded
(its history is dropped); ``num_requeues`` reports the history. Delays are seconds (floats).

* ``ItemExponentialFailure``: ``base * 2**failures``, capped at ``max_delay``; the failure count is per key.
  Overflow-safe: an absurd failure count yields ``max_delay``, never an ``OverflowError`` or ``inf``.
* ``Bucket``: one token bucket shared by all keys (golang.org/x/time/rate ``Reserve().Delay()``). Every
  ``when`` takes a token *reservation*, so tokens can go negative and later callers wait longer: the overall
  retry rate is bounded, whatever the per-key delays. Starts full.
* ``MaxOf``: asks every limiter (each records the attempt) and returns the longest delay.
* ``default_controller_rate_limiter``: ``MaxOf(ItemExponentialFailure(5 ms, 1000 s), Bucket(10/s, 100))``,
  client-go's ``DefaultControllerRateLimiter``: 5, 10, 20, 40 ms ... per key, and never more than 10
  retries per second overall after a burst of 100.

Time comes from the injected ``Clock``; limiters do no IO and never await.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Hashable

    from choreo_controller.contracts import Clock

# 2.0**1024 overflows a float; past this exponent every sane base is beyond every sane cap anyway.
_MAX_EXPONENT = 1023


class RateLimiter(Protocol):
    """client-go's ``TypedRateLimiter``."""

    def when(self, key: Hashable) -> float:
        """Seconds to wait before retrying ``key``; records the retry."""
        ...

    def forget(self, key: Hashable) -> None:
        """Drop ``key``'s retry history (it succeeded, or we gave up on it)."""
        ...

    def num_requeues(self, key: Hashable) -> int:
        """How many times ``key`` has been retried since it was last forgotten."""
        ...


class ItemExponentialFailure:
    """Per-key exponential backoff: ``base``, ``2*base``, ``4*base`` ... capped at ``max_delay``."""

    def __init__(self, base: float, max_delay: float) -> None:
        if base < 0 or max_delay < 0:
            raise ValueError("delays must not be negative")
        self._base = base
        self._max = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """``base * 2**n`` where n is the number of earlier failures of ``key``; capped; overflow-safe."""
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        if exp > _MAX_EXPONENT:
            return self._max
        return min(self._base * 2.0**exp, self._max)

    def forget(self, key: Hashable) -> None:
        """Reset ``key`` to the base delay."""
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        """Failures recorded for ``key``."""
        return self._failures.get(key, 0)


class Bucket:
    """An overall token bucket: ``rate`` tokens per second, at most ``burst`` banked. Not per key."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last: float | None = None  # first use sees a full bucket, as x/time/rate's zero Limiter

    def when(self, key: Hashable) -> float:  # noqa: ARG002 - the bucket is shared by all keys
        """Reserve one token; the delay until it is ours (0 while tokens remain)."""
        now = self._clock.monotonic()
        if self._last is not None:
            elapsed = max(0.0, now - self._last)
            self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def forget(self, key: Hashable) -> None:
        """No-op: reservations are not per key."""

    def num_requeues(self, key: Hashable) -> int:  # noqa: ARG002 - interface
        """Always 0: the bucket keeps no per-key history."""
        return 0


class MaxOf:
    """The slowest answer of several limiters; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOf needs at least one limiter")
        self._limiters = limiters

    def when(self, key: Hashable) -> float:
        """Ask all (so all record the retry) and return the maximum."""
        return max([limiter.when(key) for limiter in self._limiters])

    def forget(self, key: Hashable) -> None:
        """Forget in all."""
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        """The maximum over all."""
        return max(limiter.num_requeues(key) for limiter in self._limiters)


def default_controller_rate_limiter(clock: Clock) -> MaxOf:
    """client-go's ``DefaultControllerRateLimiter``: 5 ms -> 1000 s per key, 10/s burst 100 overall."""
    return MaxOf(ItemExponentialFailure(0.005, 1000.0), Bucket(10.0, 100, clock))
