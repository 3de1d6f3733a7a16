"""Component workflows (SPEC section 6): governance, the Component's ``Ready``, workload generation.

* ``governance`` - pure checks of a Component's workflow and of a component run; ``ComponentGovernance``
  is the WorkflowRun engine's ``ports.Governance`` hook (terminal ``ComponentValidationFailed``);
* ``reconciler`` - ``ComponentReconciler``: ``Ready`` (``WorkflowNotAllowed``, ``WorkflowNotFound``, ...)
  on Components, plus the cache indexes and mappers that re-enqueue Components on related events;
* ``workload``   - a succeeded build's ``workload-cr`` output applied as a ``Workload`` and the
  ``WorkloadUpdated`` condition (``workload_status``, called by the WorkflowRun tracker).
"""

from choreo_controller.reconcilers.component.governance import (
    ApiLookup,
    CachedLookup,
    ComponentGovernance,
    ComponentLookup,
    check_run_governance,
)
from choreo_controller.reconcilers.component.reconciler import (
    INDEXERS,
    ComponentCaches,
    ComponentReconciler,
    components_of_type,
    components_of_workflow,
)
from choreo_controller.reconcilers.component.workload import generate_workload, workload_status

__all__ = [
    "INDEXERS",
    "ApiLookup",
    "CachedLookup",
    "ComponentCaches",
    "ComponentGovernance",
    "ComponentLookup",
    "ComponentReconciler",
    "check_run_governance",
    "components_of_type",
    "components_of_workflow",
    "generate_workload",
    "workload_status",
]
