"""Cancel by annotation (SPEC section 5 step 8): ``openchoreo.dev/cancel: "true"`` stops the run object.

The reconciler asks the engine to stop with the merge patch the engine names (``Engine.cancel``), then keeps
tracking as usual: ``status.desired`` maps the failure that follows to ``Cancelled``. A run cancelled before
it was submitted ends ``Cancelled`` at once, without submitting. Idempotent: once the engine was asked, or
the run object has finished, nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.api import labels
from choreo_controller.contracts import NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi
    from choreo_controller.engines import Engine

CANCELLED: Final = "Cancelled on request"


def cancelled_as(run: JsonObj) -> str:
    """How a cancelled run's messages begin: ``Cancelled on request``, or who superseded it.

    A newer run of a ``CancelInProgress`` concurrency group names itself in ``openchoreo.dev/superseded-by``.
    """
    by = ((run.get("metadata") or {}).get("annotations") or {}).get(labels.ANNOTATION_SUPERSEDED_BY)
    return f"Cancelled: superseded by run {by!r} (concurrency policy CancelInProgress)" if by else CANCELLED


def cancelled_before_submission(run: JsonObj) -> str:
    """The message of a run cancelled before it was submitted."""
    return f"{cancelled_as(run)} before it was submitted; nothing ran"


async def stop(api: KubeApi, engine: Engine, resource: ApiResource, obj: JsonObj) -> bool:
    """Ask ``engine`` to stop ``obj``; ``False`` if there was nothing to do (finished, asked, gone)."""
    patch = engine.cancel(obj)
    if patch is None:
        return False
    meta = obj.get("metadata") or {}
    try:
        await api.merge_patch(resource, str(meta.get("name")), patch, namespace=meta.get("namespace"))
    except NotFound:
        return False
    return True
