"""Concurrency groups: which runs share one, in what order, and who may start. Pure.

A run belongs to at most one group, always inside its own namespace (a namespace is a tenant):

* a component run (labels ``openchoreo.dev/project`` + ``openchoreo.dev/component``) belongs to its
  Component's group, ``<ns>/component/<name>``, policy ``Component.spec.workflow.concurrency.policy``;
* any other run whose Workflow sets ``spec.concurrency.group`` belongs to the group that expression renders
  to for the run; the gate writes a hash of the text into the run's ``openchoreo.dev/concurrency-group``
  label, so the group is ``<ns>/group/<hash>``. Two Workflows rendering the same text share the group (as
  Argo's mutex names do); a component run ignores its Workflow's group (its group is the Component).

Both are read from labels only (``group_key``), so the cache index (``by_group``) holds every in-flight
member of a group without decoding anything else - the queue is derived from the cache, never kept in
memory, and survives restarts and leader handovers as it is.

Order, oldest first: ``(creationTimestamp, commit time, name)``. The commit time (the auto-build receiver's
``openchoreo.dev/autobuild-commit-time``) only breaks ties between runs created in the same second - the
apiserver's timestamps have second precision, a burst of pushes does not - and the name makes the order
total and deterministic. Timestamps are compared as text: both are ``YYYY-MM-DDTHH:MM:SSZ``.

``decide`` is the whole policy, per run, given the group's other in-flight members:

================  ===============================================================================
Allow             start (no gate; OpenChoreo's behaviour)
Queue             start once no member holds the group and none waits ahead; else wait, naming the
                  holder (or the run directly ahead)
CancelInProgress  a newer member exists -> this run is superseded (cancelled, naming the newest);
                  else every older member is cancelled, and the run starts once no older one still
                  holds the group (at most one run at a time holds it, whichever the policy)
================  ===============================================================================

A member *holds* the group once it has been admitted (``status.concurrency.admittedAt``) or submitted
(``status.runReference``: runs from before this gate existed); a holder stays one until it completes or
is gone. A member *stopping* (cancel requested, or being deleted) that does not hold is skipped: it will
never start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from choreo_controller.api import conditions as c
from choreo_controller.api import labels

if TYPE_CHECKING:
    from collections.abc import Callable

    from choreo_controller.contracts import JsonObj, ObjectKey
    from choreo_controller.reconcilers.ports import Reader

Policy = Literal["Queue", "CancelInProgress", "Allow"]
QUEUE: Final = "Queue"
CANCEL_IN_PROGRESS: Final = "CancelInProgress"
ALLOW: Final = "Allow"
POLICIES: Final[tuple[Policy, ...]] = ("Queue", "CancelInProgress", "Allow")
DEFAULT_POLICY: Final[Policy] = "Queue"
INDEX: Final = "concurrency-group"

Order = tuple[str, str, str]


def _map(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _meta(run: JsonObj) -> dict[str, Any]:
    return _map(run.get("metadata"))


def is_completed(run: JsonObj) -> bool:
    """``WorkflowCompleted=True`` (this module reads runs without the engine's ``state``: no import cycle)."""
    return c.is_true(_map(run.get("status")).get("conditions"), c.COMPLETED)


def policy_of(value: object) -> Policy:
    """A ``concurrency`` block's policy; the default when unset (admission rejects unknown ones)."""
    policy = _map(value).get("policy")
    return next((p for p in POLICIES if p == policy), DEFAULT_POLICY)


def order_key(run: JsonObj) -> Order:
    """``(creationTimestamp, commit time, name)``: smaller is older."""
    meta = _meta(run)
    annotations = _map(meta.get("annotations"))
    return (
        str(meta.get("creationTimestamp") or ""),
        str(annotations.get(labels.ANNOTATION_COMMIT_TIME) or ""),
        str(meta.get("name") or ""),
    )


def group_key(run: JsonObj) -> str | None:
    """``<ns>/component/<name>``, ``<ns>/group/<hash>``, or ``None`` (the run is in no group)."""
    meta = _meta(run)
    found = _map(meta.get("labels"))
    namespace = str(meta.get("namespace") or "")
    if found.get(labels.LABEL_PROJECT) and found.get(labels.LABEL_COMPONENT):
        return f"{namespace}/component/{found[labels.LABEL_COMPONENT]}"
    if found.get(labels.LABEL_CONCURRENCY_GROUP):
        return f"{namespace}/group/{found[labels.LABEL_CONCURRENCY_GROUP]}"
    return None


def holds(run: JsonObj) -> bool:
    """Admitted by the gate, or submitted: it holds its group until it completes or is gone."""
    st = _map(run.get("status"))
    return bool(_map(st.get("concurrency")).get("admittedAt") or st.get("runReference"))


def stopping(run: JsonObj) -> bool:
    """Cancel requested or being deleted: a member that will never start if it has not yet."""
    meta = _meta(run)
    cancel = _map(meta.get("annotations")).get(labels.ANNOTATION_CANCEL) == "true"
    return cancel or bool(meta.get("deletionTimestamp"))


def by_group(run: JsonObj) -> list[str]:
    """Index function: ``[group key]`` while the run is in flight (not completed), else ``[]``."""
    key = group_key(run)
    return [key] if key is not None and not is_completed(run) else []


def membership(run: JsonObj) -> tuple[object, ...]:
    """What of a run its group's other members decide on; an update that changes it wakes them."""
    return (group_key(run), is_completed(run), holds(run), stopping(run))


def membership_changed(old: JsonObj, new: JsonObj) -> bool:
    """Update predicate for the group handler: progress-only writes wake nobody."""
    return membership(old) != membership(new)


def group_members(runs: Reader) -> Callable[[JsonObj], list[ObjectKey]]:
    """Mapper: a run's event -> the in-flight members of its group (its completion starts the next)."""

    def mapper(run: JsonObj) -> list[ObjectKey]:
        key = group_key(run)
        return [] if key is None else runs.index_keys(INDEX, key)

    return mapper


@dataclass(frozen=True, slots=True)
class Member:
    """What ``decide`` needs of one run of the group."""

    name: str
    order: Order
    holding: bool
    stopping: bool

    @classmethod
    def of(cls, run: JsonObj) -> Member:
        """The member view of a run object."""
        return cls(str(_meta(run).get("name") or ""), order_key(run), holds(run), stopping(run))


@dataclass(frozen=True, slots=True)
class Decision:
    """``start``, or wait for ``wait_for`` (``ahead`` runs before this one), or ``superseded_by``.

    ``cancel`` lists older members to cancel first (CancelInProgress), whatever the rest says.
    """

    start: bool
    wait_for: str = ""
    ahead: int = 0
    superseded_by: str = ""
    cancel: tuple[str, ...] = ()


def decide(me: Member, others: list[Member], policy: Policy) -> Decision:
    """The policy applied to ``me`` among the group's other in-flight members (see the module table)."""
    if policy == ALLOW:
        return Decision(start=True)
    others = sorted((m for m in others if m.name != me.name), key=lambda m: m.order)
    cancel: tuple[str, ...] = ()
    if policy == CANCEL_IN_PROGRESS:
        newer = [m for m in others if m.order > me.order and not m.stopping]
        if newer:
            return Decision(start=False, superseded_by=newer[-1].name)
        cancel = tuple(m.name for m in others if m.order < me.order and not m.stopping)
    if me.holding:
        return Decision(start=True, cancel=cancel)
    holders = [m for m in others if m.holding]
    ahead = [m for m in others if m.order < me.order and not m.holding and not m.stopping]
    if policy == CANCEL_IN_PROGRESS:
        ahead = []  # they are being cancelled: only a holder still stopping keeps this run waiting
    if holders:
        return Decision(start=False, wait_for=holders[0].name, ahead=len(holders) + len(ahead), cancel=cancel)
    if ahead:
        return Decision(start=False, wait_for=ahead[-1].name, ahead=len(ahead), cancel=cancel)
    return Decision(start=True, cancel=cancel)
