"""What a reconcile returns, and the one exception that means "do not retry".

The outcome policy lives in exactly one place (``runtime.controller``):

* ``Result()``                -> success, the key's backoff is forgotten;
* ``Result(requeue_after=s)`` -> forget the backoff and come back in ``s`` seconds;
* raise ``TerminalError``     -> recorded, not retried until an event enqueues the key again;
* raise anything else         -> rate-limited retry (5 ms doubling to 1000 s).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Result:
    """Outcome of one successful reconcile."""

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError("requeue_after must not be negative")

    @staticmethod
    def sooner(*results: Result) -> Result:
        """Combine results: the earliest requested requeue wins."""
        delays = [r.requeue_after for r in results if r.requeue_after is not None]
        return Result(min(delays)) if delays else Result()


class TerminalError(Exception):
    """A permanent failure: retrying cannot help until an input changes.

    ``reason`` is a CamelCase condition reason, ``message`` is safe to show to users (no secrets).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
