"""Which Components a push builds, and the WorkflowRun each gets (SPEC section 6). Pure.

A Component takes part in auto-build when ``spec.autoBuild`` is true and its Workflow (or
ClusterWorkflow) maps its repository parameters - the logical keys ``repoUrl``, ``branch``, ``commit``,
``appPath``, ``secretRef`` to dotted paths under ``parameters`` - in one of OpenChoreo's two ways:

* 0.17: the annotation ``openchoreo.dev/component-workflow-parameters``, either YAML
  (``repoUrl: parameters.repository.url`` per line) or the one-line form
  (``repoUrl: parameters.repository.url, branch: parameters.repository.revision.branch``);
* 1.x: the Workflow is labelled a component workflow (``api.componentworkflows``) and its
  ``openAPIV3Schema`` marks the fields ``x-openchoreo-component-parameter-repository-url: true`` etc.

``component_source`` reads the Component's ``spec.workflow.parameters`` through that map: the repository
(required), the branch (the Workflow schema's default when the Component leaves it empty; empty after
that means "any branch") and the app path (empty or ``.``: the whole repository). ``match`` then decides,
for one pushed branch, with the reason when it does not:

1. the normalised repository URL is one of the push's;
2. the repository's host belongs to the push's provider: public hosts (github.com, gitlab.com,
   bitbucket.org) by name, self-hosted ones only as configured (``hosts``, the receiver's
   ``--autobuild-git-host HOST=PROVIDER``) - a GitLab token cannot build a GitHub or an unknown host's
   repository;
3. the branch is the Component's (or it builds any branch);
4. some changed path is the app path or under it (unknown changed paths match).

A Component whose app path is not a safe relative path (``gitrefs.path_problem``) takes no part.

``build_run`` makes ``<component>-run-<8 hex>`` in the Component's namespace with the project/component
labels, the Component's parameters, the pushed commit written at the ``commit`` path (and, for a Component
that builds any branch, the pushed branch at the ``branch`` path). The 8 hex digits hash what the
signature covers - provider, repository, component, branch and commit - never the delivery id (an unsigned
header): a replay with a new or no id names the same run and creates nothing new.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import yaml

from choreo_controller.api import componentworkflows, labels
from choreo_controller.api.resources import API_VERSION
from choreo_controller.contracts import ObjectKey
from choreo_controller.reconcilers.autobuild.gitrefs import commit_problem, path_problem
from choreo_controller.reconcilers.autobuild.repourl import normalize, provider_for
from choreo_controller.schema import InvalidSchema, compile_workflow_schema

if TYPE_CHECKING:
    from collections.abc import Mapping

    from choreo_controller.contracts import JsonObj
    from choreo_controller.reconcilers.autobuild.providers import PushedBranch, PushEvent
    from choreo_controller.reconcilers.autobuild.repourl import Provider

KEYS: Final = ("repoUrl", "branch", "commit", "appPath", "secretRef")
MAX_NAME: Final = 63  # the run name becomes the run object's name and a label value
RUN_INFIX: Final = "-run-"
ANNOTATION_PROVIDER: Final = f"{labels.PREFIX}/autobuild-provider"
ANNOTATION_DELIVERY: Final = f"{labels.PREFIX}/autobuild-delivery"
_PATH: Final = re.compile(r"parameters(\.[A-Za-z0-9_-]+)+")


@dataclass(frozen=True, slots=True)
class ComponentSource:
    """Where a Component's code lives, as its workflow parameters say."""

    key: ObjectKey
    project: str
    workflow_kind: str
    workflow_name: str
    repository: str  # normalised
    branch: str  # "" = any branch
    app_path: str  # "" = the whole repository
    mapping: dict[str, str]
    parameters: dict[str, Any]


def as_map(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def parse_mapping(text: str) -> dict[str, str]:
    """The ``component-workflow-parameters`` annotation as ``{key: "parameters.a.b"}`` (known keys only)."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
        loaded = None  # OpenChoreo's one-line form is not YAML: "a: x, b: y"
    found: dict[str, str] = {}
    if isinstance(loaded, dict):
        found = {str(k).strip(): str(v).strip() for k, v in loaded.items() if isinstance(v, str)}
    else:
        for item in re.split(r"[,\n]", text):
            key, sep, value = item.partition(":")
            if sep:
                found[key.strip()] = value.strip()
    return {k: v for k, v in found.items() if k in KEYS and _PATH.fullmatch(v)}


def get_path(parameters: dict[str, Any], path: str) -> Any:
    """The value at ``parameters.a.b`` (``None`` if absent)."""
    current: Any = parameters
    for part in path.split(".")[1:]:
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def set_path(parameters: dict[str, Any], path: str, value: str) -> None:
    """Set ``parameters.a.b`` in place, creating maps on the way (a non-map in the way is replaced)."""
    parts = path.split(".")[1:]
    current = parameters
    for part in parts[:-1]:
        if not isinstance(current.get(part), dict):
            current[part] = {}
        current = current[part]
    current[parts[-1]] = value


def clean_path(path: str) -> str:
    """``./svc/`` -> ``svc``; ``.``, ``/`` and ``""`` -> ``""`` (the whole repository)."""
    text = path.strip().strip("/")
    while text.startswith("./"):
        text = text[2:].lstrip("/")
    return "" if text == "." else text


def _defaulted(workflow: JsonObj, parameters: dict[str, Any]) -> dict[str, Any]:
    try:
        compiled = compile_workflow_schema(workflow)
    except InvalidSchema:
        return parameters
    out = copy.deepcopy(parameters)
    if compiled is not None:
        for _ in compiled.defaulting.iter_errors(out):
            pass  # applying defaults only
    return out


def component_source(component: JsonObj, workflow: JsonObj, *, kind: str = "") -> ComponentSource | str:
    """The Component's source, or why it does not take part in auto-build.

    ``kind``: what the Component's workflow reference resolved to when it names no kind (``api.refs``).
    """
    meta, spec = as_map(component.get("metadata")), as_map(component.get("spec"))
    ref = as_map(spec.get("workflow"))
    annotations = as_map(as_map(workflow.get("metadata")).get("annotations"))
    text = annotations.get(labels.ANNOTATION_COMPONENT_WORKFLOW_PARAMETERS)
    if isinstance(text, str):
        mapping = parse_mapping(text)
    elif componentworkflows.is_component_workflow(workflow):
        mapping = componentworkflows.schema_mapping(workflow)
    else:
        return (
            f"its workflow is no component workflow (label {componentworkflows.LABEL_WORKFLOW_TYPE}: "
            f"component, or annotation {labels.ANNOTATION_COMPONENT_WORKFLOW_PARAMETERS})"
        )
    if not mapping:
        return (
            f"its workflow maps no repository parameter (annotation "
            f"{labels.ANNOTATION_COMPONENT_WORKFLOW_PARAMETERS}, or {componentworkflows.EXTENSION_PREFIX}url "
            "in its openAPIV3Schema)"
        )
    if "repoUrl" not in mapping:
        return "the workflow's parameter mapping has no repoUrl"
    parameters = as_map(ref.get("parameters"))
    defaulted = _defaulted(workflow, parameters)
    repository = normalize(str(get_path(parameters, mapping["repoUrl"]) or ""))
    if not repository:
        return f"{mapping['repoUrl']} is not a repository URL"
    branch = get_path(parameters, mapping["branch"]) if "branch" in mapping else None
    if not branch and "branch" in mapping:
        branch = get_path(defaulted, mapping["branch"])
    app_path = get_path(defaulted, mapping["appPath"]) if "appPath" in mapping else None
    problem = path_problem(clean_path(app_path)) if isinstance(app_path, str) else None
    if problem is not None:
        return f"its app path {str(app_path)[:80]!r} {problem}"
    return ComponentSource(
        key=ObjectKey(str(meta.get("namespace") or ""), str(meta.get("name") or "")),
        project=str(as_map(spec.get("owner")).get("projectName") or ""),
        workflow_kind=str(ref.get("kind") or kind or "Workflow"),
        workflow_name=str(ref.get("name") or ""),
        repository=repository,
        branch=branch if isinstance(branch, str) else "",
        app_path=clean_path(app_path) if isinstance(app_path, str) else "",
        mapping=mapping,
        parameters=copy.deepcopy(parameters),
    )


def match(
    source: ComponentSource,
    event: PushEvent,
    pushed: PushedBranch,
    hosts: Mapping[str, Provider] | None = None,
) -> str | None:
    """``None`` if the push builds ``source`` on ``pushed``; otherwise why not."""
    if source.repository not in event.repositories:
        return "another repository"
    host_provider = provider_for(source.repository, hosts)
    if host_provider != event.provider:
        hosted = f"hosted by {host_provider}" if host_provider else "on a host configured for no provider"
        return f"the repository is {hosted}, the push came from {event.provider}"
    if source.branch and source.branch != pushed.branch:
        return f"branch {pushed.branch!r} is not {source.branch!r}"
    if event.changed_paths is None or not source.app_path:
        return None
    prefix = source.app_path + "/"
    for changed in event.changed_paths:
        path = changed.lstrip("/")
        if path == source.app_path or path.startswith(prefix):
            return None
    return f"no changed path under {source.app_path!r}"


def run_name(component: str, seed: str | None) -> str:
    """``<component>-run-<8 hex>``: hashed from ``seed`` (deterministic) or random; at most 63 characters."""
    suffix = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:8] if seed else secrets.token_hex(4)
    base = component[: MAX_NAME - len(RUN_INFIX) - len(suffix)].rstrip("-.")
    return f"{base}{RUN_INFIX}{suffix}"


def build_run(source: ComponentSource, event: PushEvent, pushed: PushedBranch, delivery: str) -> JsonObj:
    """The WorkflowRun a push creates for ``source``; raises ``ValueError`` for a malformed commit."""
    if commit_problem(pushed.commit) is not None:
        raise ValueError("the pushed commit is not a hexadecimal SHA")
    parameters = copy.deepcopy(source.parameters)
    if "commit" in source.mapping:
        set_path(parameters, source.mapping["commit"], pushed.commit)
    if "branch" in source.mapping and not source.branch:
        set_path(parameters, source.mapping["branch"], pushed.branch)
    seed = f"{event.provider}\n{source.repository}\n{source.key}\n{pushed.branch}\n{pushed.commit}"
    annotations = {ANNOTATION_PROVIDER: event.provider, labels.ANNOTATION_COMMIT: pushed.commit}
    if pushed.committed_at:  # orders builds of one Component created in the same second (``concurrency``)
        annotations[labels.ANNOTATION_COMMIT_TIME] = pushed.committed_at
    if delivery:
        annotations[ANNOTATION_DELIVERY] = delivery
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowRun",
        "metadata": {
            "name": run_name(source.key.name, seed),
            "namespace": source.key.namespace,
            "labels": {labels.LABEL_PROJECT: source.project, labels.LABEL_COMPONENT: source.key.name},
            "annotations": annotations,
        },
        "spec": {
            "workflow": {"kind": source.workflow_kind, "name": source.workflow_name, "parameters": parameters}
        },
    }
