"""The ``Engine`` port: everything the controller needs to know about a workflow engine, and nothing more.

A Workflow's ``runTemplate`` renders one object - the engine's *run object* (an engine's ``RUN`` row in
``api.buildkinds``) - and its ``apiVersion``/``kind`` choose the engine (``engines.engine_for``). The rest
of the controller talks to the engine only through this port:

* ``run`` and ``title``: the run object's resource and how messages name it;
* ``fixes``: what the renderer applies to the rendered run object (data, not code: the renderer, a layer
  above, applies it) - the ServiceAccount field defaulted to ``workflow-sa``, parameter lists whose values
  the engine wants as text;
* ``prerequisites``: the engine's own objects in a build namespace (a Role granting the run's
  ServiceAccount the engine's ``GRANT`` rows, and its binding), created once beside the namespace and
  ``workflow-sa``;
* ``watched`` and ``children``: the kinds whose watch-fed caches tracking reads (the run object first), and
  which cached objects ``observe`` needs besides the run object (the child objects the engine's controller
  makes, e.g. one per task);
* ``observe``: an ``Observation`` of the run - the phase folded to four, a message, the ``status.tasks``
  entries, the run's results and every step's outputs. Pure;
* ``cancel``: the merge patch that asks the engine to stop a run, or ``None`` when there is nothing to ask;
* ``pod_label``, ``pod_selector`` and ``step_pods``: the label the engine puts on a run object's pods
  (valued the run object's name: the agent lists pods for people only by such a label), and which of
  their containers hold a step's own output (its log) - for a failure's last log lines and ``runs logs``.

Cleanup and the orphan sweep need nothing from here: they list every ``RUN`` and ``EXTRA`` kind of the table
by the run's uid label. What the agent may do in a build plane, and what its RBAC grants, are the table's
rows too - an engine's rows (``RUN``, ``CHILD``, ``GRANT``) come as one tuple there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from choreo_controller.api import labels
from choreo_controller.api.resources import ROLE, ROLE_BINDING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.api.buildkinds import BuildKind
    from choreo_controller.contracts import ApiResource, JsonObj

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
FINAL: Final[frozenset[Phase]] = frozenset({"Succeeded", "Failed"})
TASK_PHASES: Final = frozenset({"Pending", "Running", "Succeeded", "Failed", "Skipped", "Error"})
MAX_MESSAGE: Final = 1024  # a task's or the run's message, as the status shows it


@dataclass(frozen=True, slots=True)
class Fixes:
    """What the renderer applies to a rendered run object (before OpenChoreo's post-processing)."""

    service_account: tuple[str, ...]  # path of the ServiceAccount name; defaulted to workflow-sa when empty
    text_parameters: tuple[str, ...] = ()  # path of a ``[{name, value}]`` list whose values must be text


@dataclass(frozen=True, slots=True)
class StepOutputs:
    """One step, as its engine counts steps, and the values it produced."""

    names: frozenset[str]  # every name the step answers to (display name, template or Task name...)
    phase: str
    finished_at: str  # RFC 3339, "" while it runs
    values: Mapping[str, Any]  # output parameters / task results, by name


@dataclass(frozen=True, slots=True)
class Observation:
    """What the run's status needs from the run object (and its children)."""

    phase: Phase
    message: str
    tasks: list[dict[str, Any]]  # ``status.tasks`` entries, in execution order
    results: Mapping[str, Any] = field(default_factory=dict)  # the run's own results, by name
    outputs: tuple[StepOutputs, ...] = ()

    @property
    def finished(self) -> bool:
        """The engine reports a final phase."""
        return self.phase in FINAL

    def output(self, step: str, name: str) -> Any | None:
        """Value ``name`` of the last step called ``step`` that produced it (a retried step ran twice)."""
        produced = [s for s in self.outputs if step in s.names and name in s.values]
        return max(produced, key=lambda s: s.finished_at).values[name] if produced else None


@dataclass(frozen=True, slots=True)
class StepPod:
    """A step (a ``status.tasks`` entry) and the pod that ran it, as far as its logs go."""

    name: str  # as ``status.tasks`` names it
    phase: str  # as ``status.tasks`` gives it
    pod: JsonObj | None  # None: no pod (yet), or gone (deleted, garbage-collected)
    containers: tuple[str, ...]  # the containers whose logs are the step's own output, in order


class Engine(Protocol):
    """A workflow engine; see the module docstring."""

    @property
    def name(self) -> str:
        """Short, stable name (the ``engine`` of its rows in ``api.buildkinds``)."""
        ...

    @property
    def title(self) -> str:
        """How messages name a run object (``<title> <namespace>/<name>``)."""
        ...

    @property
    def run(self) -> ApiResource:
        """The run object's resource."""
        ...

    @property
    def fixes(self) -> Fixes:
        """What the renderer applies to the rendered run object."""
        ...

    @property
    def watched(self) -> tuple[ApiResource, ...]:
        """The kinds tracking reads from the plane's watch-fed caches: ``run`` first."""
        ...

    def prerequisites(self, namespace: str) -> list[tuple[ApiResource, JsonObj]]:
        """The engine's own objects in build namespace ``namespace``, in creation order."""
        ...

    def children(self, obj: JsonObj) -> list[tuple[ApiResource, str]]:
        """The cached objects (kind, name; in ``obj``'s namespace) that ``observe`` reads besides ``obj``."""
        ...

    def observe(self, obj: JsonObj, children: Mapping[str, JsonObj]) -> Observation:
        """Fold the run object (and its children, by name; missing ones are not made yet) into a state."""
        ...

    def cancel(self, obj: JsonObj) -> JsonObj | None:
        """The merge patch asking the engine to stop ``obj``; ``None`` if finished or already asked."""
        ...

    @property
    def pod_label(self) -> str:
        """The label the engine puts on every pod of a run object, valued the run object's name."""
        ...

    def pod_selector(self, obj: JsonObj) -> str:
        """The label selector of the pods that run ``obj``'s steps (in its namespace)."""
        ...

    def step_pods(self, obj: JsonObj, children: Mapping[str, JsonObj], pods: list[JsonObj]) -> list[StepPod]:
        """``obj``'s steps in ``status.tasks`` order, each with its pod among ``pods`` (the selector's)."""
        ...


def clip(text: str) -> str:
    """A message as the status shows it: at most ``MAX_MESSAGE`` characters."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def grant_role(namespace: str, role: str, grants: tuple[BuildKind, ...]) -> list[tuple[ApiResource, JsonObj]]:
    """A Role named ``role`` granting the ``GRANT`` rows to ``workflow-sa``, and its RoleBinding."""
    managed = {labels.LABEL_MANAGED_BY: labels.MANAGED_BY}
    meta = {"name": role, "namespace": namespace, "labels": managed}
    rules = [
        {"apiGroups": [row.resource.group], "resources": [row.resource.plural], "verbs": sorted(row.verbs)}
        for row in grants
    ]
    subject = {"kind": "ServiceAccount", "name": labels.WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace}
    return [
        (ROLE, {"apiVersion": ROLE.api_version, "kind": "Role", "metadata": meta, "rules": rules}),
        (
            ROLE_BINDING,
            {
                "apiVersion": ROLE_BINDING.api_version,
                "kind": "RoleBinding",
                "metadata": dict(meta),
                "roleRef": {"apiGroup": ROLE.group, "kind": "Role", "name": role},
                "subjects": [subject],
            },
        ),
    ]
