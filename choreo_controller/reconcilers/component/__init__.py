"""Component workflows (SPEC section 6): governance, the Component's ``Ready``, workload generation.

* ``governance`` - pure checks of a Component's workflow and of a component run; ``ComponentGovernance``
  is the WorkflowRun engine's ``ports.Governance`` hook (terminal ``ComponentValidationFailed``);
* ``reconciler`` - ``ComponentReconciler``: ``Ready`` (``WorkflowNotAllowed``, ``WorkflowNotFound``, ...)
  on Components, plus the cache indexes and mappers that re-enqueue Components on related events;
* ``workload``   - a succeeded build's ``workload-cr`` output as the ``Workload`` to apply, stamped with the
  run that wrote it, and the order guard (pure);
* ``generation`` - ``WorkloadWriter``: applies it, never over a newer build's, and sets the run's
  ``WorkloadUpdated`` condition (called by the WorkflowRun tracker).
"""

from choreo_controller.reconcilers.component.generation import WorkloadWriter
from choreo_controller.reconcilers.component.governance import (
    ApiLookup,
    CachedLookup,
    ComponentGovernance,
    ComponentLookup,
    ConfirmedLookup,
    check_run_governance,
)
from choreo_controller.reconcilers.component.reconciler import (
    INDEXERS,
    ComponentCaches,
    ComponentReconciler,
    components_of_type,
    components_of_workflow,
)

__all__ = [
    "INDEXERS",
    "ApiLookup",
    "CachedLookup",
    "ComponentCaches",
    "ComponentGovernance",
    "ComponentLookup",
    "ComponentReconciler",
    "ConfirmedLookup",
    "WorkloadWriter",
    "check_run_governance",
    "components_of_type",
    "components_of_workflow",
]
