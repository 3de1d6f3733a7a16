"""A WorkflowRun's lifecycle as pure functions over its JSON: predicates, phase transitions, status diffs.

Every transition takes the current ``status`` dict and returns a *new* one (the input is never modified),
so the reconciler computes the desired status, compares, and writes only the difference
(``status_patch``): a reconcile that finds the world already correct writes nothing.

Condition semantics (OpenChoreo's types and reasons, SPEC section 2):

=============  ==============================  ==================  ===================  ======================
phase          WorkflowCompleted               WorkflowRunning     WorkflowSucceeded    WorkflowFailed
=============  ==============================  ==================  ===================  ======================
pending        False / WorkflowPending         -                   -                    -
waiting        False / BuildPlaneNotFound|...  -                   -                    -
running        False / WorkflowRunning         True                -                    -
succeeded      True / WorkflowSucceeded        False               True                 -
failed         True / <specific reason>        False               -                    True / <same reason>
=============  ==============================  ==================  ===================  ======================

OpenChoreo keeps ``WorkflowCompleted`` at ``WorkflowPending`` while the run runs; we say ``WorkflowRunning``
there, so the printer column (the reason of ``WorkflowCompleted``) reads what is happening. Terminal phases
set ``completedAt``; TTL counts from it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api import labels, planes

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj

#: Status fields this controller owns; anything else under ``status`` is left alone.
MANAGED: Final = (
    "conditions",
    "startedAt",
    "completedAt",
    "runReference",
    "resources",
    "plane",
    "buildPlane",  # legacy: runs submitted before ``plane`` (read for cleanup, never written)
    "resolvedWorkflow",
    "tasks",
    "concurrency",
    "results",
    "resultSummary",
)
#: Reasons of a failure *before submission* caused only by the Workflow being missing or invalid: such a
#: run is revived when its Workflow appears or changes (it never triggered, so it still triggers once).
REVIVABLE: Final = frozenset({c.R_WORKFLOW_RESOLUTION_FAILED, c.R_INVALID_TEMPLATE, c.R_INVALID_SCHEMA})
#: Non-terminal reasons: the run waits (with backoff, and woken by plane events) for its plane - the reasons
#: of either generation (``api.planes``).
WAITING: Final = frozenset(
    reason for g in planes.GENERATIONS for reason in (g.not_found, g.unavailable, g.forbidden, g.kind_missing)
)


# ---- predicates ---------------------------------------------------------------------------------------
def meta(run: JsonObj) -> dict[str, Any]:
    """``metadata`` (empty dict if absent)."""
    return dict(run.get("metadata") or {})


def status(run: JsonObj) -> dict[str, Any]:
    """A deep copy of ``status``, safe to transform."""
    return copy.deepcopy(dict(run.get("status") or {}))


def _read(run: JsonObj) -> dict[str, Any]:
    """``status`` itself, for the predicates below, which only read it.

    No copy: the predicates run for every cached event (index functions) and several times per
    reconcile, where deep copies of finished runs' statuses dominated a cold start's time
    (``hack/bench/bench_memory.py``; docs/performance.md, Profile).
    """
    st = run.get("status")
    return st if isinstance(st, dict) else {}


def generation(run: JsonObj) -> int | None:
    """``metadata.generation``, for conditions' ``observedGeneration``."""
    value = meta(run).get("generation")
    return int(value) if isinstance(value, int) else None


def is_deleting(run: JsonObj) -> bool:
    """Deletion requested (``deletionTimestamp`` set)."""
    return bool(meta(run).get("deletionTimestamp"))


def has_finalizer(run: JsonObj) -> bool:
    """Carries our cleanup finalizer."""
    return labels.FINALIZER in (meta(run).get("finalizers") or [])


def is_completed(run: JsonObj) -> bool:
    """``WorkflowCompleted=True``: succeeded, failed or cancelled."""
    return c.is_true(_read(run).get("conditions"), c.COMPLETED)


def completed_reason(run: JsonObj) -> str:
    """The reason of ``WorkflowCompleted`` (empty if unset)."""
    cond = c.find(_read(run).get("conditions"), c.COMPLETED)
    return str(cond.get("reason") or "") if cond else ""


def completed_at(run: JsonObj) -> str:
    """A completed run's ``status.completedAt``, else its ``WorkflowCompleted`` time ("" if neither)."""
    st = _read(run)
    done = c.find(st.get("conditions"), c.COMPLETED) or {}
    return str(st.get("completedAt") or done.get("lastTransitionTime") or "")


def is_submitted(run: JsonObj) -> bool:
    """The run object was created and recorded (``status.runReference``)."""
    return bool(_read(run).get("runReference"))


def cancel_requested(run: JsonObj) -> bool:
    """Annotation ``openchoreo.dev/cancel: "true"``."""
    return (meta(run).get("annotations") or {}).get(labels.ANNOTATION_CANCEL) == "true"


def is_component_run(run: JsonObj) -> bool:
    """Labelled with a project and a component: governed by SPEC section 6."""
    run_labels = meta(run).get("labels") or {}
    return bool(run_labels.get(labels.LABEL_PROJECT) and run_labels.get(labels.LABEL_COMPONENT))


def has_component_label(run: JsonObj) -> bool:
    """Labelled with a project or a component: governed (one label alone is refused by governance)."""
    run_labels = meta(run).get("labels") or {}
    return bool(run_labels.get(labels.LABEL_PROJECT) or run_labels.get(labels.LABEL_COMPONENT))


def is_revivable(run: JsonObj) -> bool:
    """Failed before submission only because its Workflow was missing or invalid."""
    return is_completed(run) and not is_submitted(run) and completed_reason(run) in REVIVABLE


# ---- transitions --------------------------------------------------------------------------------------
def _set(st: dict[str, Any], cond_type: str, value: c.Status, reason: str, message: str, **kw: Any) -> None:
    st["conditions"] = c.set_condition(st.get("conditions"), cond_type, value, reason, message, **kw)


def _drop(st: dict[str, Any], *cond_types: str) -> None:
    st["conditions"] = [x for x in st.get("conditions") or [] if x.get("type") not in cond_types]


def pending(st: dict[str, Any], message: str, *, gen: int | None, now: datetime) -> dict[str, Any]:
    """``WorkflowCompleted=False/WorkflowPending``; ``startedAt`` on first sight."""
    new = copy.deepcopy(st)
    new.setdefault("startedAt", c.rfc3339(now))
    _set(new, c.COMPLETED, "False", c.R_PENDING, message, observed_generation=gen, now=now)
    return new


def waiting(
    st: dict[str, Any], reason: str, message: str, *, gen: int | None, now: datetime
) -> dict[str, Any]:
    """``WorkflowCompleted=False/<reason>``: not terminal, retried."""
    new = copy.deepcopy(st)
    new.setdefault("startedAt", c.rfc3339(now))
    _set(new, c.COMPLETED, "False", reason, message, observed_generation=gen, now=now)
    return new


def running(st: dict[str, Any], message: str, *, gen: int | None, now: datetime) -> dict[str, Any]:
    """``WorkflowRunning=True``; ``WorkflowCompleted=False/WorkflowRunning``."""
    new = copy.deepcopy(st)
    _set(new, c.RUNNING, "True", c.R_RUNNING, message, observed_generation=gen, now=now)
    _set(new, c.COMPLETED, "False", c.R_RUNNING, message, observed_generation=gen, now=now)
    return new


def succeeded(st: dict[str, Any], message: str, *, gen: int | None, now: datetime) -> dict[str, Any]:
    """Terminal success; ``completedAt`` kept if already set."""
    new = copy.deepcopy(st)
    kw: dict[str, Any] = {"observed_generation": gen, "now": now}
    _set(new, c.RUNNING, "False", c.R_SUCCEEDED, "The run object has completed", **kw)
    _set(new, c.SUCCEEDED, "True", c.R_SUCCEEDED, message, **kw)
    _set(new, c.COMPLETED, "True", c.R_SUCCEEDED, message, **kw)
    new.setdefault("startedAt", c.rfc3339(now))
    new.setdefault("completedAt", c.rfc3339(now))
    return new


def failed(
    st: dict[str, Any], reason: str, message: str, *, gen: int | None, now: datetime
) -> dict[str, Any]:
    """Terminal failure with its specific reason (``WorkflowFailed``, ``InvalidParameters``, ...)."""
    new = copy.deepcopy(st)
    kw: dict[str, Any] = {"observed_generation": gen, "now": now}
    if c.find(new.get("conditions"), c.RUNNING) is not None:
        _set(new, c.RUNNING, "False", reason, "The run object has completed", **kw)
    _set(new, c.FAILED, "True", reason, message, **kw)
    _set(new, c.COMPLETED, "True", reason, message, **kw)
    new.setdefault("startedAt", c.rfc3339(now))
    new.setdefault("completedAt", c.rfc3339(now))
    return new


def revived(st: dict[str, Any], message: str, *, gen: int | None, now: datetime) -> dict[str, Any]:
    """Back to pending after a revivable failure: failure conditions and ``completedAt`` removed."""
    new = copy.deepcopy(st)
    _drop(new, c.FAILED, c.SUCCEEDED, c.RUNNING)
    new.pop("completedAt", None)
    new.pop("resolvedWorkflow", None)
    return pending(new, message, gen=gen, now=now)


# ---- writing ------------------------------------------------------------------------------------------
def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning ``old`` into ``new`` over ``MANAGED`` fields; ``None`` if nothing changed."""
    patch: dict[str, Any] = {}
    for key in MANAGED:
        if old.get(key) != new.get(key):
            patch[key] = new.get(key)  # None deletes the field (RFC 7386)
    return patch or None


def conditions_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether any condition's status or reason differs (a phase change, not only progress)."""

    def summary(st: dict[str, Any]) -> set[tuple[Any, Any, Any]]:
        return {(x.get("type"), x.get("status"), x.get("reason")) for x in st.get("conditions") or []}

    return summary(old) != summary(new) or old.get("completedAt") != new.get("completedAt")
