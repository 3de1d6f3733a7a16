"""Outputs for Argo steps under kwok: the part of Argo's executor a simulated pod cannot play.

Argo's executor runs inside each pod and reports the step's outputs as a ``WorkflowTaskResult``; kwok runs
no containers, so a step that declares ``outputs`` would wait forever ("required outputs are not yet set").
``StepOutputs`` watches the pods of Argo Workflows in one build-plane namespace and, for each pod of a step
it knows, creates the task result the executor would have written (notes/real-cluster-recipe.md (d)):

* name = the pod's ``workflows.argoproj.io/node-id`` annotation, labels ``workflows.argoproj.io/workflow``
  and ``workflows.argoproj.io/report-outputs-completed: "true"``, owned by the Workflow;
* ``outputs.parameters`` from a fixed dict, or from a function of the step's *input* parameters (read from
  the Workflow's node status) - so a step's "known output" can depend on what the previous steps
  produced, e.g. a Workload YAML carrying the image the publish step reported.

Steps are recognised by the last segment of the pod's ``workflows.argoproj.io/node-name`` (``wf[2].step``,
retries' ``(N)`` stripped). Use as ``async with StepOutputs(api, namespace, {...}) as outputs:``;
``outputs.injected`` lists ``(workflow, step)`` pairs done so far, ``outputs.errors`` anything that went
wrong (a test asserts it is empty, so a broken harness fails loudly instead of timing out).
"""

from __future__ import annotations

import asyncio
import contextlib
import re

from waiting import async_wait_for

from choreo_controller.api.resources import ARGO_WORKFLOW, ARGO_WORKFLOW_TASK_RESULT, POD
from choreo_controller.contracts import AlreadyExists
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer

WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
NODE_ID = "workflows.argoproj.io/node-id"
NODE_NAME = "workflows.argoproj.io/node-name"
_RETRY = re.compile(r"\(\d+\)$")


def step_of(pod):
    node = (pod["metadata"].get("annotations") or {}).get(NODE_NAME, "")
    return _RETRY.sub("", node.rsplit(".", 1)[-1]) if "." in node else ""


def inputs_of(argo, node_id):
    """The step's resolved input parameters, from the Workflow's node status (Argo strips them from the
    template it hands the pod), and the Workflow's arguments as ``workflow.parameters.<name>`` (what a
    step's script reads through its environment)."""
    node = ((argo.get("status") or {}).get("nodes") or {}).get(node_id) or {}
    arguments = ((argo.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    found = {f"workflow.parameters.{p['name']}": p.get("value", "") for p in arguments}
    found.update({p["name"]: p.get("value", "") for p in (node.get("inputs") or {}).get("parameters") or []})
    return found


def task_result(pod, parameters):
    meta = pod["metadata"]
    workflow = meta["labels"][WORKFLOW_LABEL]
    owner = next(ref for ref in meta.get("ownerReferences") or [] if ref.get("kind") == "Workflow")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": meta["annotations"][NODE_ID],
            "namespace": meta["namespace"],
            "labels": {WORKFLOW_LABEL: workflow, "workflows.argoproj.io/report-outputs-completed": "true"},
            "ownerReferences": [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Workflow",
                    "name": workflow,
                    "uid": owner["uid"],
                }
            ],
        },
        "outputs": {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]},
    }


class StepOutputs:
    """Creates task results for the pods of known steps in ``namespace`` until the context exits."""

    def __init__(self, api, namespace, outputs):
        self._api = api
        self._namespace = namespace
        self._outputs = outputs  # step -> dict of parameters, or a function(inputs) -> dict
        self._informer = Informer(
            api, POD, clock=RealClock(), namespace=namespace, label_selector=WORKFLOW_LABEL
        )
        self._pending = asyncio.Queue()
        self._seen = set()
        self._tasks = []
        self.injected = []
        self.errors = []

    async def __aenter__(self):
        self._informer.add_handler(EventHandler(on_add=self._pending.put_nowait))
        self._tasks = [
            asyncio.create_task(self._informer.run(), name="step-outputs-informer"),
            asyncio.create_task(self._work(), name="step-outputs-worker"),
        ]
        await asyncio.wait_for(self._informer.wait_synced(), 30)
        return self

    async def __aexit__(self, *exc):
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self):
        while True:
            pod = await self._pending.get()
            step, meta = step_of(pod), pod["metadata"]
            node_id = (meta.get("annotations") or {}).get(NODE_ID)
            if step not in self._outputs or not node_id or node_id in self._seen:
                continue
            self._seen.add(node_id)
            try:
                await self._inject(pod, step, node_id)
            except Exception as exc:  # noqa: BLE001 - reported to the test through ``errors``
                self.errors.append(f"{step}: {type(exc).__name__}: {exc}")

    async def _inject(self, pod, step, node_id):
        workflow = pod["metadata"]["labels"][WORKFLOW_LABEL]
        produce = self._outputs[step]
        if callable(produce):
            # The pod can exist before Argo has persisted the node (with its inputs) in the Workflow status.
            argo = await async_wait_for(
                f"node {node_id} in the status of {workflow}",
                lambda: self._with_node(workflow, node_id),
                within=30,
            )
            produce = produce(inputs_of(argo, node_id))
        with contextlib.suppress(AlreadyExists):
            await self._api.create(ARGO_WORKFLOW_TASK_RESULT, task_result(pod, produce))
        self.injected.append((workflow, step))

    async def _with_node(self, workflow, node_id):
        argo = await self._api.get(ARGO_WORKFLOW, workflow, self._namespace)
        return argo if node_id in ((argo.get("status") or {}).get("nodes") or {}) else None


def generated_workload(inputs):
    """The document the sample ``generate-workload-cr`` script writes for these inputs."""
    return (
        "apiVersion: openchoreo.dev/v1alpha1\n"
        "kind: Workload\n"
        "metadata:\n"
        f"  name: {inputs['component-name']}-workload\n"
        "spec:\n"
        "  owner:\n"
        f"    projectName: {inputs['project-name']}\n"
        f"    componentName: {inputs['component-name']}\n"
        "  containers:\n"
        "    main:\n"
        f"      image: {inputs['image']}\n"
    )
