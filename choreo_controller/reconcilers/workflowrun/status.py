"""Argo Workflow -> WorkflowRun status: the phase mapping and the task list (SPEC section 5 step 7). Pure.

``observe(argo)`` reads what matters of an Argo Workflow: its phase folded to four (``Pending``,
``Running``, ``Succeeded``, ``Failed``; Argo's ``Error`` is a failure), its message, and the tasks.
``desired(status, argo, ...)`` applies that to a run's status with ``state``'s transitions;
``vanished(...)`` is the outcome when the Argo Workflow disappears while the run is in flight.

Tasks come from nodes of ``type: Pod`` only (steps, DAG tasks, retries' attempts): name = ``displayName``
(else the text after the last ``.`` of the node name), ordered by the *last* ``[N]`` index in the node name
(the step group; nested groups end with the innermost index), then by start time and name, so parallel
steps keep a stable order. Argo's ``Omitted`` becomes ``Skipped``. Empty timestamps are left out (the CRD
says ``format: date-time``), messages are clipped.

A cancel wins over the generic failure reason: an Argo Workflow that failed after ``spec.shutdown:
Terminate`` was requested ends ``Cancelled``; one that succeeded before the shutdown took effect succeeded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from choreo_controller.api import conditions as c
from choreo_controller.reconcilers.workflowrun import state

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
_PHASES: Final[dict[str, Phase]] = {
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Error": "Failed",
}
_TASK_PHASES: Final = {"Pending", "Running", "Succeeded", "Failed", "Skipped", "Error"}
_INDEX = re.compile(r"\[(\d+)\]")
MAX_TASK_MESSAGE: Final = 1024
_NO_INDEX: Final = 1 << 30  # a Pod node outside any step group sorts last


@dataclass(frozen=True, slots=True)
class ArgoState:
    """What the run's status needs from an Argo Workflow."""

    phase: Phase
    message: str
    tasks: list[dict[str, Any]]


def observe(argo: JsonObj) -> ArgoState:
    """Fold an Argo Workflow's status into an ``ArgoState``."""
    st = argo.get("status") or {}
    phase = _PHASES.get(str(st.get("phase") or ""), "Pending")
    return ArgoState(phase, _clip(str(st.get("message") or "")), tasks_of(argo))


def tasks_of(argo: JsonObj) -> list[dict[str, Any]]:
    """The Pod nodes of an Argo Workflow as ``status.tasks`` entries, in execution order."""
    return [_task(node) for _, node in pod_nodes(argo)]


def pod_nodes(argo: JsonObj) -> list[tuple[str, dict[str, Any]]]:
    """``(node id, node)`` of the Pod nodes, in execution order: the order of ``status.tasks``."""
    nodes = (argo.get("status") or {}).get("nodes") or {}
    pods = [(str(k), n) for k, n in nodes.items() if isinstance(n, dict) and n.get("type") == "Pod"]
    pods.sort(key=lambda item: _order(item[1]))
    return pods


def task_name(node: dict[str, Any]) -> str:
    """A Pod node's name in ``status.tasks``: ``displayName``, else the text after the last ``.``."""
    name = str(node.get("displayName") or "") or str(node.get("name") or "").rsplit(".", 1)[-1]
    return name or "unknown"


def _order(node: dict[str, Any]) -> tuple[int, str, str]:
    name = str(node.get("name") or "")
    indexes = _INDEX.findall(name)
    return (int(indexes[-1]) if indexes else _NO_INDEX, str(node.get("startedAt") or ""), name)


def _task(node: dict[str, Any]) -> dict[str, Any]:
    phase = str(node.get("phase") or "Pending")
    phase = "Skipped" if phase == "Omitted" else phase
    task: dict[str, Any] = {"name": task_name(node), "phase": phase if phase in _TASK_PHASES else "Pending"}
    if node.get("startedAt"):
        task["startedAt"] = str(node["startedAt"])
    if node.get("finishedAt"):
        task["completedAt"] = str(node["finishedAt"])
    if node.get("message"):
        task["message"] = _clip(str(node["message"]))
    return task


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TASK_MESSAGE else text[: MAX_TASK_MESSAGE - 3] + "..."


def desired(
    st: dict[str, Any],
    argo: ArgoState,
    *,
    where: str,
    cancelled: bool,
    gen: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The run's status given its Argo Workflow's state; ``where`` names it (``ns/name in plane p``)."""
    new = dict(st)
    if argo.tasks or "tasks" in st:
        new["tasks"] = argo.tasks
    kw: dict[str, Any] = {"gen": gen, "now": now}
    if argo.phase == "Succeeded":
        return state.succeeded(new, "Workflow completed successfully", **kw)
    if argo.phase == "Failed":
        detail = f": {argo.message}" if argo.message else ""
        if cancelled:
            return state.failed(
                new, c.R_CANCELLED, f"Cancelled on request; Argo Workflow stopped{detail}", **kw
            )
        return state.failed(new, c.R_FAILED, f"Argo Workflow {where} failed{detail}", **kw)
    if argo.phase == "Running":
        return state.running(new, f"Argo Workflow {where} is running", **kw)
    if (c.find(st.get("conditions"), c.COMPLETED) or {}).get("reason") in state.WAITING:
        return state.pending(new, f"Argo Workflow {where} is pending", **kw)  # the plane is back
    return new  # Argo has not picked it up yet: stay pending


def vanished(
    st: dict[str, Any], *, where: str, cancelled: bool, gen: int | None, now: datetime
) -> dict[str, Any]:
    """The Argo Workflow is gone while the run was in flight: a failure (``Cancelled`` if one was asked)."""
    if cancelled:
        return state.failed(
            st, c.R_CANCELLED, f"Cancelled on request; Argo Workflow {where} is gone", gen=gen, now=now
        )
    message = f"Argo Workflow {where} disappeared before it finished (deleted in the build plane?)"
    return state.failed(st, c.R_FAILED, message, gen=gen, now=now)


def is_finished(argo: JsonObj) -> bool:
    """Argo reports a final phase."""
    return observe(argo).phase in {"Succeeded", "Failed"}
