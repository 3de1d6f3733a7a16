"""Condition types, reasons and the pure helpers that set them (``metav1.Condition`` semantics).

``lastTransitionTime`` changes only when ``status`` changes, so rewriting the same condition is a no-op
and a reconcile that finds the world already correct writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

# WorkflowRun condition types (OpenChoreo's names, so its tooling keeps working).
RUNNING = "WorkflowRunning"
SUCCEEDED = "WorkflowSucceeded"
FAILED = "WorkflowFailed"
COMPLETED = "WorkflowCompleted"
WORKLOAD_UPDATED = "WorkloadUpdated"
READY = "Ready"

# Reasons.
R_PENDING = "WorkflowPending"
R_RUNNING = "WorkflowRunning"
R_SUCCEEDED = "WorkflowSucceeded"
R_FAILED = "WorkflowFailed"
R_BUILD_PLANE_NOT_FOUND = "BuildPlaneNotFound"
R_BUILD_PLANE_RESOLUTION_FAILED = "BuildPlaneResolutionFailed"
R_WORKFLOW_RESOLUTION_FAILED = "WorkflowResolutionFailed"
R_COMPONENT_VALIDATION_FAILED = "ComponentValidationFailed"
R_WORKLOAD_UPDATED = "WorkloadUpdated"
R_WORKLOAD_UPDATE_FAILED = "WorkloadUpdateFailed"
R_INVALID_PARAMETERS = "InvalidParameters"
R_RENDER_FAILED = "RenderFailed"
R_EXTERNAL_REF_NOT_FOUND = "ExternalRefNotFound"
R_BUILD_PLANE_UNAVAILABLE = "BuildPlaneUnavailable"
R_BUILD_PLANE_FORBIDDEN = "BuildPlaneForbidden"  # the build plane refused a write (401/403): RBAC, allowlist
R_BUILD_PLANE_KIND_MISSING = "BuildPlaneKindMissing"  # the build plane does not serve a kind (404): a CRD
# The same five plane reasons of a run whose plane is of OpenChoreo 1.x's kinds (api.planes.Generation).
R_WORKFLOW_PLANE_NOT_FOUND = "WorkflowPlaneNotFound"
R_WORKFLOW_PLANE_RESOLUTION_FAILED = "WorkflowPlaneResolutionFailed"
R_WORKFLOW_PLANE_UNAVAILABLE = "WorkflowPlaneUnavailable"
R_WORKFLOW_PLANE_FORBIDDEN = "WorkflowPlaneForbidden"
R_WORKFLOW_PLANE_KIND_MISSING = "WorkflowPlaneKindMissing"
R_NAME_CONFLICT = "NameConflict"
R_CANCELLED = "Cancelled"
R_QUEUED = "Queued"  # waiting for its turn in a concurrency group (not terminal, no timer)
R_SUPERSEDED = "Superseded"  # WorkloadUpdated=False: a newer run already wrote the Workload
R_UNKNOWN_PARAMETERS = "UnknownParameters"  # a warning (Event, CLI): rendered as given, never a failure
# Workflow Ready reasons.
R_VALID = "Valid"
R_INVALID_SCHEMA = "InvalidSchema"
R_INVALID_TEMPLATE = "InvalidTemplate"

Status = Literal["True", "False", "Unknown"]
MAX_MESSAGE = 32768  # metav1.Condition.message maxLength


def rfc3339(when: datetime) -> str:
    """Kubernetes timestamp form, second precision, ``Z`` suffix."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Sequence[dict[str, Any]] | None, cond_type: str) -> dict[str, Any] | None:
    """The condition of ``cond_type``, if present."""
    for cond in conditions or ():
        if cond.get("type") == cond_type:
            return cond
    return None


def is_true(conditions: Sequence[dict[str, Any]] | None, cond_type: str) -> bool:
    """Whether ``cond_type`` is present with status True."""
    cond = find(conditions, cond_type)
    return cond is not None and cond.get("status") == "True"


def set_condition(
    conditions: Sequence[dict[str, Any]] | None,
    cond_type: str,
    status: Status,
    reason: str,
    message: str,
    *,
    observed_generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Return a new list with ``cond_type`` set; other conditions keep their order and values."""
    message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
    previous = find(conditions, cond_type)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime")
        else rfc3339(now)
    )
    new: dict[str, Any] = {
        "type": cond_type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if observed_generation is not None:
        new["observedGeneration"] = observed_generation
    out = [dict(c) for c in conditions or () if c.get("type") != cond_type]
    index = next((i for i, c in enumerate(conditions or ()) if c.get("type") == cond_type), len(out))
    out.insert(index, new)
    return out
