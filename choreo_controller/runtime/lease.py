"""The leader-election record inside a ``coordination.k8s.io/v1`` Lease, and the Lease object around it.

Pure data: client-go's ``LeaderElectionRecord`` <-> ``LeaseSpec`` conversion (``resourcelock/leaselock.go``).
Times are kept as the apiserver's MicroTime text (``2026-11-27T09:12:13.123456Z``), so two records compare
equal exactly when the stored Lease did not change - which is how a candidate decides whether the holder
renewed since it last looked.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from choreo_controller.api.resources import LEASE

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj


def micro_time(moment: datetime) -> str:
    """A ``metav1.MicroTime`` as the apiserver writes it (UTC, microseconds, ``Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """Who holds the Lease, for how long, since when; ``duration`` in whole seconds (0: unset)."""

    holder: str
    duration: int
    acquire_time: str
    renew_time: str
    transitions: int

    @classmethod
    def at(cls, holder: str, duration: int, moment: datetime, transitions: int = 0) -> LeaseRecord:
        """A record acquired and renewed at ``moment``."""
        stamp = micro_time(moment)
        return cls(holder, duration, stamp, stamp, transitions)

    def renewing(self, previous: LeaseRecord) -> LeaseRecord:
        """This record as a renewal of ``previous``: acquisition time and transition count carry over."""
        return replace(self, acquire_time=previous.acquire_time, transitions=previous.transitions)

    def taking_over(self, previous: LeaseRecord) -> LeaseRecord:
        """This record as a takeover from ``previous``: one more transition."""
        return replace(self, transitions=previous.transitions + 1)

    def spec(self) -> dict[str, Any]:
        """The ``LeaseSpec`` fields."""
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


def record_of(lease: JsonObj) -> LeaseRecord:
    """The record in ``lease`` (missing fields read as empty or zero)."""
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=str(spec.get("acquireTime") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def lease_object(
    base: JsonObj | None, record: LeaseRecord, *, name: str = "", namespace: str = ""
) -> JsonObj:
    """``base`` with ``record`` as its spec, or a new Lease ``namespace/name`` if ``base`` is ``None``.

    ``base``'s metadata is kept whole: its resourceVersion is the PUT's optimistic-concurrency precondition.
    """
    if base is None:
        metadata: JsonObj = {"name": name, "namespace": namespace}
    else:
        metadata = copy.deepcopy(base.get("metadata") or {})
        metadata.pop("managedFields", None)
    return {"apiVersion": LEASE.api_version, "kind": LEASE.kind, "metadata": metadata, "spec": record.spec()}
