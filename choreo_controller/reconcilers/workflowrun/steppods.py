"""A run's steps and their pods, and what a failure keeps of the failed steps' logs.

Which pods run a run object's steps, and which containers hold a step's own output, is the engine's to say
(``Engine.pod_selector``, ``Engine.step_pods``): the pods are listed by the engine's selector and matched to
the steps, named as ``status.tasks`` names them.

``failure_tail``: the last ``lines`` log lines of each failed step (at most ``MAX_FAILED_STEPS``), read once
- by the reconcile that first sees the failure - with a byte bound per step and a time bound overall, so the
reason of a failure survives the pods' garbage collection in the ``WorkflowFailed`` message. A pod already
gone, or logs that cannot be read (the plane refuses, is away, is slow), are said in the text; they never
hold the failure back.
"""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import POD
from choreo_controller.contracts import ApiError, LogOptions

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.engines import Engine, StepPod

FAILED_PHASES: Final = frozenset({"Failed", "Error"})
MAX_FAILED_STEPS: Final = 3
MAX_LINE: Final = 300  # characters kept of one log line in a condition message
TAIL_BYTES: Final = 16 * 1024  # read per container of a failed step
TAIL_SECONDS: Final = 10.0  # for the whole tail: a reconcile must not hang on a slow plane


async def step_pods(
    api: KubeApi, engine: Engine, obj: JsonObj, children: Mapping[str, JsonObj]
) -> list[StepPod]:
    """The run object's steps with the pods of them that still exist."""
    namespace = str((obj.get("metadata") or {}).get("namespace") or "")
    pods = await api.list(POD, namespace, label_selector=engine.pod_selector(obj))
    return engine.step_pods(obj, children, pods.items)


async def failure_tail(
    api: KubeApi, engine: Engine, obj: JsonObj, children: Mapping[str, JsonObj], lines: int
) -> str:
    """The last ``lines`` log lines of each failed step, as text for a condition message ("" if none)."""
    if lines <= 0 or not any(s.phase in FAILED_PHASES for s in engine.step_pods(obj, children, [])):
        return ""
    parts: list[str] = []
    try:
        async with asyncio.timeout(TAIL_SECONDS):
            steps = await step_pods(api, engine, obj, children)
            failed = [step for step in steps if step.phase in FAILED_PHASES][:MAX_FAILED_STEPS]
            parts += [await _step_tail(api, step, lines) for step in failed]
    except (ApiError, TimeoutError) as exc:
        reason = exc.message if isinstance(exc, ApiError) else f"no answer within {TAIL_SECONDS:.0f}s"
        parts.append(f"--- log lines of the failed steps unavailable: {reason[:200]} ---")
    return "\n".join(parts)


async def _step_tail(api: KubeApi, step: StepPod, lines: int) -> str:
    if step.pod is None:
        return f"--- step {step.name}: its pod is gone (deleted or garbage-collected), no log lines ---"
    meta = step.pod.get("metadata") or {}
    got: list[str] = []
    for container in step.containers:  # the step's own output, as its engine says (one or more containers)
        options = LogOptions(container, tail_lines=lines, limit_bytes=TAIL_BYTES)
        got += [
            _clip(line) async for line in api.log(str(meta.get("namespace")), str(meta.get("name")), options)
        ]
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
