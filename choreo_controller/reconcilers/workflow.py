"""``WorkflowReconciler``: the ``Ready`` condition of Workflows and ClusterWorkflows (SPEC 2, beyond OC).

``Ready`` says, before any run, whether runs of this Workflow can work at all:

* ``False/InvalidSchema`` - the parameter schema does not compile (``schema.compile_workflow_schema``);
* ``False/InvalidTemplate`` - a template is malformed: CEL syntax, an unclosed ``${``, limits, an
  ``includeWhen`` that is not one expression, duplicate ids (``render.check_workflow``), each problem
  with its path and expression;
* ``True/Valid`` otherwise.

Pure checks (their results are cached per content), then compare-then-patch: a Workflow whose status is
already right is not written. Runs that failed because this Workflow was missing or invalid are
re-enqueued by the Workflow informer's handler (``workflowrun.indexes.runs_of_workflow``), not here: a
reconciler never enqueues other keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.api import conditions as c
from choreo_controller.contracts import Result
from choreo_controller.reconcilers.ready import write_ready
from choreo_controller.render import check_workflow
from choreo_controller.schema import InvalidSchema, compile_workflow_schema

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, JsonObj, KubeApi, ObjectKey
    from choreo_controller.reconcilers.ports import Reader

MAX_PROBLEMS: Final = 20
VALID_MESSAGE: Final = "the parameter schema compiles and every template expression parses"


def readiness(workflow: JsonObj) -> tuple[c.Status, str, str]:
    """``(status, reason, message)`` of the ``Ready`` condition for ``workflow``."""
    try:
        compile_workflow_schema(workflow)
    except InvalidSchema as err:
        return "False", c.R_INVALID_SCHEMA, _join(list(err.problems))
    problems = check_workflow(workflow)
    if problems:
        return "False", c.R_INVALID_TEMPLATE, _join([p.message for p in problems])
    return "True", c.R_VALID, VALID_MESSAGE


def _join(lines: list[str]) -> str:
    more = len(lines) - MAX_PROBLEMS
    return "; ".join(lines[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")


class WorkflowReconciler:
    """Keeps ``status.conditions[Ready]`` of one kind (Workflow or ClusterWorkflow) current."""

    def __init__(self, api: KubeApi, cache: Reader, resource: ApiResource, clock: Clock) -> None:
        self._api = api
        self._cache = cache
        self._resource = resource
        self._clock = clock

    async def reconcile(self, key: ObjectKey) -> Result:
        """Compute ``Ready``; write it only if it changed."""
        workflow = self._cache.get(key)
        if workflow is None:
            return Result()
        await write_ready(self._api, self._resource, workflow, readiness(workflow), now=self._clock.now())
        return Result()
