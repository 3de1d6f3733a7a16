"""Workload generation (SPEC section 6, *(OC 0.17)*): a succeeded build's ``workload-cr`` becomes a Workload.

When a run has succeeded and has a step ``generate-workload-cr`` (any of the names its engine's
``Observation`` gives the step: a display, template or task name), that step's output ``workload-cr`` (an
output parameter, a task result) holds a Workload as YAML.
``generate_workload`` parses and checks it (``prepare_workload``, pure), server-side applies it in the
*run's* namespace and says which ``WorkloadUpdated`` condition the run gets:

* ``True/WorkloadUpdated`` - applied; the message names the Workload;
* ``False/WorkloadUpdateFailed`` - the step ran but produced no output, the YAML is not a Workload, or
  the apiserver refused it (4xx): permanent, the message says why;
* transient API errors (unreachable, 5xx, throttled) raise: the engine retries with backoff and writes
  nothing meanwhile, so the run's completion and its ``WorkloadUpdated`` land in one status write.

What is forced, and why:

* ``metadata.namespace`` = the run's namespace: a build must not write into another tenant's namespace;
* for component runs, ``spec.owner`` = the run's project/component labels (filled in when missing; a
  different owner is refused): a build of component A must not overwrite component B's Workload;
* server-set metadata (uid, resourceVersion, managedFields, ownerReferences, ...) and ``status`` are
  dropped; labels ``openchoreo.dev/project``/``component`` and the annotation ``openchoreo.dev/workflowrun``
  (the run that wrote it last) are added. No ownerReference to the run: runs are deleted by their TTL and
  the Workload must outlive them.

Idempotent: ``workload_status`` does nothing when the run's status already carries ``WorkloadUpdated``
(True or False) - a generation that failed permanently is not retried; the next build writes again.
Messages never contain the YAML (it may hold environment values); YAML errors give line and column only.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import yaml

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api.resources import API_VERSION, WORKLOAD
from choreo_controller.contracts import BadRequest, Forbidden, Invalid, NotFound
from choreo_controller.render.names import is_dns_subdomain

if TYPE_CHECKING:
    from datetime import datetime

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.engines import Observation

STEP: Final = "generate-workload-cr"
OUTPUT: Final = "workload-cr"
MAX_WORKLOAD_BYTES: Final = 1024 * 1024
MAX_API_MESSAGE: Final = 300
ANNOTATION_WORKFLOWRUN: Final = f"{labels.PREFIX}/workflowrun"
#: Permanent refusals by the apiserver: retrying the same object cannot help.
_PERMANENT: Final = (Invalid, BadRequest, Forbidden, NotFound)
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
def workload_cr_text(seen: Observation) -> str | None:
    """The ``workload-cr`` output of the ``generate-workload-cr`` step; ``None`` if that step did not run.

    Raises ``WorkloadRejected`` when the step succeeded without the output.
    """
    text = seen.output(STEP, OUTPUT)
    if isinstance(text, str):
        return text
    if any(STEP in step.names and step.phase == "Succeeded" for step in seen.outputs):
        raise WorkloadRejected(f"step {STEP!r} succeeded but has no output {OUTPUT!r}")
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
    annotations = {k: str(v) for k, v in (meta.get("annotations") or {}).items()}
    annotations[ANNOTATION_WORKFLOWRUN] = str(run_meta.get("name") or "")
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


# ---- IO: the engine's entry points --------------------------------------------------------------------
async def generate_workload(api: KubeApi, run: JsonObj, seen: Observation) -> Outcome | None:
    """Apply the Workload a succeeded build produced; ``None`` when the build has no workload step.

    Transient API errors propagate (the caller retries); permanent ones are a ``False`` outcome.
    """
    try:
        text = workload_cr_text(seen)
        if text is None:
            return None
        workload = prepare_workload(text, run)
    except WorkloadRejected as rejected:
        return Outcome("False", c.R_WORKLOAD_UPDATE_FAILED, rejected.message)
    where = f"{workload['metadata']['namespace']}/{workload['metadata']['name']}"
    try:
        await api.apply(WORKLOAD, workload, field_manager=labels.FIELD_MANAGER, force=True)
    except _PERMANENT as exc:
        detail = exc.message[:MAX_API_MESSAGE]
        return Outcome("False", c.R_WORKLOAD_UPDATE_FAILED, f"Workload {where} was refused: {detail}")
    return Outcome("True", c.R_WORKLOAD_UPDATED, f"Workload {where} applied from step {STEP!r}")


async def workload_status(
    api: KubeApi, run: JsonObj, seen: Observation, desired: dict[str, Any], *, gen: int | None, now: datetime
) -> dict[str, Any]:
    """``desired`` (the run's next status) with ``WorkloadUpdated`` once its run object succeeded.

    Unchanged when the engine does not report success, the build has no workload step, or
    ``WorkloadUpdated`` is already present. This is the one call the WorkflowRun tracker makes.
    """
    if seen.phase != "Succeeded" or c.find(desired.get("conditions"), c.WORKLOAD_UPDATED) is not None:
        return desired
    outcome = await generate_workload(api, run, seen)
    return desired if outcome is None else with_outcome(desired, outcome, gen=gen, now=now)
