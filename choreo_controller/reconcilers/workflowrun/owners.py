"""Whose is a build-plane object, and is that run gone? Answered from labels and a live read, never a cache.

Every object the engine creates for a run carries the run's name, namespace and uid as labels (forced by
the renderer, ``api.labels.run_labels``), and is found again by them: cleanup and the orphan sweep list
every ``RUN`` and ``EXTRA`` kind of ``api.buildkinds`` by the ``openchoreo.dev/workflowrun-uid`` label.

Why labels rather than the two alternatives:

* recording in ``status`` what will be created, before creating it, costs one more control-plane write per
  run on the happy path - and a run's writes are the engine's scarcest resource; the labels are written
  anyway, as part of each object's create;
* an owner reference to the run object (the build plane's garbage collector following it) cannot cover
  the extra resources created *before* the run object (an ExternalSecret its pods mount), the run object
  itself, or a build plane without a garbage collector.

``run_gone`` is the one judgement of "this object's run no longer exists": a GET of the run by the name
its labels give, in the control plane - not the informer cache, which may be behind (a new leader's, or
one that missed events) - that is ``NotFound`` or returns another uid. A uid is never reused, so a run
once gone never comes back: deleting or replacing such an object can never hurt a live run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.api import labels
from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

#: Label selector matching every object the engine created for some run.
RUN_UID_SELECTOR: Final = f"{labels.MANAGED_SELECTOR},{labels.LABEL_WORKFLOWRUN_UID}"


def uid_selector(uid: str) -> str:
    """Label selector matching every object the engine created for the run ``uid``."""
    return f"{labels.MANAGED_SELECTOR},{labels.LABEL_WORKFLOWRUN_UID}={uid}"


def run_labels_of(obj: JsonObj) -> tuple[str, str, str] | None:
    """``(namespace, name, uid)`` of the run ``obj``'s labels name; ``None`` unless all are set and ours.

    An object managed by someone else is never ours to judge, whatever else it carries; one an earlier
    release created (``labels.MANAGED_BY_BEFORE``) is ours.
    """
    found = (obj.get("metadata") or {}).get("labels") or {}
    if found.get(labels.LABEL_MANAGED_BY) not in labels.MANAGED_BY_VALUES:
        return None
    keys = (labels.LABEL_WORKFLOWRUN_NAMESPACE, labels.LABEL_WORKFLOWRUN, labels.LABEL_WORKFLOWRUN_UID)
    values = tuple(str(found.get(key) or "") for key in keys)
    return (values[0], values[1], values[2]) if all(values) else None


async def run_gone(control_plane: KubeApi, obj: JsonObj) -> bool:
    """Whether the run ``obj`` was created for no longer exists (live read). Incomplete labels: ``False``."""
    named = run_labels_of(obj)
    if named is None:
        return False  # not created by the engine as it does today: never judged gone
    namespace, name, uid = named
    try:
        run = await control_plane.get(WORKFLOW_RUN, name, namespace)
    except NotFound:
        return True
    return str((run.get("metadata") or {}).get("uid") or "") != uid
