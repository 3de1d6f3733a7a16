"""Secondary indexes on the WorkflowRun cache, and the key mappers built on them.

Index functions are pure (object -> values) and are registered on the runs informer's store by ``app``;
the mappers turn an event on *another* kind into the run keys that must look again, without decoding every
cached run:

* ``UID`` - ``metadata.uid``: the orphan sweep asks "does a run with this uid still exist?".
* ``REVIVABLE`` - runs that failed before submission only because their Workflow was missing or invalid,
  by ``Workflow/<ns>/<name>`` or ``ClusterWorkflow/<name>`` (a run naming no kind under both: either
  appearing can start it): a Workflow event re-enqueues exactly those.
* ``WAITING`` - runs waiting for a plane (``{Build,Workflow}Plane{NotFound,Unavailable}``), by namespace
  and under ``*``: an event of a namespaced plane kind re-enqueues its namespace's, of a cluster-scoped
  one all.
* ``IN_FLIGHT`` - runs not completed yet, or being deleted: the slow safety resync re-enqueues them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.api import refs
from choreo_controller.reconcilers.workflowrun import state
from choreo_controller.reconcilers.workflowrun.resolve import workflow_index_value, workflow_ref

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import JsonObj, ObjectKey
    from choreo_controller.reconcilers.ports import Reader

UID: Final = "workflowrun-uid"
REVIVABLE: Final = "revivable-by-workflow"
WAITING: Final = "waiting-for-build-plane"
IN_FLIGHT: Final = "in-flight"
ALL: Final = "*"


def by_uid(run: JsonObj) -> list[str]:
    """``[uid]``."""
    uid = state.meta(run).get("uid")
    return [str(uid)] if uid else []


def by_revivable_workflow(run: JsonObj) -> list[str]:
    """The run's Workflow, if the run is waiting for that Workflow to appear or be fixed."""
    if not state.is_revivable(run):
        return []
    ref = workflow_ref(run)
    kinds = [ref.kind] if ref.kind else [refs.WORKFLOW, refs.CLUSTER_WORKFLOW]
    namespace = str(state.meta(run).get("namespace") or "")
    return [workflow_index_value(kind, namespace, ref.name) for kind in kinds]


def by_waiting_namespace(run: JsonObj) -> list[str]:
    """``[namespace, "*"]`` while the run waits for a build plane."""
    if state.is_completed(run) or state.completed_reason(run) not in state.WAITING:
        return []
    return [str(state.meta(run).get("namespace") or ""), ALL]


def in_flight(run: JsonObj) -> list[str]:
    """``["*"]`` for runs the safety resync must look at again."""
    return [ALL] if state.is_deleting(run) or not state.is_completed(run) else []


INDEXERS: Final[dict[str, Callable[[JsonObj], list[str]]]] = {
    UID: by_uid,
    REVIVABLE: by_revivable_workflow,
    WAITING: by_waiting_namespace,
    IN_FLIGHT: in_flight,
}


def runs_of_workflow(runs: Reader, kind: str) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a Workflow (``kind`` Workflow or ClusterWorkflow) -> the revivable runs naming it."""

    def mapper(workflow: JsonObj) -> list[ObjectKey]:
        meta = workflow.get("metadata") or {}
        value = workflow_index_value(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        return runs.index_keys(REVIVABLE, value)

    return mapper


def runs_waiting_for_plane(runs: Reader, *, cluster: bool) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a namespaced plane -> its namespace's waiting runs; a cluster-scoped one -> all of them."""

    def mapper(plane: JsonObj) -> list[ObjectKey]:
        value = ALL if cluster else str((plane.get("metadata") or {}).get("namespace") or "")
        return runs.index_keys(WAITING, value)

    return mapper
