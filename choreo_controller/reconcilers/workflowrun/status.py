"""Run object -> WorkflowRun status (SPEC section 5 step 7). Pure.

The engine folds its run object into an ``engines.Observation`` (phase, message, tasks); ``desired(status,
observation, ...)`` applies that to a run's status with ``state``'s transitions; ``vanished(...)`` is the
outcome when the run object disappears while the run is in flight. Messages name the run object by its
engine's ``title`` and ``where`` it is (``ns/name in build plane 'p'``).

A cancel wins over the generic failure reason: a run object that failed after the engine was asked to stop
ends ``Cancelled``; one that succeeded before the stop took effect succeeded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from choreo_controller.api import conditions as c
from choreo_controller.reconcilers.workflowrun import state

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.engines import Observation


def desired(
    st: dict[str, Any],
    seen: Observation,
    *,
    title: str,
    where: str,
    cancelled: bool,
    gen: int | None,
    now: datetime,
    cancelled_as: str = "Cancelled on request",
) -> dict[str, Any]:
    """The run's status given what its engine reports of its run object.

    ``cancelled_as`` begins a cancelled run's message (``cancel.cancelled_as``: on request, or superseded).
    """
    new = dict(st)
    if seen.tasks or "tasks" in st:
        new["tasks"] = seen.tasks
    kw: dict[str, Any] = {"gen": gen, "now": now}
    if seen.phase == "Succeeded":
        return state.succeeded(new, "Workflow completed successfully", **kw)
    if seen.phase == "Failed":
        detail = f": {seen.message}" if seen.message else ""
        if cancelled:
            return state.failed(new, c.R_CANCELLED, f"{cancelled_as}; {title} stopped{detail}", **kw)
        return state.failed(new, c.R_FAILED, f"{title} {where} failed{detail}", **kw)
    if seen.phase == "Running":
        return state.running(new, f"{title} {where} is running", **kw)
    if (c.find(st.get("conditions"), c.COMPLETED) or {}).get("reason") in state.WAITING:
        return state.pending(new, f"{title} {where} is pending", **kw)  # the plane is back
    return new  # the engine has not picked it up yet: stay pending


def vanished(
    st: dict[str, Any],
    *,
    title: str,
    where: str,
    cancelled: bool,
    gen: int | None,
    now: datetime,
    cancelled_as: str = "Cancelled on request",
) -> dict[str, Any]:
    """The run object is gone while the run was in flight: a failure (``Cancelled`` if one was asked)."""
    what = f"{title} {where}"
    if cancelled:
        return state.failed(st, c.R_CANCELLED, f"{cancelled_as}; {what} is gone", gen=gen, now=now)
    message = f"{what} disappeared before it finished (deleted in the build plane?)"
    return state.failed(st, c.R_FAILED, message, gen=gen, now=now)
