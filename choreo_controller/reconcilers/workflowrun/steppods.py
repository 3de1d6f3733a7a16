"""A run's steps and their pods (Argo), and what a failure keeps of the failed steps' logs.

Argo labels every pod of a workflow ``workflows.argoproj.io/workflow=<workflow>`` and names the node it runs
in the annotation ``workflows.argoproj.io/node-id``. A step is a ``Pod`` node (``status.pod_nodes``), named
as ``status.tasks`` names it; the user's output is the log of the pod's ``main`` container (``init`` and
``wait`` are Argo's executor). ``runs logs`` (``steplogs``) and the failure tail below read pods this way.

``failure_tail``: the last ``lines`` log lines of each failed step (at most ``MAX_FAILED_STEPS``), read once
- by the reconcile that first sees the failure - with a byte bound per step and a time bound overall, so the
reason of a failure survives the pods' garbage collection in the ``WorkflowFailed`` message. A pod already
gone, or logs that cannot be read (the plane refuses, is away, is slow), are said in the text; they never
hold the failure back.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import POD
from choreo_controller.contracts import ApiError, LogOptions
from choreo_controller.reconcilers.workflowrun.status import pod_nodes, task_name

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

POD_WORKFLOW_LABEL: Final = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION: Final = "workflows.argoproj.io/node-id"
MAIN_CONTAINER: Final = "main"
FAILED_PHASES: Final = frozenset({"Failed", "Error"})
MAX_FAILED_STEPS: Final = 3
MAX_LINE: Final = 300  # characters kept of one log line in a condition message
TAIL_BYTES: Final = 16 * 1024  # read per failed step
TAIL_SECONDS: Final = 10.0  # for the whole tail: a reconcile must not hang on a slow plane


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a run: a Pod node of its Argo Workflow."""

    name: str  # as in status.tasks
    node_id: str
    phase: str
    node: dict[str, Any]


def steps(argo: JsonObj) -> list[Step]:
    """The run's steps, in execution order."""
    return [Step(task_name(n), nid, str(n.get("phase") or "Pending"), n) for nid, n in pod_nodes(argo)]


def pod_selector(argo: JsonObj) -> str:
    """The label selector of the Argo Workflow's pods."""
    return f"{POD_WORKFLOW_LABEL}={(argo.get('metadata') or {}).get('name', '')}"


def pods_by_node(pods: list[JsonObj]) -> dict[str, JsonObj]:
    """Pods by the node id they run."""
    out: dict[str, JsonObj] = {}
    for pod in pods:
        node = ((pod.get("metadata") or {}).get("annotations") or {}).get(NODE_ID_ANNOTATION)
        if isinstance(node, str) and node:
            out[node] = pod
    return out


async def list_pods(api: KubeApi, argo: JsonObj) -> dict[str, JsonObj]:
    """The Argo Workflow's pods that still exist, by node id."""
    namespace = str((argo.get("metadata") or {}).get("namespace") or "")
    return pods_by_node((await api.list(POD, namespace, label_selector=pod_selector(argo))).items)


async def failure_tail(api: KubeApi, argo: JsonObj, lines: int) -> str:
    """The last ``lines`` log lines of each failed step, as text for a condition message ("" if none)."""
    failed = [step for step in steps(argo) if step.phase in FAILED_PHASES][:MAX_FAILED_STEPS]
    if not failed or lines <= 0:
        return ""
    parts: list[str] = []
    try:
        async with asyncio.timeout(TAIL_SECONDS):
            pods = await list_pods(api, argo)
            parts += [await _step_tail(api, step, pods.get(step.node_id), lines) for step in failed]
    except (ApiError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, ApiError) else f"no answer within {TAIL_SECONDS:.0f}s"
        parts.append(f"--- log lines of the failed steps unavailable: {reason[:200]} ---")
    return "\n".join(parts)


async def _step_tail(api: KubeApi, step: Step, pod: JsonObj | None, lines: int) -> str:
    if pod is None:
        return f"--- step {step.name}: its pod is gone (deleted or garbage-collected), no log lines ---"
    meta = pod.get("metadata") or {}
    options = LogOptions(MAIN_CONTAINER, tail_lines=lines, limit_bytes=TAIL_BYTES)
    got = [_clip(line) async for line in api.log(str(meta.get("namespace")), str(meta.get("name")), options)]
    got = got[-lines:]
    head = f"--- step {step.name}: last {len(got)} log line{'' if len(got) == 1 else 's'} ---"
    return "\n".join([head, *got]) if got else f"--- step {step.name}: no log lines ---"


def _clip(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


def newly_failed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """``new`` is the first status with ``WorkflowCompleted=True/WorkflowFailed`` (not a cancel)."""
    before = c.find(old.get("conditions"), c.COMPLETED) or {}
    after = c.find(new.get("conditions"), c.COMPLETED) or {}
    now = (after.get("status"), after.get("reason"))
    return before.get("status") != "True" and now == ("True", c.R_FAILED)


def with_tail(status: dict[str, Any], tail: str) -> dict[str, Any]:
    """``status`` with ``tail`` appended to the ``WorkflowFailed`` and ``WorkflowCompleted`` messages."""
    if not tail:
        return status
    out = copy.deepcopy(status)
    for cond in out.get("conditions") or []:
        if cond.get("type") in {c.FAILED, c.COMPLETED}:
            cond["message"] = f"{cond.get('message') or ''}\n{tail}"
    return out
