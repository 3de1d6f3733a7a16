"""The WorkflowRun engine (SPEC section 5), split by phase.

* ``reconciler``  - ``WorkflowRunReconciler.reconcile(key)``: dispatch, finalizer, TTL, outcomes;
  ``settled_expiry``, the summary the runs cache keeps of each run;
* ``submitting``  - resolve, validate, render, submit (``resolve``, ``plan``, ``submit``);
* ``tracking``    - run object -> status by watch, coalesced, through its ``engines.Engine`` (``status``:
  the pure mapping; ``cancel``);
* ``finalize``    - cleanup in the recorded build plane; ``sweep`` - orphans of vanished runs; ``owners`` -
  whose is a build-plane object (its labels) and is that run gone (a live read);
* ``state``       - pure lifecycle transitions and status diffs; ``ttl`` - pure TTL arithmetic;
* ``writer``      - compare-then-patch of status, Events and run metrics; ``indexes`` - cache indexes.
"""

from choreo_controller.reconcilers.workflowrun.indexes import INDEXERS
from choreo_controller.reconcilers.workflowrun.reconciler import (
    RunDeps,
    WorkflowRunReconciler,
    settled_expiry,
)
from choreo_controller.reconcilers.workflowrun.sweep import OrphanSweep

__all__ = ["INDEXERS", "OrphanSweep", "RunDeps", "WorkflowRunReconciler", "settled_expiry"]
