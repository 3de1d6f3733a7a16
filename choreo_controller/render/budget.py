"""Bounded CEL evaluation: a step budget per evaluation, a deadline per render, size limits per value.

celpy has no cost model, and one comprehension can run for seconds while holding the event loop. So the
interpreter is metered from the inside: ``evaluator.MeteredEvaluator`` overrides the tree walk (every AST
node visit,
including those of nested comprehension bodies, goes through ``_visit_tree``) and

* counts one step per node, plus a charge proportional to the size of every string or list it produces
  (so ``l + l`` doubling pays for its copying);
* refuses any string longer than ``MAX_STRING`` and any list/map heavier than ``MAX_WEIGHT`` (weight counts
  nested elements as often as they are reachable, so ``[a, a]`` nested 60 deep is refused long before a
  comparison or a JSON dump could expand it);
* checks the wall clock every 32 steps against the earlier of the evaluation's and the render's deadline;
* lets extension functions charge work proportional to their output *before* doing it (``charge``), so
  ``lists.range(100000)`` or a ``format`` precision of a million is refused without being built.

Limits (SPEC section 4, in the spirit of Kubernetes' per-call CEL cost limit): ``EVAL_STEPS`` (~0.1 s of
celpy on a 2-core machine), ``RENDER_STEPS`` and ``RENDER_SECONDS`` for the whole render. Exceeding any
raises ``BudgetExceeded``, which ``cel`` turns into ``RenderFailed``. ``BudgetExceeded`` derives from
``BaseException`` so nothing inside celpy (which catches ``Exception`` in places) can swallow it.

Only the step budget is a verdict on the template: the same inputs always take the same steps. Running out
of wall-clock time (``OutOfTime``) depends on the machine's load, so ``cel`` raises ``RenderTimedOut``
instead - not terminal: the caller tries again later and the run's outcome does not depend on load.
"""

from __future__ import annotations

import contextlib
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

EVAL_STEPS: Final = 10_000
RENDER_STEPS: Final = 200_000
EVAL_SECONDS: Final = 0.5
RENDER_SECONDS: Final = 1.0
MAX_STRING: Final = 1 << 20
MAX_WEIGHT: Final = 200_000
_MAX_NESTING: Final = 100
_CLOCK_EVERY: Final = 31  # check the clock when (steps & 31) == 0


_ACTIVE: ContextVar[Meter | None] = ContextVar("choreo_cel_meter", default=None)


def charge(steps: int) -> None:
    """Charge the evaluation in progress; extension functions call it *before* work of that size."""
    meter = _ACTIVE.get()
    if meter is not None:
        meter.charge(steps)


class BudgetExceeded(BaseException):
    """The evaluation ran out of steps or time, or built a value that is too large."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class OutOfTime(BudgetExceeded):
    """The wall clock ran out (not the steps): a matter of load, not of the template."""


class Budget:
    """The allowance of one render, shared by all its evaluations. Not thread-safe; one per render."""

    __slots__ = ("clock", "deadline", "steps_left")

    def __init__(
        self,
        *,
        steps: int = RENDER_STEPS,
        seconds: float = RENDER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.deadline = clock() + seconds
        self.steps_left = steps

    def check(self) -> None:
        """Raise ``BudgetExceeded`` when the render is out of time or steps."""
        if self.steps_left <= 0:
            raise BudgetExceeded("render step budget exhausted")
        if self.clock() > self.deadline:
            raise OutOfTime("render time budget exhausted")

    def meter(self, steps: int = EVAL_STEPS, seconds: float = EVAL_SECONDS) -> Meter:
        """The allowance of one evaluation: the smaller of its own limits and what the render has left."""
        self.check()
        own_deadline = self.clock() + seconds
        return Meter(
            self,
            limit=min(steps, self.steps_left),
            deadline=min(self.deadline, own_deadline),
            step_scope="render" if self.steps_left < steps else "evaluation",
            time_scope="render" if self.deadline < own_deadline else "evaluation",
        )


class Meter:
    """Steps and deadline of one evaluation; ``close`` hands the steps used back to the render budget."""

    __slots__ = ("budget", "deadline", "limit", "step_scope", "steps", "time_scope")

    def __init__(
        self, budget: Budget, *, limit: int, deadline: float, step_scope: str, time_scope: str
    ) -> None:
        self.budget = budget
        self.limit = limit
        self.deadline = deadline
        self.step_scope = step_scope
        self.time_scope = time_scope
        self.steps = 0
        _ACTIVE.set(self)

    def charge(self, steps: int) -> None:
        """Account ``steps``; raise ``BudgetExceeded`` when over the limit or past the deadline."""
        before = self.steps
        self.steps += steps
        if self.steps > self.limit:
            if self.step_scope == "render":
                raise BudgetExceeded("render step budget exhausted")
            raise BudgetExceeded(f"evaluation step budget exhausted ({self.limit} steps)")
        if (before | _CLOCK_EVERY) != (self.steps | _CLOCK_EVERY) and self.budget.clock() > self.deadline:
            raise OutOfTime(f"{self.time_scope} time budget exhausted")

    def close(self) -> None:
        """Subtract the steps used from the render's budget."""
        self.budget.steps_left -= self.steps
        _ACTIVE.set(None)


def weight(value: Any, depth: int = 0) -> int:
    """Size of a value counting shared elements every time they are reachable; cached on celpy containers."""
    if isinstance(value, str | bytes):
        return 1 + len(value) // 64
    if not isinstance(value, list | dict):
        return 1
    cached = getattr(value, "oc_weight", None)
    if cached is not None:
        return int(cached)
    if depth > _MAX_NESTING:
        raise BudgetExceeded(f"value nested deeper than {_MAX_NESTING} levels")
    items = value.values() if isinstance(value, dict) else value
    total = 1 + len(value)
    for item in items:
        if isinstance(item, str | bytes | list | dict):
            total += weight(item, depth + 1)
            if total > MAX_WEIGHT:
                break
    with contextlib.suppress(AttributeError):  # plain list/dict take no attributes; celpy's types do
        value.oc_weight = total  # type: ignore[union-attr]
    return total
