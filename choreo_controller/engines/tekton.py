"""Tekton Pipelines as an ``Engine``: a ``runTemplate`` that renders a ``tekton.dev/v1`` PipelineRun.

Its tasks come from Tasks the platform installs - in the build namespace (``taskRef.name``) or anywhere
through a resolver (``taskRef.resolver: cluster``) - or are embedded (``taskSpec``); none of that concerns
the controller, which reads what Tekton reports (``pkg/apis/pipeline/v1`` of tektoncd/pipeline v1.6):

* the PipelineRun's ``Succeeded`` condition (knative's): ``True`` -> Succeeded, ``False`` -> Failed,
  ``Unknown`` -> Running, except the reasons that mean nothing runs yet (``PipelineRunPending``,
  ``ResolvingPipelineRef``) -> Pending; no condition -> Pending (Tekton has not picked it up). Its message
  only counts tasks ("Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1"), so a failure's message
  names the failed tasks and their TaskRuns' messages first;
* tasks: one per ``status.childReferences`` entry of kind TaskRun (Tekton's "minimal" status: a TaskRun's
  state lives in the TaskRun, a child object tracking reads from the watch-fed cache), named by its
  ``pipelineTaskName``, its phase from the TaskRun's own ``Succeeded`` condition (``Unknown`` is Running
  once the reason says so - ``Running``, ``ToBeRetried`` - else Pending), times ``startTime`` and
  ``completionTime``; a TaskRun not cached yet is Pending. ``status.skippedTasks`` are Skipped, with the
  reason. Order: started tasks by start time, then the others in the order of the resolved pipeline spec
  (``status.pipelineSpec``: ``tasks`` then ``finally``). A PipelineRun cancelled or timed out is final at
  once, while Tekton is still stopping its running TaskRuns: until those are final too, the run is reported
  Running, so its last status shows how each task ended;
* results: the PipelineRun's ``status.results`` (a value may be a string, an array or an object); step
  outputs: each TaskRun's ``status.results``, the task answering to its pipeline task name and its Task's
  name.

Pods: every pod of the PipelineRun is labelled ``tekton.dev/pipelineRun=<name>``; a task's pod is its
TaskRun's ``status.podName``, and its output is the log of its step containers (``status.steps[].container``:
``step-<name>``) - only the failed ones when a step failed (the entrypoint skips the rest).

Fixes after rendering: ``spec.taskRunTemplate.serviceAccountName`` defaulted to ``workflow-sa`` (the
ServiceAccount every build namespace gets). Parameter values are left as rendered - Tekton takes strings,
arrays and objects. No prerequisites of its own: the task pods need no API access. Cancel:
``spec.status: Cancelled`` (Tekton cancels the running TaskRuns, deletes their pods and ends the
PipelineRun ``Failed``/``Cancelled``); a graceful stop already asked for counts as asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api.resources import TEKTON_PIPELINE_RUN, TEKTON_TASK_RUN
from choreo_controller.engines.port import FINAL, Fixes, Observation, Phase, StepOutputs, StepPod, clip

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import ApiResource, JsonObj

CANCELLED: Final = "Cancelled"
STOPPING: Final = frozenset({CANCELLED, "CancelledRunFinally", "StoppedRunFinally"})  # spec.status values
WAITING: Final = frozenset({"PipelineRunPending", "ResolvingPipelineRef"})  # Unknown, but nothing runs
TASK_RUNNING: Final = frozenset({"Running", "ToBeRetried"})
TASK_LABEL: Final = "tekton.dev/task"
PIPELINE_RUN_LABEL: Final = "tekton.dev/pipelineRun"  # on every TaskRun and pod of the PipelineRun
_LAST: Final = "\uffff"  # sorts after every timestamp: tasks that have not started


class Tekton:
    """The Tekton Pipelines engine."""

    name: Final = "tekton"
    title: Final = "Tekton PipelineRun"
    run: Final = TEKTON_PIPELINE_RUN
    fixes: Final = Fixes(("spec", "taskRunTemplate", "serviceAccountName"))
    watched: Final[tuple[ApiResource, ...]] = (TEKTON_PIPELINE_RUN, TEKTON_TASK_RUN)
    pod_label: Final = PIPELINE_RUN_LABEL

    def prerequisites(self, namespace: str) -> list[tuple[ApiResource, JsonObj]]:
        """None: task pods need no API access."""
        del namespace
        return []

    def children(self, obj: JsonObj) -> list[tuple[ApiResource, str]]:
        """The TaskRuns ``status.childReferences`` names."""
        return [(TEKTON_TASK_RUN, str(ref["name"])) for ref in _task_run_refs(obj)]

    def observe(self, obj: JsonObj, children: Mapping[str, JsonObj]) -> Observation:
        """Fold a PipelineRun's status and its TaskRuns'."""
        condition = _succeeded(obj)
        steps = _steps(obj, children)
        tasks = [task for task, _ in steps]
        phase = _phase(condition)
        settling = [t["name"] for t, run in steps if run is not None and t["phase"] in {"Pending", "Running"}]
        if phase in FINAL and settling:  # cancelled or timed out: Tekton is still stopping these TaskRuns
            return Observation(
                "Running", f"PipelineRun finished; waiting for tasks {settling} to stop", tasks
            )
        return Observation(
            phase=phase,
            message=_run_message(phase, condition, tasks),
            tasks=tasks,
            results=_results((obj.get("status") or {}).get("results")),
            outputs=tuple(_outputs(task, task_run) for task, task_run in steps if task_run is not None),
        )

    def cancel(self, obj: JsonObj) -> JsonObj | None:
        """``spec.status: Cancelled`` unless finished or a stop was asked already."""
        if _phase(_succeeded(obj)) in {"Succeeded", "Failed"}:
            return None
        if (obj.get("spec") or {}).get("status") in STOPPING:
            return None
        return {"spec": {"status": CANCELLED}}

    def pod_selector(self, obj: JsonObj) -> str:
        """The PipelineRun's pods, by Tekton's label."""
        return f"{PIPELINE_RUN_LABEL}={(obj.get('metadata') or {}).get('name', '')}"

    def step_pods(self, obj: JsonObj, children: Mapping[str, JsonObj], pods: list[JsonObj]) -> list[StepPod]:
        """Each task with its TaskRun's pod (``status.podName``); the output is its step containers' logs."""
        by_name = {str((pod.get("metadata") or {}).get("name")): pod for pod in pods}
        out = []
        for task, task_run in _steps(obj, children):
            st = (task_run or {}).get("status") or {}
            pod = by_name.get(str(st.get("podName"))) if st.get("podName") else None
            out.append(StepPod(task["name"], task["phase"], pod, _step_containers(st)))
        return out


TEKTON: Final = Tekton()


def _steps(obj: JsonObj, children: Mapping[str, JsonObj]) -> list[tuple[dict[str, Any], JsonObj | None]]:
    """``(status.tasks entry, its TaskRun or None)`` in order: started by start time, then as declared."""
    st = obj.get("status") or {}
    order = _declared_order(st.get("pipelineSpec"))
    keyed: list[tuple[tuple[str, int, str], dict[str, Any], JsonObj | None]] = []
    for ref in _task_run_refs(obj):
        name = str(ref.get("pipelineTaskName") or ref["name"])
        task_run = children.get(str(ref["name"]))
        task = _task(name, task_run)
        keyed.append(((task.get("startedAt", _LAST), order.get(name, len(order)), name), task, task_run))
    for skipped in st.get("skippedTasks") or []:
        if isinstance(skipped, dict) and skipped.get("name"):
            name = str(skipped["name"])
            task = {"name": name, "phase": "Skipped"} | _message(skipped.get("reason"))
            keyed.append(((_LAST, order.get(name, len(order)), name), task, None))
    return [(task, task_run) for _, task, task_run in sorted(keyed, key=lambda item: item[0])]


def _step_containers(st: dict[str, Any]) -> tuple[str, ...]:
    """The containers of a TaskRun's steps; only those that failed when some did (the rest were skipped)."""
    steps = [s for s in st.get("steps") or [] if isinstance(s, dict) and s.get("container")]
    failed = [
        s
        for s in steps
        if ((s.get("terminated") or {}).get("exitCode") or 0) != 0 and s.get("terminationReason") != "Skipped"
    ]
    return tuple(str(s["container"]) for s in failed or steps)


def _succeeded(obj: JsonObj | None) -> dict[str, Any] | None:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Succeeded"), None)


def _phase(condition: dict[str, Any] | None) -> Phase:
    if condition is None:
        return "Pending"
    status = condition.get("status")
    if status == "True":
        return "Succeeded"
    if status == "False":
        return "Failed"
    return "Pending" if condition.get("reason") in WAITING else "Running"


def _task_run_refs(obj: JsonObj) -> list[dict[str, Any]]:
    refs = (obj.get("status") or {}).get("childReferences") or []
    return [r for r in refs if isinstance(r, dict) and r.get("kind") == "TaskRun" and r.get("name")]


def _declared_order(spec: Any) -> dict[str, int]:
    spec = spec if isinstance(spec, dict) else {}
    declared = [*(spec.get("tasks") or []), *(spec.get("finally") or [])]
    order: dict[str, int] = {}
    for task in declared:
        if isinstance(task, dict):
            order.setdefault(str(task.get("name")), len(order))
    return order


def _task(name: str, task_run: JsonObj | None) -> dict[str, Any]:
    task: dict[str, Any] = {"name": name, "phase": "Pending"}
    if task_run is None:
        return task  # created, not cached yet
    st = task_run.get("status") or {}
    condition = _succeeded(task_run) or {}
    status, reason = condition.get("status"), condition.get("reason")
    if status == "True":
        task["phase"] = "Succeeded"
    elif status == "False":
        task["phase"] = "Failed"
    elif reason in TASK_RUNNING:
        task["phase"] = "Running"
    if st.get("startTime"):
        task["startedAt"] = str(st["startTime"])
    if st.get("completionTime"):
        task["completedAt"] = str(st["completionTime"])
    if task["phase"] in {"Failed", "Pending"}:  # why it failed, or what it waits for; success says nothing
        task |= _message(condition.get("message"))
    return task


def _message(text: Any) -> dict[str, str]:
    return {"message": clip(str(text))} if text else {}


def _run_message(phase: Phase, condition: dict[str, Any] | None, tasks: list[dict[str, Any]]) -> str:
    summary = str((condition or {}).get("message") or "")
    if phase != "Failed":
        return clip(summary)
    failed = [
        f"task {t['name']!r} failed" + (f" ({t['message']})" if t.get("message") else "")
        for t in tasks
        if t["phase"] == "Failed"
    ]
    return clip("; ".join([*failed, summary] if summary else failed))


def _results(results: Any) -> dict[str, Any]:
    return {
        str(r["name"]): r.get("value")
        for r in (results if isinstance(results, list) else ())
        if isinstance(r, dict) and r.get("name")
    }


def _outputs(task: dict[str, Any], task_run: JsonObj) -> StepOutputs:
    name = str(task["name"])
    meta, spec = task_run.get("metadata") or {}, task_run.get("spec") or {}
    ref = spec.get("taskRef")
    task_name = ref.get("name") if isinstance(ref, dict) else None
    task_names = {name, (meta.get("labels") or {}).get(TASK_LABEL), task_name}
    return StepOutputs(
        names=frozenset(str(n) for n in task_names if n),
        phase=str(task["phase"]),
        finished_at=str(task.get("completedAt") or ""),
        values=_results((task_run.get("status") or {}).get("results")),
    )
