"""What the engine may create, read and delete in a build plane: ONE table (SPEC sections 4, 5.6, 7).

Every module that needs to know "which kinds" reads ``KINDS``, so they cannot drift apart:

* the renderer's static check (``render.check``) and the run's plan (``reconcilers.workflowrun.plan``):
  a Workflow whose ``spec.resources`` renders a kind that is not an ``EXTRA`` here, or whose
  ``runTemplate`` is not an engine's ``RUN`` kind, is ``InvalidTemplate`` naming the kind;
* the agent's default-deny allowlist (``relay.authz``): exactly these resources and verbs, in build
  namespaces only (a namespaced kind that may be listed is listed across namespaces, the answer cut down to
  build namespaces);
* cleanup (``finalize``) and the orphan sweep (``sweep``): every ``RUN`` and ``EXTRA`` kind is listed by the
  ``openchoreo.dev/workflowrun-uid`` label;
* the agent's ClusterRole (``manifests/build-plane/clusterrole.yaml``, compared with this table by
  ``tests/unit/test_buildkinds.py``).

Uses:

* ``PREREQUISITE`` - the shared objects of a build namespace (SPEC 5.6): created once, never deleted by a run;
* ``EXTRA`` - what a Workflow's ``spec.resources`` may render for one run: the kinds a CI pipeline needs
  (configuration, credentials, a workspace volume, a service account, an ExternalSecret);
* ``RUN`` - an engine's run object (Argo's ``Workflow``, Tekton's ``PipelineRun``): created, watched,
  patched (cancel), deleted; the engine itself is ``engines.engine_for`` of it;
* ``CHILD`` - what an engine's controller makes of a run object and tracking reads (Tekton's ``TaskRun``:
  one per task, carrying the task's state): listed and watched only, never written - they go with their
  run object (owner references), so cleanup and the sweep never list them;
* ``GRANT`` - never touched by the engine: the workflow Role it creates grants these verbs to the run's
  ServiceAccount (Argo's executor writes task results), so the agent must hold them too (RBAC's
  escalation check lets a subject grant only what it holds);
* ``OBSERVE`` - read-only, for people (``runs logs``, ``runs get``): a run's pods, listed only by the label
  its engine puts on them (``Engine.pod_label``, checked by ``relay.authz``), their ``log`` subresource,
  and the Events of one object (field-selected by ``involvedObject``); never across namespaces, never
  written, never swept.

An engine's rows come as one tuple (``ARGO``, ``TEKTON``), appended to ``KINDS``. Nothing else lists
kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from choreo_controller.api import resources as r
from choreo_controller.contracts import ApiResource

Use = Literal["prerequisite", "extra", "run", "child", "grant", "observe"]
PREREQUISITE: Final = "prerequisite"
EXTRA: Final = "extra"
RUN: Final = "run"
CHILD: Final = "child"
GRANT: Final = "grant"
OBSERVE: Final = "observe"

PREREQUISITE_VERBS: Final = frozenset({"get", "create"})  # created once if missing; never patched
EXTRA_VERBS: Final = frozenset({"get", "list", "create", "delete"})  # create, adopt, find again, delete
RUN_VERBS: Final = frozenset({"get", "list", "watch", "create", "patch", "delete"})  # patch: cancel
CHILD_VERBS: Final = frozenset({"list", "watch"})  # tracking's informer, nothing else


@dataclass(frozen=True, slots=True)
class BuildKind:
    """One row: a resource, what the engine does with it, and why it is there."""

    resource: ApiResource
    verbs: frozenset[str]
    use: Use
    engine: str = ""  # the engine a RUN, CHILD or GRANT row belongs to
    other_versions: frozenset[str] = frozenset()  # served versions accepted besides ``resource.version``
    subresource: str = ""  # an OBSERVE row may name one (``log``)

    @property
    def versions(self) -> frozenset[str]:
        """Every version the engine accepts for this kind."""
        return self.other_versions | {self.resource.version}


ARGO: Final[tuple[BuildKind, ...]] = (
    BuildKind(r.ARGO_WORKFLOW, RUN_VERBS, RUN, engine="argo"),
    BuildKind(r.ARGO_WORKFLOW_TASK_RESULT, frozenset({"create", "patch"}), GRANT, engine="argo"),
)
TEKTON: Final[tuple[BuildKind, ...]] = (  # its pods need no API access: no GRANT rows
    BuildKind(r.TEKTON_PIPELINE_RUN, RUN_VERBS, RUN, engine="tekton"),
    BuildKind(r.TEKTON_TASK_RUN, CHILD_VERBS, CHILD, engine="tekton"),
)

OBSERVED: Final[tuple[BuildKind, ...]] = (
    BuildKind(r.POD, frozenset({"list"}), OBSERVE),  # by an engine's pod label only
    BuildKind(r.POD, frozenset({"get"}), OBSERVE, subresource="log"),
    BuildKind(r.EVENT, frozenset({"list"}), OBSERVE),  # field-selected by involvedObject only
)

KINDS: Final[tuple[BuildKind, ...]] = (
    BuildKind(r.NAMESPACE, PREREQUISITE_VERBS, PREREQUISITE),
    BuildKind(r.SERVICE_ACCOUNT, PREREQUISITE_VERBS, PREREQUISITE),
    BuildKind(r.ROLE, PREREQUISITE_VERBS, PREREQUISITE),
    BuildKind(r.ROLE_BINDING, PREREQUISITE_VERBS, PREREQUISITE),
    BuildKind(r.CONFIG_MAP, EXTRA_VERBS, EXTRA),
    BuildKind(r.SECRET, EXTRA_VERBS, EXTRA),
    BuildKind(r.SERVICE_ACCOUNT, EXTRA_VERBS, EXTRA),
    BuildKind(r.PERSISTENT_VOLUME_CLAIM, EXTRA_VERBS, EXTRA),
    BuildKind(r.EXTERNAL_SECRET, EXTRA_VERBS, EXTRA, other_versions=frozenset({"v1"})),
    *ARGO,
    *TEKTON,
    *OBSERVED,
)


def _find(api_version: str, kind: str, use: Use) -> ApiResource | None:
    group, _, version = api_version.rpartition("/")
    for row in KINDS:
        res = row.resource
        if row.use == use and (res.group, res.kind) == (group, kind) and version in row.versions:
            return res if version == res.version else ApiResource(group, version, res.plural, kind)
    return None


def extra_kind(api_version: str, kind: str) -> ApiResource | None:
    """The resource of an ``EXTRA`` kind (a Workflow's ``spec.resources`` may render it), else ``None``."""
    return _find(api_version, kind, EXTRA)


def run_kind(api_version: str, kind: str) -> ApiResource | None:
    """The resource of an engine's ``RUN`` kind (a ``runTemplate`` renders it), else ``None``."""
    return _find(api_version, kind, RUN)


def labelled() -> tuple[ApiResource, ...]:
    """The kinds whose objects carry a run's labels (``RUN``, ``EXTRA``): what cleanup and the sweep list."""
    return tuple(row.resource for row in KINDS if row.use in {RUN, EXTRA})


def grants(engine: str) -> tuple[BuildKind, ...]:
    """What the workflow Role grants the run's ServiceAccount for ``engine``."""
    return tuple(row for row in KINDS if row.use == GRANT and row.engine == engine)


@dataclass(frozen=True, slots=True)
class Relayed:
    """What the relay serves of one resource (or subresource): merged from its rows."""

    versions: frozenset[str]
    verbs: frozenset[str]
    namespaced: bool
    across_namespaces: bool  # may be listed (and watched) across namespaces: what the engine itself lists
    observe: bool  # read-only for people: the request's selectors are checked (``relay.authz``)


def relayed() -> dict[tuple[str, str, str], Relayed]:
    """``(group, plural, subresource)`` -> what the relay serves of it: the table minus ``GRANT``."""
    out: dict[tuple[str, str, str], Relayed] = {}
    for row in KINDS:
        if row.use == GRANT:
            continue
        key = (row.resource.group, row.resource.plural, row.subresource)
        was = out.get(key) or Relayed(
            frozenset(), frozenset(), row.resource.namespaced, across_namespaces=False, observe=False
        )
        engine_lists = row.use != OBSERVE and "list" in row.verbs  # its informers, cleanup and sweep
        out[key] = Relayed(
            was.versions | row.versions,
            was.verbs | row.verbs,
            row.resource.namespaced,
            was.across_namespaces or engine_lists,
            was.observe or row.use == OBSERVE,
        )
    return out


def _names(use: Use) -> str:
    kinds = {f"{row.resource.api_version} {row.resource.kind}" for row in KINDS if row.use == use}
    return ", ".join(sorted(kinds))


def refusal(api_version: str, kind: str, *, use: Literal["extra", "run"]) -> str | None:
    """Why ``kind`` may not be rendered as ``use`` (naming it and what is allowed); ``None`` if it may."""
    if (extra_kind if use == EXTRA else run_kind)(api_version, kind) is not None:
        return None
    if use == EXTRA:
        allowed = _names(EXTRA)
        return (
            f"{api_version} {kind} is not a kind a Workflow may create in a build plane (allowed: {allowed})"
        )
    return f"runTemplate must be a workflow engine's run object ({_names(RUN)}), not {api_version} {kind}"
