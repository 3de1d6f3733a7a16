"""Cancel by annotation (SPEC section 5 step 8): ``openchoreo.dev/cancel: "true"`` stops the Argo Workflow.

The reconciler asks Argo to stop with a merge patch ``spec.shutdown: Terminate`` (Argo kills running pods
and ends the workflow ``Failed``), then keeps tracking as usual: ``status.desired`` maps that failure to
``Cancelled``. A run cancelled before it was submitted ends ``Cancelled`` at once, without submitting.
Idempotent: once the shutdown is set, or Argo has finished, nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.api.resources import ARGO_WORKFLOW
from choreo_controller.contracts import NotFound
from choreo_controller.reconcilers.workflowrun.status import is_finished

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

TERMINATE: Final = "Terminate"
CANCELLED_BEFORE_SUBMISSION: Final = "Cancelled on request before it was submitted; nothing ran"


def needs_shutdown(argo: JsonObj) -> bool:
    """The Argo Workflow is still going and has not been told to stop."""
    return not is_finished(argo) and (argo.get("spec") or {}).get("shutdown") != TERMINATE


async def shutdown(api: KubeApi, argo: JsonObj) -> bool:
    """Ask Argo to terminate ``argo``; ``False`` if there was nothing to do (finished, asked, gone)."""
    if not needs_shutdown(argo):
        return False
    meta = argo.get("metadata") or {}
    try:
        await api.merge_patch(
            ARGO_WORKFLOW,
            str(meta.get("name")),
            {"spec": {"shutdown": TERMINATE}},
            namespace=meta.get("namespace"),
        )
    except NotFound:
        return False
    return True
