"""Writing a run's status: compare first, patch the difference, announce transitions.

``StatusWriter.write(run, desired)`` is the only path by which the WorkflowRun reconciler changes status:

* it diffs ``desired`` against the run's current status (``state.status_patch``); equal -> no request;
* otherwise it sends one JSON merge patch to the ``status`` subresource carrying the
  ``metadata.resourceVersion`` the decision was based on, so a decision made on a stale cache fails with
  ``Conflict`` (and is retried on fresh data) instead of overwriting newer status - e.g. a second
  ``startedAt``;
* it returns the updated object, so a reconcile can continue on the version it just wrote;
* Events say what the controller *did* and what went wrong, like Kubernetes' own controllers
  (``SuccessfulCreate``), not every state it observed - the conditions carry those: Normal ``Submitted``
  (the run object created in the build plane, named) and ``Queued`` (held back by a concurrency group);
  Warning for every failure and wait, with the condition's reason and message. ``WorkflowPending``,
  ``WorkflowRunning`` and ``WorkflowSucceeded`` get none, so a run that succeeds has one Event object
  (repeats count up on it: ``runtime.events``). On completion, the ``choreo_workflowruns_total{result}``
  counter and ``choreo_workflowrun_duration_seconds`` (creation to completion).

``last_write`` remembers when each run's status was last written (monotonic), for coalescing progress.

Read your writes: the informer cache lags our own writes by a watch round trip, and a reconcile triggered
by an earlier event in that window would decide on the old version (and fail with ``Conflict``, or worse,
redo a step). ``remember`` keeps the run as our last write returned it, and the versions it is known to
follow: every write carries the resourceVersion it was decided on, so the version it returns is that
one's direct successor - a chain of our consecutive writes has no foreign version in between. ``fresh``,
within ``READ_YOUR_WRITES`` seconds of the write:

* cache shows our last version -> the cache (it has caught up; the memory is dropped);
* cache shows a version of the chain -> our copy, without a request: the cache is provably behind it, and
  a third party's later write is in neither (a write decided on the copy carries its version, so it fails
  with ``Conflict`` rather than overwrite that write - and the copy is dropped, ``_stale``);
* anything else (a version we cannot place: the cache may be past our write, or a conflict proved the
  copy stale) -> one live read.

Versions are only compared for equality, never ordered.

Our own writes come back as updates of the runs watch. ``echo(obj)`` tells such an update apart - ``obj``
is a version one of our writes returned - so the runs informer does not enqueue the run for it: the
reconcile that wrote it already went on from exactly that object, so the update carries nothing new, and
enqueueing it put a no-op reconcile per write at the back of the queue, in front of the runs created
after it (after a burst, hundreds of them ahead of the next new run). The echo of our last write shows
the cache has caught up: the memory is dropped, as ``fresh`` would drop it. The watch often delivers the
echo before the write's own response: an update of a run while our write to it is in flight is held back,
and once the response has come, the run is enqueued (``requeue``) only if one of the held versions is not
ours (a third party's write, or a failed write). Without ``requeue`` such an update is enqueued at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import conditions as c
from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.contracts import Conflict, NotFound, ObjectKey
from choreo_controller.engines import engine_for
from choreo_controller.reconcilers.workflowrun import state
from choreo_controller.reconcilers.workflowrun.ttl import parse_time

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import Clock, EventRecorder, JsonObj, KubeApi
    from choreo_controller.metrics import Metrics

READ_YOUR_WRITES: Final = 10.0  # seconds after a write during which a differing cache is re-read
_NORMAL: Final = {c.R_QUEUED: "Queued"}  # Normal transitions with an Event (and Submitted, on runReference)
_SILENT: Final = frozenset({c.R_PENDING, c.R_RUNNING, c.R_SUCCEEDED})  # the conditions say it all


@dataclass(frozen=True)
class _Written:
    """Our last write to a run: its version, the versions known to precede it, the run it returned."""

    version: str
    behind: frozenset[str]  # each of our writes in a row was applied on the one before
    ours: frozenset[str]  # the versions our writes of the chain returned, ``version`` included
    run: JsonObj | None  # ``None`` once a write decided on it conflicted: a third party wrote after it
    at: float


class StatusWriter:
    """Compare-then-patch of WorkflowRun status, with Events and run metrics on transitions."""

    def __init__(self, api: KubeApi, clock: Clock, events: EventRecorder, metrics: Metrics | None) -> None:
        self._api = api
        self._clock = clock
        self._events = events
        self._metrics = metrics
        self.last_write: dict[ObjectKey, float] = {}
        self._written: dict[ObjectKey, _Written] = {}  # oldest first (pruned after READ_YOUR_WRITES)
        self._inflight: dict[ObjectKey, list[str]] = {}  # our writes awaiting their answer: updates seen
        self.requeue: Callable[[ObjectKey], None] | None = None  # the work queue's add, for held updates

    def remember(self, obj: JsonObj, base: JsonObj) -> JsonObj:
        """Record ``obj``, the answer to a write carrying ``base``'s resourceVersion; returns it."""
        key, now = ObjectKey.of(obj), self._clock.monotonic()
        based_on = _version(base)
        last = self._written.pop(key, None)
        chained = last is not None and based_on == last.version
        chain = last.behind | {last.version} if last is not None and chained else frozenset()
        ours = last.ours if last is not None and chained else frozenset()
        version = _version(obj)
        self._written[key] = _Written(version, chain | {based_on}, ours | {version}, obj, now)
        while self._written:  # dicts keep insertion order: the oldest entry first
            oldest = next(iter(self._written))
            if now - self._written[oldest].at <= READ_YOUR_WRITES:
                break
            del self._written[oldest]
        return obj

    def remembers(self, key: ObjectKey) -> bool:
        """We wrote to ``key`` and ``fresh`` may not simply return the cache."""
        return key in self._written

    def echo(self, obj: JsonObj) -> bool:
        """``obj`` (a watch update) is a version one of our remembered writes returned; no IO."""
        key = ObjectKey.of(obj)
        mine = self._written.get(key)
        version = _version(obj)
        if mine is None or version not in mine.ours:
            held = self._inflight.get(key)
            if held is None or self.requeue is None:
                return False
            held.append(version)  # told apart once our write's answer has come (``patch``)
            return True
        if version == mine.version:
            del self._written[key]  # the cache has caught up with our last write
        return True

    async def fresh(self, key: ObjectKey, cached: JsonObj | None) -> JsonObj | None:
        """``cached``, unless it is behind our last write to ``key``: then our copy, or a live read."""
        mine = self._written.get(key)
        if cached is None or mine is None:
            return cached
        shown = _version(cached)
        if shown == mine.version or self._clock.monotonic() - mine.at > READ_YOUR_WRITES:
            del self._written[key]
            return cached
        if shown in mine.behind and mine.run is not None:
            return copy.deepcopy(mine.run)
        try:
            return await self._api.get(WORKFLOW_RUN, key.name, key.namespace)
        except NotFound:
            return None

    async def patch(self, run: JsonObj, body: dict[str, Any], *, subresource: str | None = None) -> JsonObj:
        """Merge-patch ``run`` on the version it shows (``Conflict`` if it moved); remembers the answer."""
        meta = state.meta(run)
        body = {
            **body,
            "metadata": {**body.get("metadata", {}), "resourceVersion": meta.get("resourceVersion")},
        }
        key = ObjectKey.of(run)
        held = self._inflight[key] = []
        try:
            updated = await self._api.merge_patch(
                WORKFLOW_RUN,
                str(meta["name"]),
                body,
                namespace=str(meta["namespace"]),
                subresource=subresource,
            )
        except BaseException as exc:
            if isinstance(exc, Conflict):
                self._stale(key)
            self._release(key, held, None)
            raise
        self.remember(updated, run)
        self._release(key, held, self._written[key])
        return updated

    def _release(self, key: ObjectKey, held: list[str], mine: _Written | None) -> None:
        """Our write to ``key`` is answered (``mine``) or failed: enqueue it if a held update is not ours."""
        self._inflight.pop(key, None)  # (one reconcile per run: never two writes in flight)
        if not held:
            return
        if mine is not None and all(version in mine.ours for version in held):
            if mine.version in held:
                del self._written[key]  # the cache has caught up with our last write
            return
        if self.requeue is not None:
            self.requeue(key)

    async def write(self, run: JsonObj, desired: dict[str, Any]) -> JsonObj:
        """Patch ``run``'s status to ``desired`` if it differs; the updated run (``run`` itself if equal)."""
        old = state.status(run)
        patch = state.status_patch(old, desired)
        if patch is None:
            return run
        updated = await self.patch(run, {"status": patch}, subresource="status")
        self.last_write[ObjectKey.of(run)] = self._clock.monotonic()
        await self._announce(updated, old, state.status(updated))
        return updated

    def forget(self, key: ObjectKey, *, gone: bool = False) -> None:
        """Drop the coalescing memory of a finished run (and everything, once it is ``gone``)."""
        self.last_write.pop(key, None)
        if gone:
            self._written.pop(key, None)

    def _stale(self, key: ObjectKey) -> None:
        """A write decided on our copy of ``key`` conflicted: a third party wrote after it; read live."""
        mine = self._written.get(key)
        if mine is not None:
            self._written[key] = _Written(mine.version, mine.behind, mine.ours, None, mine.at)

    async def _announce(self, run: JsonObj, old: dict[str, Any], new: dict[str, Any]) -> None:
        if not old.get("runReference") and new.get("runReference"):
            ref = new["runReference"]
            plane = (new.get("plane") or new.get("buildPlane") or {}).get("planeID", "")
            found = engine_for(ref.get("apiVersion"), ref.get("kind"))
            title = found.engine.title if found is not None else str(ref.get("kind"))
            message = f"{title} {ref.get('namespace')}/{ref.get('name')} created in build plane {plane!r}"
            await self._events.record(run, "Normal", "Submitted", message)
        before, after = c.find(old.get("conditions"), c.COMPLETED), c.find(new.get("conditions"), c.COMPLETED)
        if after is None or (before is not None and _summary(before) == _summary(after)):
            return
        reason, message = str(after.get("reason")), str(after.get("message"))
        if reason in _NORMAL:
            await self._events.record(run, "Normal", _NORMAL[reason], message)
        elif reason not in _SILENT:
            await self._events.record(run, "Warning", reason, message)
        if after.get("status") == "True":
            self._completed(run, reason, new)

    def _completed(self, run: JsonObj, reason: str, st: dict[str, Any]) -> None:
        if self._metrics is None:
            return
        self._metrics.workflowruns.labels(reason).inc()
        created = parse_time(str(state.meta(run).get("creationTimestamp") or ""))
        done = parse_time(str(st.get("completedAt") or ""))
        if created is not None and done is not None:
            self._metrics.workflowrun_duration.observe(max(0.0, (done - created).total_seconds()))


def _version(obj: JsonObj) -> str:
    return str(state.meta(obj).get("resourceVersion") or "")


def _summary(cond: dict[str, Any]) -> tuple[Any, Any]:
    return cond.get("status"), cond.get("reason")
