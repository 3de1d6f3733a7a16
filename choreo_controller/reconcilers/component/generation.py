"""``WorkloadWriter``: applies the Workload of a succeeded build, never over a newer build's.

The WorkflowRun tracker calls ``status(run, seen, desired)`` (``seen``: its engine's ``Observation``) for
every look at a run; it adds ``WorkloadUpdated`` once the build has succeeded (and does nothing when the
condition is already there, so a generation that failed permanently is not retried: the next build writes
again):

* ``True/WorkloadUpdated`` - applied; the message names the Workload and where the document came from;
* ``False/Superseded`` - the Workload was last written by a newer run (``workload.newer_writer``): left
  as it is, so builds finishing out of order still leave the newest one's Workload;
* ``False/WorkloadUpdateFailed`` - the step produced no output, the document is not a Workload, or the
  apiserver refused it (4xx): permanent, the message says why;
* transient API errors (unreachable, 5xx, throttled, a ``Conflict`` because the Workload changed under
  us) raise: the engine retries with backoff and writes nothing meanwhile, so the run's completion and its
  ``WorkloadUpdated`` land in one status write.

Read, compare and apply happen under the Workload's lock (``KeyedLocks``), and the apply carries the
resourceVersion that was compared (server-side apply honours it as a precondition), so two builds finishing
together - in two workers, or across a leader handover - cannot both win.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import WORKLOAD
from choreo_controller.contracts import BadRequest, Forbidden, Invalid, NotFound
from choreo_controller.reconcilers.component.workload import (
    MAX_API_MESSAGE,
    OUTPUT,
    STEP,
    Outcome,
    WorkloadRejected,
    newer_writer,
    prepare_workload,
    with_outcome,
    workload_cr_text,
)
from choreo_controller.reconcilers.locks import KeyedLocks

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.engines import Observation

#: Permanent refusals by the apiserver: retrying the same object cannot help.
_PERMANENT: Final = (Invalid, BadRequest, Forbidden, NotFound)


class WorkloadWriter:
    """Workload generation's IO; see the module docstring."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self._locks = KeyedLocks()

    async def status(
        self,
        run: JsonObj,
        seen: Observation,
        desired: dict[str, Any],
        *,
        source: tuple[str, str] = (STEP, OUTPUT),
        gen: int | None,
        now: datetime,
    ) -> dict[str, Any]:
        """``desired`` (the run's next status) with ``WorkloadUpdated`` once its run object succeeded."""
        if seen.phase != "Succeeded" or c.find(desired.get("conditions"), c.WORKLOAD_UPDATED) is not None:
            return desired
        outcome = await self.generate(run, seen, source)
        return desired if outcome is None else with_outcome(desired, outcome, gen=gen, now=now)

    async def generate(
        self, run: JsonObj, seen: Observation, source: tuple[str, str] = (STEP, OUTPUT)
    ) -> Outcome | None:
        """Apply the Workload a succeeded build produced; ``None`` when the build has no workload step.

        ``source``: the step and output holding the document (a declared result's, or the default step's).
        """
        try:
            text = workload_cr_text(seen, source)
            if text is None:
                return None
            workload = prepare_workload(text, run)
        except WorkloadRejected as rejected:
            return Outcome("False", c.R_WORKLOAD_UPDATE_FAILED, rejected.message)
        named = (
            f"step {source[0]!r}"
            if source == (STEP, OUTPUT)
            else f"output {source[1]!r} of step {source[0]!r}"
        )
        return await self.write(run, workload, source=named)

    async def write(self, run: JsonObj, workload: JsonObj, *, source: str) -> Outcome:
        """Apply ``workload`` for ``run`` unless a newer run wrote it; ``source`` ends the message."""
        meta = workload["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        async with self._locks.hold(where):
            try:
                existing: JsonObj | None = await self._api.get(WORKLOAD, meta["name"], meta["namespace"])
            except NotFound:
                existing = None
            newer = newer_writer(existing, run)
            if newer is not None:
                message = (
                    f"Workload {where} was written by run {newer!r}, newer than this one; not overwritten"
                )
                return Outcome("False", c.R_SUPERSEDED, message)
            if existing is not None:
                meta["resourceVersion"] = existing["metadata"]["resourceVersion"]  # compared: unchanged since
            try:
                await self._api.apply(WORKLOAD, workload, field_manager=labels.FIELD_MANAGER, force=True)
            except _PERMANENT as exc:
                detail = exc.message[:MAX_API_MESSAGE]
                return Outcome("False", c.R_WORKLOAD_UPDATE_FAILED, f"Workload {where} was refused: {detail}")
        return Outcome("True", c.R_WORKLOAD_UPDATED, f"Workload {where} applied from {source}")
