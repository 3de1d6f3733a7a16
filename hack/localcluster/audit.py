"""The control plane's audit log read as requests per WorkflowRun: one reading for the benchmark that prints
the figures (``hack/bench/bench_writes_per_run.py``) and the test that pins them
(``tests/e2e/test_request_budget.py``).

``policy(user)`` audits every request of the controller's ``user`` at ``Metadata`` level and its
WorkflowRun status writes at ``Request`` level, so that a status patch's body tells a phase change
(conditions, ``completedAt``, ``runReference``...) from a coalesced progress update (``tasks`` alone).
``BUDGET`` is what one run may cost on its way to ``Succeeded``, per (resource, verb, subresource);
anything not in it is budgeted at 0.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from pathlib import Path

WRITES: Final = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READS: Final = frozenset({"get", "list"})
#: Status fields of a phase change; a status patch carrying none of them is a progress update.
PHASE_KEYS: Final = frozenset({"conditions", "completedAt", "startedAt", "runReference", "plane"})
Key = tuple[str, str, str]  # resource, verb, subresource ("" for the object itself)
#: Control-plane writes of one run to Succeeded, progress-only status patches excluded (docs/performance.md).
BUDGET: Final[dict[Key, int]] = {
    ("workflowruns", "patch", ""): 1,  # the finalizer and the TTL copied from the Workflow
    ("workflowruns", "patch", "status"): 3,  # submitted (plane, runReference), running, succeeded
    ("events", "create", ""): 1,  # Normal Submitted; Pending, Running, Succeeded: conditions only
}
RUN_WRITES: Final = sum(n for (resource, _, _), n in BUDGET.items() if resource == "workflowruns")


def policy(user: str, group: str = "openchoreo.dev") -> str:
    """Audit policy: ``user``'s requests (metadata), and the bodies of its WorkflowRun status writes."""
    return f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Request
  users: [{user}]
  verbs: [patch, update]
  resources: [{{group: {group}, resources: [workflowruns/status]}}]
- level: Metadata
  users: [{user}]
- level: None
"""


def entries(
    log: Path, user: str, since: datetime | None = None, until: datetime | None = None, *, start: int = 0
) -> list[dict[str, Any]]:
    """``user``'s audited requests received in ``[since, until]``, from byte ``start`` of ``log``."""
    with log.open("rb") as stream:
        stream.seek(start)
        lines = stream.read().decode().splitlines()
    out = []
    for line in lines:
        entry = json.loads(line)
        if (entry.get("user") or {}).get("username") != user:
            continue
        at = datetime.fromisoformat(entry["requestReceivedTimestamp"])
        if (since is None or since <= at) and (until is None or at <= until):
            out.append(entry)
    return out


def key(entry: dict[str, Any]) -> Key:
    ref = entry.get("objectRef") or {}
    return str(ref.get("resource", entry.get("requestURI", "?"))), entry["verb"], ref.get("subresource", "")


def resource(entry: dict[str, Any]) -> str:
    """``workflowruns/status`` style: the resource and its subresource."""
    res, _, sub = key(entry)
    return f"{res}/{sub}" if sub else res


def status_kind(entry: dict[str, Any]) -> str:
    """``phase`` or ``progress`` for a status patch, by the keys of its body."""
    body = entry.get("requestObject") or {}
    keys = set((body.get("status") or {}) if isinstance(body, dict) else ())
    return "phase" if keys & PHASE_KEYS or not keys else "progress"


def is_progress(entry: dict[str, Any]) -> bool:
    """A coalesced progress-only status patch of a run (not counted against the budget)."""
    res, _, sub = key(entry)
    return (res, sub) == ("workflowruns", "status") and status_kind(entry) == "progress"


def writes(found: list[dict[str, Any]]) -> Counter[Key]:
    """Writes by (resource, verb, subresource), progress-only status patches left out."""
    return Counter(key(e) for e in found if e["verb"] in WRITES and not is_progress(e))


def over_budget(counted: Counter[Key], runs: int = 1) -> dict[Key, tuple[int, int]]:
    """``{key: (written, allowed)}`` for every key written more than ``runs`` times its budget."""
    return {k: (n, BUDGET.get(k, 0) * runs) for k, n in counted.items() if n > BUDGET.get(k, 0) * runs}
