"""Argo Workflows as an ``Engine``: a ``runTemplate`` that renders an ``argoproj.io/v1alpha1`` Workflow.

* Fixes after rendering: ``spec.serviceAccountName`` defaulted to ``workflow-sa``; every
  ``spec.arguments.parameters[*].value`` becomes text (Argo wants strings; as OpenChoreo writes them).
* Prerequisite: the Role ``choreo-workflow-taskresults`` granting ``workflow-sa`` the table's Argo
  ``GRANT`` rows (create/patch of ``workflowtaskresults``: what Argo's executor writes), and its binding.
* Observe: ``status.phase`` folded to four (Argo's ``Error`` is a failure), ``status.message``; tasks are
  the nodes of ``type: Pod`` (steps, DAG tasks, retries' attempts): name = ``displayName`` (else the text
  after the last ``.`` of the node name), ordered by the *last* ``[N]`` index in the node name (the step
  group; nested groups end with the innermost index), then by start time and name, so parallel steps keep a
  stable order; ``Omitted`` becomes ``Skipped``; empty timestamps are left out (the CRD says
  ``format: date-time``). Results: ``status.outputs.parameters``; step outputs: every node's output
  parameters, the node answering to its display name, template name and ``templateRef.template``.
* Cancel: ``spec.shutdown: Terminate`` (Argo kills running pods and ends the Workflow ``Failed``).
* Pods: Argo labels every pod of a Workflow ``workflows.argoproj.io/workflow=<name>`` and names the node it
  runs in the annotation ``workflows.argoproj.io/node-id``; a step's own output is the log of the ``main``
  container (``init`` and ``wait`` are Argo's executor).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import buildkinds
from choreo_controller.api.resources import ARGO_WORKFLOW
from choreo_controller.engines.port import (
    TASK_PHASES,
    Fixes,
    Observation,
    Phase,
    StepOutputs,
    StepPod,
    clip,
    grant_role,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import ApiResource, JsonObj

TERMINATE: Final = "Terminate"
POD_WORKFLOW_LABEL: Final = "workflows.argoproj.io/workflow"
NODE_ID_ANNOTATION: Final = "workflows.argoproj.io/node-id"
MAIN_CONTAINER: Final = "main"
ROLE: Final = "choreo-workflow-taskresults"
_PHASES: Final[dict[str, Phase]] = {
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Error": "Failed",
}
_INDEX = re.compile(r"\[(\d+)\]")
_NO_INDEX: Final = 1 << 30  # a Pod node outside any step group sorts last


class Argo:
    """The Argo Workflows engine."""

    name: Final = "argo"
    title: Final = "Argo Workflow"
    run: Final = ARGO_WORKFLOW
    fixes: Final = Fixes(("spec", "serviceAccountName"), ("spec", "arguments", "parameters"))
    watched: Final[tuple[ApiResource, ...]] = (ARGO_WORKFLOW,)
    pod_label: Final = POD_WORKFLOW_LABEL

    def prerequisites(self, namespace: str) -> list[tuple[ApiResource, JsonObj]]:
        """The task-results Role and its binding."""
        return grant_role(namespace, ROLE, buildkinds.grants(self.name))

    def children(self, obj: JsonObj) -> list[tuple[ApiResource, str]]:
        """None: an Argo Workflow carries its nodes' state."""
        del obj
        return []

    def observe(self, obj: JsonObj, children: Mapping[str, JsonObj]) -> Observation:
        """Fold an Argo Workflow's status."""
        del children
        st = obj.get("status") or {}
        nodes = [n for n in (st.get("nodes") or {}).values() if isinstance(n, dict)]
        return Observation(
            phase=_PHASES.get(str(st.get("phase") or ""), "Pending"),
            message=clip(str(st.get("message") or "")),
            tasks=[_task(node) for _, node in _pod_nodes(obj)],
            results=_parameters(st.get("outputs")),
            outputs=tuple(_step(node) for node in nodes),
        )

    def cancel(self, obj: JsonObj) -> JsonObj | None:
        """``spec.shutdown: Terminate`` unless finished or already set."""
        if self.observe(obj, {}).finished or (obj.get("spec") or {}).get("shutdown") == TERMINATE:
            return None
        return {"spec": {"shutdown": TERMINATE}}

    def pod_selector(self, obj: JsonObj) -> str:
        """The Workflow's pods, by Argo's label."""
        return f"{POD_WORKFLOW_LABEL}={(obj.get('metadata') or {}).get('name', '')}"

    def step_pods(self, obj: JsonObj, children: Mapping[str, JsonObj], pods: list[JsonObj]) -> list[StepPod]:
        """Each Pod node with the pod that names its node id; the output is ``main``'s log."""
        del children
        by_node: dict[str, JsonObj] = {}
        for pod in pods:
            node = ((pod.get("metadata") or {}).get("annotations") or {}).get(NODE_ID_ANNOTATION)
            if isinstance(node, str) and node:
                by_node[node] = pod
        return [
            StepPod(task["name"], task["phase"], by_node.get(node_id), (MAIN_CONTAINER,))
            for node_id, node in _pod_nodes(obj)
            for task in (_task(node),)
        ]


ARGO: Final = Argo()


def _pod_nodes(obj: JsonObj) -> list[tuple[str, dict[str, Any]]]:
    """``(node id, node)`` of the Pod nodes, in execution order: the order of ``status.tasks``."""
    nodes = (obj.get("status") or {}).get("nodes") or {}
    pods = [(str(k), n) for k, n in nodes.items() if isinstance(n, dict) and n.get("type") == "Pod"]
    return sorted(pods, key=lambda item: _order(item[1]))


def _order(node: dict[str, Any]) -> tuple[int, str, str]:
    name = str(node.get("name") or "")
    indexes = _INDEX.findall(name)
    return (int(indexes[-1]) if indexes else _NO_INDEX, str(node.get("startedAt") or ""), name)


def _task(node: dict[str, Any]) -> dict[str, Any]:
    name = str(node.get("displayName") or "") or str(node.get("name") or "").rsplit(".", 1)[-1]
    phase = str(node.get("phase") or "Pending")
    phase = "Skipped" if phase == "Omitted" else phase
    task: dict[str, Any] = {"name": name or "unknown", "phase": phase if phase in TASK_PHASES else "Pending"}
    if node.get("startedAt"):
        task["startedAt"] = str(node["startedAt"])
    if node.get("finishedAt"):
        task["completedAt"] = str(node["finishedAt"])
    if node.get("message"):
        task["message"] = clip(str(node["message"]))
    return task


def _parameters(outputs: Any) -> dict[str, Any]:
    params = outputs.get("parameters") if isinstance(outputs, dict) else None
    return {
        str(p["name"]): p["value"]
        for p in (params if isinstance(params, list) else ())
        if isinstance(p, dict) and p.get("name") and isinstance(p.get("value"), str)
    }


def _step(node: dict[str, Any]) -> StepOutputs:
    ref = node.get("templateRef")
    template = ref.get("template") if isinstance(ref, dict) else None
    names = {node.get("displayName"), node.get("templateName"), template}
    return StepOutputs(
        names=frozenset(str(n) for n in names if n),
        phase=str(node.get("phase") or ""),
        finished_at=str(node.get("finishedAt") or ""),
        values=_parameters(node.get("outputs")),
    )
