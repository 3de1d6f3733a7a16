"""Declared results: ``Workflow.spec.results`` -> ``WorkflowRun.status.results`` when the run succeeds. Pure.

The shape follows OpenChoreo's proposal (openchoreo/openchoreo PR #4696): a Workflow declares
``results: [{name, description, valueFrom: {taskResult: {task, result}}}]`` - the output ``result`` of
the step ``task``, by any name the engine's ``Observation`` gives the step (an Argo step's display or
template name, a Tekton Task's name) - and a succeeded run records ``status.results: [{name, value}]`` in
the declared order. Values are text, capped (``MAX_VALUE`` each, ``MAX_TOTAL`` for the run) so a chatty
step cannot bloat the run: a cut value says ``truncated: true``. A declared result the steps did not produce
is recorded without a value, with a ``message`` naming the step and output (the run still succeeded: the
result is information, not a gate).

The declarations are the run's Workflow as the controller's cache holds it when the run succeeds, read once:
``newly_succeeded`` picks the one status write that completes the run, later looks keep what it recorded.
A declared result named ``workload-cr`` is where Workload generation takes the Workload document from
(``workload_source``), instead of the step named ``generate-workload-cr``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj
    from choreo_controller.engines import Observation

MAX_VALUE: Final = 4096  # bytes of one value (OpenChoreo's proposal: 4 KiB)
MAX_TOTAL: Final = 32768  # bytes of all values of a run (32 KiB)
MAX_SUMMARY: Final = 256  # characters of ``status.resultSummary``


@dataclass(frozen=True, slots=True)
class Declared:
    """One ``spec.results`` entry: the result ``name`` is step ``task``'s output ``result``."""

    name: str
    task: str
    result: str


def declared(workflow: JsonObj | None) -> tuple[Declared, ...]:
    """The Workflow's declared results (entries the CRD schema would refuse are skipped)."""
    found = []
    for entry in ((workflow or {}).get("spec") or {}).get("results") or []:
        source = ((entry.get("valueFrom") or {}).get("taskResult") or {}) if isinstance(entry, dict) else {}
        name, task, result = (
            str(x or "") for x in (entry.get("name"), source.get("task"), source.get("result"))
        )
        if name and task and result:
            found.append(Declared(name, task, result))
    return tuple(found)


def newly_succeeded(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """``new`` is the first status with ``WorkflowCompleted=True/WorkflowSucceeded``."""
    before = c.find(old.get("conditions"), c.COMPLETED) or {}
    after = c.find(new.get("conditions"), c.COMPLETED) or {}
    return before.get("status") != "True" and (after.get("status"), after.get("reason")) == (
        "True",
        c.R_SUCCEEDED,
    )


def collect(wanted: tuple[Declared, ...], seen: Observation) -> list[dict[str, Any]]:
    """``status.results``: each declared result's value from the steps' outputs, capped."""
    out: list[dict[str, Any]] = []
    budget = MAX_TOTAL
    for want in wanted:
        value = seen.output(want.task, want.result)
        if value is None:
            message = f"step {want.task!r} produced no output {want.result!r}"
            out.append({"name": want.name, "message": message})
            continue
        text, cut = _capped(str(value), min(MAX_VALUE, budget))
        budget -= len(text.encode("utf-8"))
        out.append({"name": want.name, "value": text, **({"truncated": True} if cut else {})})
    return out


def with_results(status: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """``status`` with ``results`` and their ``resultSummary`` (unchanged when nothing is declared)."""
    if not results:
        return status
    new = copy.deepcopy(status)
    new["results"] = results
    new["resultSummary"] = summary(results)
    return new


def summary(results: list[dict[str, Any]]) -> str:
    """``name=value`` of each result with a value, for ``kubectl get -o wide``.

    A printer column shows the first JSONPath match only, so the list itself cannot be a column.
    """
    text = " ".join(f"{r['name']}={r['value']}" for r in results if "value" in r)
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 3] + "..."


def workload_source(wanted: tuple[Declared, ...], output: str) -> tuple[str, str] | None:
    """``(task, result)`` of the declared result named ``output``, if the Workflow declares one."""
    return next(((d.task, d.result) for d in wanted if d.name == output), None)


def _capped(text: str, limit: int) -> tuple[str, bool]:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text, False
    return raw[: max(limit, 0)].decode("utf-8", errors="ignore"), True
