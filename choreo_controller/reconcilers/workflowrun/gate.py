"""The concurrency gate: the last step of a submission before anything is created in the build plane.

``Submission`` calls ``admit`` once the run is valid and rendered (a run that would fail never queues):

1. The run's group and policy (``reconcilers.concurrency``, the pure core): its Component's, or the group
   its Workflow's ``spec.concurrency.group`` renders to - hashed into the run's
   ``openchoreo.dev/concurrency-group`` label first, so the cache index holds it from then on. No group, or
   ``Allow``: nothing to decide.
2. Under a per-group lock (one decision at a time per group in this process), the group's other in-flight
   members come from the runs cache index; when the decision would start this run or cancel others they
   are read again live - a standby that has just become leader may hold a cache a watch round trip behind
   its predecessor's last admission.
3. ``concurrency.decide``, then in this order, each step idempotent so that a crash anywhere repeats:
   superseded -> ``TerminalError(Cancelled)`` naming the newer run; older runs to cancel -> their
   ``openchoreo.dev/cancel`` and ``openchoreo.dev/superseded-by`` annotations (each run's own cancel path
   does the rest and says who superseded it); wait -> ``WaitForEvent(Queued)``; start ->
   ``status.concurrency.admittedAt``, written while the lock is held, so the next decision sees it.

The reconciler writes a ``WaitForEvent`` as ``WorkflowCompleted=False/Queued`` with its message and sets
*no* timer: the group handler (``concurrency.group_members``) enqueues a group's members when one of them
completes, arrives or is deleted, so the next run starts as soon as its holder is done and nothing polls.
The slow safety resync of in-flight runs is the only fallback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import NotFound, ObjectKey, TerminalError
from choreo_controller.reconcilers import concurrency
from choreo_controller.reconcilers.locks import KeyedLocks
from choreo_controller.reconcilers.workflowrun import state
from choreo_controller.reconcilers.workflowrun.resolve import WaitForEvent
from choreo_controller.render import RenderFailed, render_value
from choreo_controller.schema import resolve_parameters

if TYPE_CHECKING:
    from choreo_controller.contracts import Clock, JsonObj, KubeApi
    from choreo_controller.reconcilers.ports import Reader
    from choreo_controller.reconcilers.workflowrun.submitting import Attempt
    from choreo_controller.reconcilers.workflowrun.writer import StatusWriter

MAX_GROUP: Final = 253  # characters of a rendered group shown in status and messages
GROUP_PATH: Final = "spec.concurrency.group"


@dataclass(frozen=True, slots=True)
class Group:
    """A run's concurrency group: index key, policy, label value ("" for a Component's), description."""

    key: str
    policy: concurrency.Policy
    label: str
    described: str  # "the concurrency group of Component 'greeter'" / "concurrency group 'production'"
    text: str  # what status.concurrency.group shows

    def record(self) -> dict[str, str]:
        """``status.concurrency`` without ``admittedAt``."""
        return {"group": self.text, "policy": self.policy}


def workflow_group(run: JsonObj, workflow: JsonObj) -> Group | None:
    """The group a generic run's Workflow renders for it, or ``None``; raises ``TerminalError``."""
    block = (workflow.get("spec") or {}).get("concurrency")
    if not isinstance(block, dict) or not block.get("group"):
        return None
    params = resolve_parameters(workflow, ((run.get("spec") or {}).get("workflow") or {}).get("parameters"))
    value = render_value(block["group"], run, params.values, path=GROUP_PATH)
    if isinstance(value, bool | int | float):
        value = json.dumps(value)
    if not isinstance(value, str) or not value:
        raise RenderFailed("must render to a non-empty string", path=GROUP_PATH)
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:20]
    namespace = str(state.meta(run).get("namespace") or "")
    shown = value if len(value) <= MAX_GROUP else value[: MAX_GROUP - 3] + "..."
    return Group(
        f"{namespace}/group/{digest}",
        concurrency.policy_of(block),
        digest,
        f"concurrency group {shown!r}",
        shown,
    )


class ConcurrencyGate:
    """Admits, queues or supersedes runs of concurrency groups; see the module docstring."""

    def __init__(
        self, api: KubeApi, runs: Reader, components: Reader | None, writer: StatusWriter, clock: Clock
    ) -> None:
        self._api = api
        self._runs = runs
        self._components = components
        self._writer = writer
        self._clock = clock
        self._locks = KeyedLocks()

    def group(self, run: JsonObj, workflow: JsonObj) -> Group | None:
        """The run's group: its Component's (component runs) or its Workflow's (others); ``None`` if none."""
        if not state.is_component_run(run):
            return workflow_group(run, workflow)
        meta = state.meta(run)
        namespace, name = str(meta.get("namespace") or ""), str(meta["labels"][labels.LABEL_COMPONENT])
        component = (self._components.get(ObjectKey(namespace, name)) if self._components else None) or {}
        configured = ((component.get("spec") or {}).get("workflow") or {}).get("concurrency")
        return Group(
            f"{namespace}/component/{name}",
            concurrency.policy_of(configured),
            "",
            f"the concurrency group of Component {name!r}",
            name,
        )

    async def admit(self, attempt: Attempt, workflow: JsonObj) -> None:
        """Let ``attempt.run`` go on, or raise ``WaitForEvent(Queued)`` / ``TerminalError(Cancelled)``."""
        group = self.group(attempt.run, workflow)
        if group is None:
            return
        recorded = state.status(attempt.run).get("concurrency") or {}
        attempt.found["concurrency"] = {**recorded, **group.record()}  # an admission stays recorded
        if group.policy == concurrency.ALLOW:
            return
        attempt.run = await self._labelled(attempt.run, group)
        async with self._locks.hold(group.key):
            await self._decide(attempt, group)

    async def _decide(self, attempt: Attempt, group: Group) -> None:
        me = concurrency.Member.of(attempt.run)
        members = self._cached(group, me.name)
        decision = concurrency.decide(me, [concurrency.Member.of(m) for m in members], group.policy)
        if decision.start or decision.cancel or decision.superseded_by:
            members = await self._live(group, members)  # acting: on the apiserver's word, not the cache's
            decision = concurrency.decide(me, [concurrency.Member.of(m) for m in members], group.policy)
        why = f"{group.described}, policy {group.policy}"
        if decision.superseded_by:
            raise TerminalError(
                c.R_CANCELLED,
                f"Cancelled: superseded by run {decision.superseded_by!r} in {why}, before it was submitted; "
                "nothing ran",
            )
        namespace = str(state.meta(attempt.run).get("namespace") or "")
        for name in decision.cancel:
            await self._supersede(namespace, name, me.name)
        if not decision.start:
            raise WaitForEvent(c.R_QUEUED, _queued_message(decision, group, why))
        if concurrency.holds(attempt.run):
            return  # admitted before (this is a retry): nothing new to record
        attempt.found["concurrency"]["admittedAt"] = c.rfc3339(self._clock.now())
        message = f"Admitted by {why}; submitting"
        kw: dict[str, Any] = {"gen": state.generation(attempt.run), "now": self._clock.now()}
        attempt.run = await self._writer.write(attempt.run, state.pending(attempt.status(), message, **kw))

    def _cached(self, group: Group, me: str) -> list[JsonObj]:
        found = (self._runs.get(key) for key in self._runs.index_keys(concurrency.INDEX, group.key))
        return [run for run in found if run is not None and state.meta(run).get("name") != me]

    async def _live(self, group: Group, members: list[JsonObj]) -> list[JsonObj]:
        """The same members read from the apiserver; those gone, completed or regrouped dropped."""
        fresh = []
        for run in members:
            meta = state.meta(run)
            try:
                live = await self._api.get(WORKFLOW_RUN, str(meta["name"]), str(meta["namespace"]))
            except NotFound:
                continue
            if concurrency.by_group(live) == [group.key]:
                fresh.append(live)
        return fresh

    async def _labelled(self, run: JsonObj, group: Group) -> JsonObj:
        """A generic run carries its group's label (what the index and the handler read)."""
        meta = state.meta(run)
        if not group.label or (meta.get("labels") or {}).get(labels.LABEL_CONCURRENCY_GROUP) == group.label:
            return run
        return await self._writer.patch(
            run, {"metadata": {"labels": {labels.LABEL_CONCURRENCY_GROUP: group.label}}}
        )

    async def _supersede(self, namespace: str, name: str, by: str) -> None:
        """Ask an older run to stop: the cancel annotation, and who superseded it (for its message)."""
        body = {
            "metadata": {
                "annotations": {labels.ANNOTATION_CANCEL: "true", labels.ANNOTATION_SUPERSEDED_BY: by}
            }
        }
        with contextlib.suppress(NotFound):
            await self._api.merge_patch(WORKFLOW_RUN, name, body, namespace=namespace)


def _queued_message(decision: concurrency.Decision, group: Group, why: str) -> str:
    ahead = f"{decision.ahead} run{'s' if decision.ahead != 1 else ''} ahead of this one"
    if group.policy == concurrency.CANCEL_IN_PROGRESS:
        return f"Waiting for run {decision.wait_for!r}, superseded by this one, to stop ({why})"
    return f"Queued behind run {decision.wait_for!r} in {why}; {ahead}"
