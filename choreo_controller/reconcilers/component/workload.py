"""Workload generation (SPEC section 6, *(OC 0.17)*), the pure core: a succeeded build's Workload document.

When a run has succeeded and has a step ``generate-workload-cr`` (any of the names its engine's
``Observation`` gives the step: a display, template or task name), that step's output ``workload-cr`` (an
output parameter, a task result) holds a Workload as YAML. ``prepare_workload`` parses and checks it;
``generation.WorkloadWriter`` applies it and says which ``WorkloadUpdated`` condition the run gets
(``Outcome``).

What is forced, and why:

* ``metadata.namespace`` = the run's namespace: a build must not write into another tenant's namespace;
* for component runs, ``spec.owner`` = the run's project/component labels (filled in when missing; a
  different owner is refused): a build of component A must not overwrite component B's Workload;
* server-set metadata (uid, resourceVersion, managedFields, ownerReferences, ...) and ``status`` are
  dropped; labels ``openchoreo.dev/project``/``component`` are added, and the *writer stamp*
  (``writer_stamp``): the run that wrote it (``openchoreo.dev/workflowrun``), that run's creation time and,
  for an auto-build, its commit and commit time - whatever the document says about them. No ownerReference
  to the run: runs are deleted by their TTL and the Workload must outlive them.

The order guard (``newer_writer``): a run never overwrites a Workload whose stamp names a newer run: by
commit time when both are builds of known commits, else in ``concurrency.order_key``'s order (creation
time, then commit time, then name). Whatever the concurrency
policy - ``Allow`` included - builds finishing out of order leave the newest build's Workload. A Workload
without a stamp (written by hand, or before the stamp existed) is overwritten as before.

Messages never contain the YAML (it may hold environment values); YAML errors give line and column only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import yaml

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import API_VERSION
from choreo_controller.reconcilers.concurrency import order_key
from choreo_controller.render.names import is_dns_subdomain

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj
    from choreo_controller.engines import Observation

STEP: Final = "generate-workload-cr"
OUTPUT: Final = "workload-cr"
MAX_WORKLOAD_BYTES: Final = 1024 * 1024
MAX_API_MESSAGE: Final = 300
ANNOTATION_WORKFLOWRUN: Final = f"{labels.PREFIX}/workflowrun"
ANNOTATION_WORKFLOWRUN_CREATED: Final = f"{labels.PREFIX}/workflowrun-created"
#: The writer stamp: which run (and commit) wrote a Workload; never taken from the build's document.
STAMP: Final = (
    ANNOTATION_WORKFLOWRUN,
    ANNOTATION_WORKFLOWRUN_CREATED,
    labels.ANNOTATION_COMMIT,
    labels.ANNOTATION_COMMIT_TIME,
)
_DROPPED_META: Final = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "ownerReferences",
    "finalizers",
    "generateName",
    "selfLink",
)


class WorkloadRejected(Exception):
    """The step's output cannot become a Workload; ``message`` is safe to show (no YAML content)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Outcome:
    """The ``WorkloadUpdated`` condition to set on the run."""

    status: c.Status
    reason: str
    message: str


# ---- pure core ----------------------------------------------------------------------------------------
def workload_cr_text(seen: Observation, source: tuple[str, str] = (STEP, OUTPUT)) -> str | None:
    """The Workload document: output ``source[1]`` of step ``source[0]``; ``None`` if that step did not run.

    ``source`` is the ``generate-workload-cr`` step's ``workload-cr`` unless the Workflow declares a result
    named ``workload-cr`` (``results.workload_source``). Raises ``WorkloadRejected`` when the step
    succeeded without the output.
    """
    step, output = source
    text = seen.output(step, output)
    if isinstance(text, str):
        return text
    if any(step in found.names and found.phase == "Succeeded" for found in seen.outputs):
        raise WorkloadRejected(f"step {step!r} succeeded but has no output {output!r}")
    return None


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    problem = str(getattr(err, "problem", None) or "not valid YAML")
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def prepare_workload(text: str, run: JsonObj) -> JsonObj:
    """The Workload to apply for ``run``, from the step's YAML; raises ``WorkloadRejected``."""
    if len(text.encode("utf-8")) > MAX_WORKLOAD_BYTES:
        raise WorkloadRejected(f"{OUTPUT} is larger than {MAX_WORKLOAD_BYTES} bytes")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise WorkloadRejected(f"{OUTPUT} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(doc, dict):
        raise WorkloadRejected(f"{OUTPUT} is not a YAML mapping (got {type(doc).__name__})")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Workload":
        found = f"{str(doc.get('apiVersion'))[:64]}/{str(doc.get('kind'))[:64]}"
        raise WorkloadRejected(f"{OUTPUT} must be an {API_VERSION} Workload, not {found}")
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    name = str(meta.get("name") or "")
    if not is_dns_subdomain(name):
        raise WorkloadRejected(f"{OUTPUT} metadata.name {name[:64]!r} is not a valid DNS-1123 subdomain")
    spec = copy.deepcopy(doc.get("spec"))
    if not isinstance(spec, dict):
        raise WorkloadRejected(f"{OUTPUT} has no spec mapping")
    run_meta = run.get("metadata") or {}
    run_labels = run_meta.get("labels") or {}
    project, component = run_labels.get(labels.LABEL_PROJECT), run_labels.get(labels.LABEL_COMPONENT)
    new_labels = {k: str(v) for k, v in (meta.get("labels") or {}).items()}
    if project and component:
        spec["owner"] = _owner(spec.get("owner"), str(project), str(component))
        new_labels.update({labels.LABEL_PROJECT: str(project), labels.LABEL_COMPONENT: str(component)})
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items() if k not in STAMP}
    annotations.update(writer_stamp(run))
    clean_meta = {k: copy.deepcopy(v) for k, v in meta.items() if k not in _DROPPED_META}
    clean_meta.update(
        {
            "name": name,
            "namespace": str(run_meta.get("namespace")),
            "labels": new_labels,
            "annotations": annotations,
        }
    )
    return {"apiVersion": API_VERSION, "kind": "Workload", "metadata": clean_meta, "spec": spec}


def _owner(given: Any, project: str, component: str) -> dict[str, Any]:
    owner = dict(given) if isinstance(given, dict) else {}
    for key, expected in (("projectName", project), ("componentName", component)):
        value = owner.setdefault(key, expected)
        if value != expected:
            raise WorkloadRejected(
                f"{OUTPUT} spec.owner.{key} is {str(value)[:64]!r}, but this run builds "
                f"{project}/{component}; a build may only write its own component's Workload"
            )
    return owner


def writer_stamp(run: JsonObj) -> dict[str, str]:
    """The annotations that record on a Workload which run, and which commit, wrote it."""
    meta = run.get("metadata") or {}
    given = meta.get("annotations") or {}
    stamp = {
        ANNOTATION_WORKFLOWRUN: str(meta.get("name") or ""),
        ANNOTATION_WORKFLOWRUN_CREATED: str(meta.get("creationTimestamp") or ""),
    }
    stamp.update(
        {k: str(given[k]) for k in (labels.ANNOTATION_COMMIT, labels.ANNOTATION_COMMIT_TIME) if given.get(k)}
    )
    return stamp


def newer_writer(existing: JsonObj | None, run: JsonObj) -> str | None:
    """The name of the run that wrote ``existing`` if that run is newer than ``run``; else ``None``."""
    stamp = ((existing or {}).get("metadata") or {}).get("annotations") or {}
    name, created = stamp.get(ANNOTATION_WORKFLOWRUN), stamp.get(ANNOTATION_WORKFLOWRUN_CREATED)
    if not name or not created:
        return None  # written by hand, or before stamps existed: overwritten as it always was
    theirs = (str(created), str(stamp.get(labels.ANNOTATION_COMMIT_TIME) or ""), str(name))
    ours = order_key(run)
    if theirs[1] and ours[1] and theirs[1] != ours[1]:
        # Both are builds of known commits: the commit decides, since a burst's webhooks may arrive (and its
        # runs be created) out of commit order.
        return str(name) if theirs[1] > ours[1] else None
    return str(name) if theirs > ours else None


def with_outcome(
    status: dict[str, Any], outcome: Outcome, *, gen: int | None, now: datetime
) -> dict[str, Any]:
    """A copy of a run's ``status`` with ``WorkloadUpdated`` set from ``outcome``."""
    new = copy.deepcopy(status)
    new["conditions"] = c.set_condition(
        new.get("conditions"),
        c.WORKLOAD_UPDATED,
        outcome.status,
        outcome.reason,
        outcome.message,
        observed_generation=gen,
        now=now,
    )
    return new
