"""Reconnect backoff: jittered, exponential, capped, resettable.

Used wherever a long-lived stream (an informer's watch, the leader elector's lease watch) must come back
after the server went away. client-go's reflector uses 800 ms doubling to 30 s; we do the same, with
"equal jitter" (each delay is uniform in ``[d/2, d]``) so that a fleet of watchers reconnecting to a
restarted apiserver spreads out instead of arriving in lock-step, while never waiting longer than ``cap``.

The caller says when things are healthy again (``reset``); the next failure then starts from ``initial``.
Randomness is injectable for tests; nothing here sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """``next()`` gives the next delay in seconds; ``reset()`` starts over."""

    initial: float = 0.8
    cap: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)  # jitter, not cryptography
    _attempt: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial or self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("want 0 < initial <= cap, factor >= 1, 0 <= jitter <= 1")

    @property
    def attempts(self) -> int:
        """Failures since the last reset."""
        return self._attempt

    def next(self) -> float:
        """The delay before the next attempt; grows with each call until ``reset``."""
        exponent = min(self._attempt, 64)  # far past any cap; avoids float overflow
        self._attempt += 1
        delay = min(self.cap, self.initial * self.factor**exponent)
        return delay * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """Healthy again: the next failure waits ``initial`` (jittered)."""
        self._attempt = 0
