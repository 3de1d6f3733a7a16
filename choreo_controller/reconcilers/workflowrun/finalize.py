"""Cleanup of a deleted run in the build plane it was submitted to (SPEC section 5 step 9).

Only the plane recorded in ``status.plane`` (``status.buildPlane`` for runs submitted before that field) is
touched - the Workflow is never re-resolved, it may be gone or changed. Deleted, in order:

1. every ``status.resources`` entry and the ``status.runReference`` (``NotFound`` is done);
2. every object of a ``RUN`` or ``EXTRA`` kind of ``api.buildkinds`` labelled with this run's uid, in any
   build namespace (``owners``: why labels): objects created before a crash, or by a submission that a
   delete raced - the status write recording them failed with ``Conflict`` - are found all the same. Each
   is deleted with a uid precondition, so an object that was replaced in between is left alone. A kind the
   plane does not serve (``NotFound`` on the list: no ExternalSecret CRD) holds nothing to delete.

Only then does the reconciler remove the finalizer. An unreachable plane raises (``Unavailable``), the
finalizer stays, and the key is retried with backoff until the plane is back. Shared prerequisites
(namespace, service account, RBAC) stay: other runs use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from choreo_controller.api import buildkinds
from choreo_controller.contracts import Conflict, NotFound
from choreo_controller.reconcilers.workflowrun.owners import uid_selector

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi


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


async def labelled_objects(api: KubeApi, resource: ApiResource, selector: str) -> list[JsonObj]:
    """Objects of ``resource`` in every (build) namespace matching ``selector``, not being deleted yet.

    A kind the plane does not serve is ``NotFound``: it holds none.
    """
    try:
        listed = await api.list(resource, None, label_selector=selector)
    except NotFound:
        return []
    return [o for o in listed.items if not (o.get("metadata") or {}).get("deletionTimestamp")]


async def cleanup(api: KubeApi, run: JsonObj) -> int:
    """Delete the run's build-plane objects; returns how many deletes were issued. Raises if unreachable."""
    deleted = 0
    for ref in recorded_refs(run):
        api_version, kind = str(ref.get("apiVersion")), str(ref.get("kind"))
        resource = buildkinds.extra_kind(api_version, kind) or buildkinds.run_kind(api_version, kind)
        if resource is None:
            continue  # not a kind we create; nothing we could have made
        deleted += await delete_quietly(api, resource, str(ref.get("name")), str(ref.get("namespace") or ""))
    uid = str((run.get("metadata") or {}).get("uid") or "")
    if uid:
        for resource in buildkinds.labelled():
            for obj in await labelled_objects(api, resource, uid_selector(uid)):
                meta = obj.get("metadata") or {}
                deleted += await delete_quietly(
                    api, resource, str(meta.get("name")), str(meta.get("namespace") or ""), meta.get("uid")
                )
    return deleted
