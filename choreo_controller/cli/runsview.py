"""What ``choreo-controller runs`` prints and builds, as pure functions of a run's JSON and ``now``.

No cluster, no IO, no clock of its own: every function that needs time takes ``now``, so the unit tests pin
it and the same code serves ``list``, ``get``, ``watch`` and the demo's progress display.

* ``human_duration`` - kubectl's short form (``45s``, ``3m12s``, ``2h5m``, ``3d4h``);
* ``list_table`` - ``runs list``: name, workflow, status (the reason of ``WorkflowCompleted``, like the
  CRD's printer column), age, duration (start to completion, or to ``now`` while in flight);
* ``detail`` - ``runs get``: the run's fields, then its conditions and tasks as tables;
  ``warning_events`` - its steps' Warning events, when it reads the build plane;
* ``progress`` / ``transitions`` - ``runs watch``: the block redrawn on a terminal, and the lines
  printed otherwise (one per task or status change);
* ``outcome`` - whether a run has finished and how, for exit codes;
* ``rerun.py`` holds the ``--set`` parsing and the new run's object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.engines import engine_for
from choreo_controller.reconcilers.workflowrun.resolve import recorded_plane
from choreo_controller.reconcilers.workflowrun.ttl import parse_time

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from choreo_controller.contracts import JsonObj

NONE: Final = "-"
GAP: Final = "   "  # between columns, as kubectl prints them
_MESSAGE_WIDTH: Final = 80


def human_duration(seconds: float) -> str:
    """A duration as kubectl's ``HumanDuration`` prints it: precise when short, coarse when long."""
    if seconds < -1:
        return "<invalid>"
    secs = max(0, int(seconds))
    mins, hours, days = secs // 60, secs // 3600, secs // 86400
    years = days // 365
    ladder = (
        (secs < 120, f"{secs}s"),
        (mins < 10, _pair(mins, "m", secs % 60, "s")),
        (mins < 180, f"{mins}m"),
        (hours < 8, _pair(hours, "h", mins % 60, "m")),
        (hours < 48, f"{hours}h"),
        (hours < 24 * 8, _pair(days, "d", hours % 24, "h")),
        (days < 365 * 2, f"{days}d"),
        (days < 365 * 8, _pair(years, "y", days % 365, "d")),
    )
    return next((text for short_enough, text in ladder if short_enough), f"{years}y")


def _pair(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by three spaces; the last column is not padded."""
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append(GAP.join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Outcome:
    """How a run stands: ``done`` once ``WorkflowCompleted=True``; ``succeeded`` only for success."""

    done: bool
    succeeded: bool
    reason: str


def outcome(run: JsonObj) -> Outcome:
    """The run's ``WorkflowCompleted`` condition as an ``Outcome``."""
    cond = c.find(_status(run).get("conditions"), c.COMPLETED) or {}
    done = cond.get("status") == "True"
    reason = str(cond.get("reason") or "")
    return Outcome(done=done, succeeded=done and reason == c.R_SUCCEEDED, reason=reason)


def status_text(run: JsonObj) -> str:
    """The reason of ``WorkflowCompleted`` (the CRD's Status column); ``-`` before the first reconcile."""
    return outcome(run).reason or NONE


def age(obj: JsonObj, now: datetime) -> str:
    """Time since ``metadata.creationTimestamp``."""
    return _since(_meta(obj).get("creationTimestamp"), now)


def run_duration(run: JsonObj, now: datetime) -> str:
    """``startedAt`` to ``completedAt``, or to ``now`` while the run is in flight; ``-`` before it starts."""
    st = _status(run)
    return _span(st.get("startedAt"), st.get("completedAt"), now)


def workflow_text(run: JsonObj) -> str:
    """``name``, or ``ClusterWorkflow/name`` for a cluster-scoped workflow (as resolved, once it is)."""
    ref = (run.get("spec") or {}).get("workflow") or {}
    resolved = _status(run).get("resolvedWorkflow") or {}
    kind, name = ref.get("kind") or resolved.get("kind") or "Workflow", str(ref.get("name") or NONE)
    return name if kind == "Workflow" else f"{kind}/{name}"


def list_table(runs: Sequence[JsonObj], now: datetime, *, all_namespaces: bool) -> str:
    """``runs list``: one row per run, sorted by namespace then name, as kubectl sorts."""
    headers = ["NAME", "WORKFLOW", "STATUS", "AGE", "DURATION"]
    ordered = sorted(runs, key=lambda run: (_meta(run).get("namespace", ""), _meta(run).get("name", "")))
    rows = [
        [
            _meta(run).get("name", ""),
            workflow_text(run),
            status_text(run),
            age(run, now),
            run_duration(run, now),
        ]
        for run in ordered
    ]
    if all_namespaces:
        headers = ["NAMESPACE", *headers]
        rows = [[_meta(run).get("namespace", ""), *row] for run, row in zip(ordered, rows, strict=True)]
    return table(headers, rows)


def task_rows(run: JsonObj, now: datetime) -> list[list[str]]:
    """One row per task: name, phase, started (clock time), duration, message."""
    rows = []
    for task in _status(run).get("tasks") or []:
        started = parse_time(task.get("startedAt"))
        rows.append([
            str(task.get("name") or NONE),
            str(task.get("phase") or NONE),
            started.strftime("%H:%M:%S") if started else NONE,
            _span(task.get("startedAt"), task.get("completedAt"), now),
            _clip(str(task.get("message") or "")),
        ])  # fmt: skip
    return rows


def _run_object_text(ref: dict[str, Any]) -> str:
    """The run object in the build plane, named as its engine names it (``<title> <namespace>/<name>``)."""
    if not ref:
        return NONE
    found = engine_for(ref.get("apiVersion"), ref.get("kind"))
    title = found.engine.title if found is not None else f"{ref.get('apiVersion')} {ref.get('kind')}"
    return f"{title} {ref.get('namespace')}/{ref.get('name')}"


def detail(run: JsonObj, now: datetime) -> str:
    """``runs get``: the run's fields, its conditions and its tasks."""
    st, meta = _status(run), _meta(run)
    ref, plane = st.get("runReference") or {}, recorded_plane(run)
    fields = [
        ("Name", meta.get("name", "")),
        ("Namespace", meta.get("namespace", "")),
        ("Workflow", workflow_text(run)),
        ("Status", status_text(run)),
        ("Created", f"{meta.get('creationTimestamp', NONE)} ({age(run, now)} ago)"),
        ("Started", st.get("startedAt") or NONE),
        ("Completed", st.get("completedAt") or NONE),
        ("Duration", run_duration(run, now)),
        ("Plane", _plane_text(plane)),
        ("Run object", _run_object_text(ref)),
    ]  # fmt: skip
    out = "".join(f"{label + ':':<15}{value}\n" for label, value in fields)
    conditions = [
        [
            str(cond.get("type")),
            str(cond.get("status")),
            str(cond.get("reason")),
            _since(cond.get("lastTransitionTime"), now),
            _clip(str(cond.get("message") or "")),
        ]
        for cond in st.get("conditions") or []
    ]
    out += "\nConditions:\n"
    out += table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], conditions) if conditions else "  none yet\n"
    failure = str((c.find(st.get("conditions"), c.FAILED) or {}).get("message") or "").split("\n")
    if len(failure) > 1:  # the last log lines of the failed steps (the controller's --failure-log-lines)
        out += "\nFailure:\n" + "".join(f"  {line}".rstrip() + "\n" for line in failure)
    tasks = task_rows(run, now)
    out += "\nTasks:\n"
    out += table(["NAME", "PHASE", "STARTED", "DURATION", "MESSAGE"], tasks) if tasks else "  none yet\n"
    results = [_result_row(entry) for entry in st.get("results") or [] if isinstance(entry, dict)]
    if results:  # the Workflow's declared results, recorded when the run succeeded
        out += "\nResults:\n" + table(["NAME", "VALUE"], results)
    return out


def _result_row(entry: dict[str, Any]) -> list[str]:
    if "value" not in entry:
        return [str(entry.get("name")), f"{NONE} ({entry.get('message') or 'no value'})"]
    cut = " (truncated)" if entry.get("truncated") else ""
    return [str(entry.get("name")), f"{entry['value']}{cut}"]


def warning_events(rows: list[list[str]]) -> str:
    """``runs get`` with a build plane: the Warning events of the unfinished steps' pods."""
    clipped = [[*row[:3], _clip(row[3])] for row in rows]
    body = table(["STEP", "REASON", "COUNT", "MESSAGE"], clipped) if rows else "  none\n"
    return "\nWarning events (build plane):\n" + body


def progress(run: JsonObj, now: datetime) -> str:
    """``runs watch`` on a terminal: a headline and the task table, redrawn in place on every change."""
    meta = _meta(run)
    head = (
        f"{meta.get('namespace')}/{meta.get('name')}   workflow {workflow_text(run)}   "
        f"{status_text(run)}   {run_duration(run, now)}\n"
    )
    tasks = task_rows(run, now)
    body = table(["STEP", "PHASE", "STARTED", "DURATION", "MESSAGE"], tasks) if tasks else "(no steps yet)\n"
    return head + body


def transitions(old: JsonObj | None, new: JsonObj, now: datetime) -> list[str]:
    """``runs watch`` without a terminal: one line per changed status reason or task phase."""
    stamp = now.strftime("%H:%M:%S")
    lines = []
    before, after = (outcome(old).reason if old else ""), outcome(new).reason
    if after and after != before:
        cond = c.find(_status(new).get("conditions"), c.COMPLETED) or {}
        lines.append(f"{stamp}  run  {after}  {_clip(str(cond.get('message') or ''))}".rstrip())
    phases = {str(t.get("name")): t.get("phase") for t in (_status(old).get("tasks") if old else None) or []}
    for row, task in zip(task_rows(new, now), _status(new).get("tasks") or [], strict=True):
        if phases.get(str(task.get("name"))) != task.get("phase"):
            name, phase, _, duration, message = row
            tail = f"  {duration}" if task.get("completedAt") else ""
            lines.append(f"{stamp}  step {name}  {phase}{tail}  {message}".rstrip())
    return lines


def _plane_text(plane: dict[str, Any]) -> str:
    if not plane:
        return NONE
    return f"{plane.get('kind')}/{plane.get('name')} (planeID {plane.get('planeID')})"


def _span(start: str | None, end: str | None, now: datetime) -> str:
    began = parse_time(start)
    if began is None:
        return NONE
    return human_duration(((parse_time(end) or now) - began).total_seconds())


def _since(when: str | None, now: datetime) -> str:
    at = parse_time(when)
    return NONE if at is None else human_duration((now - at).total_seconds())


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_WIDTH else line[: _MESSAGE_WIDTH - 3] + "..."


def _status(run: JsonObj | None) -> dict[str, Any]:
    return dict((run or {}).get("status") or {})


def _meta(run: JsonObj) -> dict[str, Any]:
    return dict(run.get("metadata") or {})
