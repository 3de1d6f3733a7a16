"""Creating a run's objects in the build plane: prerequisites, extras, the run object (SPEC 5 step 6).

Everything is *create if missing* with deterministic names, so a crash at any point repeats safely:

* Prerequisites of the build namespace (``openchoreo-ci-<ns>`` or ``workflows-<ns>``) - the Namespace,
  ServiceAccount ``workflow-sa``, and the engine's own (``Engine.prerequisites``: a Role + RoleBinding
  granting ``workflow-sa`` the engine's ``GRANT`` rows of ``api.buildkinds``, when it has any). GET, then
  create; ``AlreadyExists`` from a racing writer is success. They are shared by every run of the namespace
  and never deleted by a run's cleanup. A namespace checked once for an engine is remembered per plane until a
  create in it fails.
* Each planned object is created. On ``AlreadyExists`` the existing object is read: carrying this run's
  ``openchoreo.dev/workflowrun-uid`` label it is *adopted* (we created it before a crash); being deleted
  (the previous run of the same name is still cleaning up) -> ``RequeueSoon``; carrying our labels for a
  run that no longer exists (``owners.run_gone``: a live read) it is our own orphan and is *replaced*
  (deleted with a uid precondition, created again); anything else is a terminal ``NameConflict`` naming
  the object - never overwritten.

Writes go through the plane's ``KubeApi`` (direct or relayed); ``Unavailable`` propagates to the reconciler,
which reports ``BuildPlaneUnavailable`` and retries with backoff.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Final

import structlog

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import NAMESPACE, SERVICE_ACCOUNT
from choreo_controller.contracts import AlreadyExists, ApiError, NotFound, TerminalError
from choreo_controller.reconcilers.workflowrun.finalize import delete_quietly
from choreo_controller.reconcilers.workflowrun.owners import run_gone

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi
    from choreo_controller.engines import Engine
    from choreo_controller.reconcilers.workflowrun.plan import Planned

log = structlog.get_logger("choreo_controller.workflowrun")
DELETING_RETRY: Final = 1.0  # seconds: how soon to look again at an object that is being deleted


class RequeueSoon(Exception):
    """Come back in ``seconds``; nothing is wrong, something else has to finish first."""

    def __init__(self, seconds: float, why: str) -> None:
        super().__init__(why)
        self.seconds = seconds


def prerequisites(namespace: str, engine: Engine) -> list[tuple[ApiResource, JsonObj]]:
    """The shared objects a build namespace needs before a run of ``engine``, in creation order."""
    managed = {labels.LABEL_MANAGED_BY: labels.MANAGED_BY}
    sa = labels.WORKFLOW_SERVICE_ACCOUNT
    return [
        (
            NAMESPACE,
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": managed}},
        ),
        (
            SERVICE_ACCOUNT,
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": namespace}},
        ),
        *engine.prerequisites(namespace),
    ]


class Submitter:
    """Creates a run's objects in a build plane; remembers which build namespaces are prepared."""

    def __init__(self, control_plane: KubeApi) -> None:
        self._cp = control_plane  # live reads of runs: whose is an existing object?
        self._prepared: set[tuple[str, str, str]] = set()  # (planeID, namespace, engine)

    async def ensure_namespace(self, api: KubeApi, plane_id: str, namespace: str, engine: Engine) -> None:
        """Create the build namespace's prerequisites for a run of ``engine`` that are missing."""
        if (plane_id, namespace, engine.name) in self._prepared:
            return
        for resource, obj in prerequisites(namespace, engine):
            name = obj["metadata"]["name"]
            try:
                await api.get(resource, name, obj["metadata"].get("namespace"))
                continue
            except NotFound:
                pass
            with contextlib.suppress(AlreadyExists):
                await api.create(resource, obj)
        self._prepared.add((plane_id, namespace, engine.name))

    async def create(self, api: KubeApi, plane_id: str, planned: Planned, run_uid: str) -> None:
        """Create ``planned``, adopt our own copy, replace our orphan; ``NameConflict`` for anything else."""
        if await self._created(api, plane_id, planned):
            return
        meta = planned.obj["metadata"]
        try:
            existing = await api.get(planned.resource, meta["name"], meta.get("namespace"))
        except NotFound:
            raise RequeueSoon(DELETING_RETRY, "the existing object vanished; creating again") from None
        what = f"{planned.resource.kind} {meta.get('namespace')}/{meta['name']}"
        existing_meta = existing.get("metadata") or {}
        owner_uid = (existing_meta.get("labels") or {}).get(labels.LABEL_WORKFLOWRUN_UID)
        if owner_uid == run_uid:
            return  # ours, from before a crash: adopted
        if existing_meta.get("deletionTimestamp"):
            raise RequeueSoon(DELETING_RETRY, f"{what} is still being deleted")
        if owner_uid and await run_gone(self._cp, existing):
            # Our own orphan: made by the engine for a run that no longer exists (a live read says so).
            await delete_quietly(
                api, planned.resource, meta["name"], meta.get("namespace"), existing_meta.get("uid")
            )
            log.info("replacing an orphan of a run that no longer exists", object=what, run_uid=owner_uid)
            if await self._created(api, plane_id, planned):
                return
            raise RequeueSoon(DELETING_RETRY, f"{what}, an orphan of run uid {owner_uid}, is being deleted")
        owner = (
            f"belongs to another WorkflowRun (uid {owner_uid})" if owner_uid else "was not created by a run"
        )
        raise TerminalError(
            c.R_NAME_CONFLICT,
            f"{what} already exists in build plane {plane_id!r} and {owner}; it is never overwritten - "
            "delete it or rename this run",
        )

    async def _created(self, api: KubeApi, plane_id: str, planned: Planned) -> bool:
        """Create ``planned``: ``True``, or ``False`` if the name is taken. Other errors propagate."""
        try:
            await api.create(planned.resource, planned.obj)
        except AlreadyExists:
            return False
        except ApiError:
            namespace = str(planned.obj["metadata"].get("namespace") or "")
            self._prepared -= {
                p for p in self._prepared if p[:2] == (plane_id, namespace)
            }  # re-check next time
            raise
        return True
