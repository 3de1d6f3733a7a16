"""Cancel by annotation (SPEC section 5 step 8): ``openchoreo.dev/cancel: "true"`` stops the run object.

The reconciler asks the engine to stop with the merge patch the engine names (``Engine.cancel``), then keeps
tracking as usual: ``status.desired`` maps the failure that follows to ``Cancelled``. A run cancelled before
it was submitted ends ``Cancelled`` at once, without submitting. Idempotent: once the engine was asked, or
the run object has finished, nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from choreo_controller.contracts import NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi
    from choreo_controller.engines import Engine

CANCELLED_BEFORE_SUBMISSION: Final = "Cancelled on request before it was submitted; nothing ran"


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
