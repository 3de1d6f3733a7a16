"""Cleanup of a deleted run in the build plane it was submitted to (SPEC section 5 step 9).

Only the plane recorded in ``status.buildPlane`` is touched - the Workflow is never re-resolved, it may be
gone or changed. Deleted, in order:

1. every ``status.resources`` entry and the ``status.runReference`` (``NotFound`` is done);
2. any Argo Workflow or ExternalSecret in the build namespace still labelled with this run's uid: objects
   created just before a crash, before ``status`` recorded them. Each is deleted with a uid precondition,
   so an object that was replaced in between is left alone.

Only then does the reconciler remove the finalizer. An unreachable plane raises (``Unavailable``), the
finalizer stays, and the key is retried with backoff until the plane is back. Shared prerequisites
(namespace, service account, RBAC) stay: other runs use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import labels
from choreo_controller.api.resources import ARGO_WORKFLOW, EXTERNAL_SECRET, resource_for
from choreo_controller.contracts import Conflict, NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi

#: Kinds swept by label (cleanup after a crash, and the orphan sweep).
LABELLED_KINDS: Final[tuple[ApiResource, ...]] = (ARGO_WORKFLOW, EXTERNAL_SECRET)


def recorded_refs(run: JsonObj) -> list[dict[str, Any]]:
    """``status.resources`` then ``status.runReference``: what the run recorded as created."""
    st = run.get("status") or {}
    refs = [r for r in st.get("resources") or [] if isinstance(r, dict)]
    if isinstance(st.get("runReference"), dict):
        refs.append(st["runReference"])
    return refs


async def delete_quietly(
    api: KubeApi, resource: ApiResource, name: str, namespace: str | None, uid: str | None = None
) -> bool:
    """Delete; ``False`` if it was already gone or (with ``uid``) replaced by another object."""
    try:
        await api.delete(resource, name, namespace=namespace or None, uid=uid)
    except (NotFound, Conflict):
        return False
    return True


async def cleanup(api: KubeApi, run: JsonObj) -> int:
    """Delete the run's build-plane objects; returns how many deletes were issued. Raises if unreachable."""
    deleted = 0
    for ref in recorded_refs(run):
        resource = resource_for(str(ref.get("apiVersion")), str(ref.get("kind")))
        if resource is None:
            continue  # not a kind we create; nothing we could have made
        deleted += await delete_quietly(api, resource, str(ref.get("name")), str(ref.get("namespace") or ""))
    meta = run.get("metadata") or {}
    uid, namespace = str(meta.get("uid") or ""), str(meta.get("namespace") or "")
    if uid:
        selector = f"{labels.LABEL_WORKFLOWRUN_UID}={uid}"
        build_ns = labels.build_namespace(namespace)
        for resource in LABELLED_KINDS:
            for obj in (await api.list(resource, build_ns, label_selector=selector)).items:
                obj_meta = obj.get("metadata") or {}
                if obj_meta.get("deletionTimestamp"):
                    continue
                deleted += await delete_quietly(
                    api, resource, str(obj_meta.get("name")), build_ns, str(obj_meta.get("uid") or "") or None
                )
    return deleted
