"""``write_ready``: compare-then-patch of an object's ``Ready`` condition.

Shared by the reconcilers that report one (Workflow, ClusterWorkflow, Component).
The condition is set on the cached status; if neither it nor ``observedGeneration`` changed, nothing is
written. Otherwise one merge patch of the status subresource, guarded by the cached ``resourceVersion``
(a ``Conflict`` means the cache was stale: the caller's retry reads the newer object).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from choreo_controller.api import conditions as c

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi


async def write_ready(
    api: KubeApi, res: ApiResource, obj: JsonObj, ready: tuple[c.Status, str, str], *, now: datetime
) -> bool:
    """Set ``Ready`` to ``ready`` = ``(status, reason, message)`` on ``obj``; ``True`` if it was written."""
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    gen = int(generation) if isinstance(generation, int) else None
    status, reason, message = ready
    old = dict(obj.get("status") or {})
    conditions = c.set_condition(
        old.get("conditions"), c.READY, status, reason, message, observed_generation=gen, now=now
    )
    if conditions == old.get("conditions") and old.get("observedGeneration") == gen:
        return False
    body = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "status": {"conditions": conditions, "observedGeneration": gen},
    }
    await api.merge_patch(
        res, str(meta["name"]), body, namespace=meta.get("namespace") or None, subresource="status"
    )
    return True
