"""Component (CI) workflows of both generations: what marks one, and where its repository parameters are.

* The marker: OpenChoreo 1.x labels a component workflow ``openchoreo.dev/workflow-type: component``;
  0.17 annotated it ``openchoreo.dev/workflow-scope: component`` (also accepted as a label).
* The repository mapping - which parameter holds the repository URL, branch, commit, app path and Git
  secret, as ``{key: "parameters.a.b"}`` with the keys ``repoUrl``, ``branch``, ``commit``, ``appPath``,
  ``secretRef``: 0.17 wrote it in the annotation ``openchoreo.dev/component-workflow-parameters`` (read by
  ``reconcilers.autobuild.matching.parse_mapping``); 1.x marks the fields of
  ``spec.parameters.openAPIV3Schema`` with ``x-openchoreo-component-parameter-repository-<url | branch |
  commit | app-path | secret-ref>: true``, wherever they sit in the tree (``schema_mapping`` walks it,
  following local ``$ref``s; fields under arrays cannot be one path and are not looked at). Pure.
"""

from __future__ import annotations

import re
from typing import Any, Final

from choreo_controller.api import labels

LABEL_WORKFLOW_TYPE: Final = f"{labels.PREFIX}/workflow-type"
COMPONENT: Final = "component"
EXTENSION_PREFIX: Final = "x-openchoreo-component-parameter-repository-"
#: Extension suffix -> mapping key (the keys of the 0.17 annotation).
EXTENSIONS: Final = {
    "url": "repoUrl",
    "branch": "branch",
    "commit": "commit",
    "app-path": "appPath",
    "secret-ref": "secretRef",
}
MAX_DEPTH: Final = 32
_NAME: Final = re.compile(r"[A-Za-z0-9_-]+")  # a segment of a mapping path (parameters.a.b)


def is_component_workflow(workflow: dict[str, Any]) -> bool:
    """Marked as a component workflow, the 1.x way (label) or the 0.17 way (annotation or label)."""
    meta = workflow.get("metadata") or {}
    found = {**(meta.get("annotations") or {}), **(meta.get("labels") or {})}
    return COMPONENT in (found.get(LABEL_WORKFLOW_TYPE), found.get(labels.ANNOTATION_WORKFLOW_SCOPE))


def schema_mapping(workflow: dict[str, Any]) -> dict[str, str]:
    """The repository mapping the ``x-openchoreo-component-parameter-repository-*`` extensions give."""
    root = ((workflow.get("spec") or {}).get("parameters") or {}).get("openAPIV3Schema")
    found: dict[str, str] = {}
    if isinstance(root, dict):
        _walk(root, root, "parameters", found, set(), 0)
    return found


def _walk(
    node: Any, root: dict[str, Any], path: str, found: dict[str, str], seen: set[str], depth: int
) -> None:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return  # a recursive type: nothing new down there
        node = {**_resolve(root, ref), **{k: v for k, v in node.items() if k != "$ref"}}
        seen = seen | {ref}
    for suffix, key in EXTENSIONS.items():
        if node.get(EXTENSION_PREFIX + suffix) is True:
            found.setdefault(key, path)
    for name, child in (node.get("properties") or {}).items():
        if isinstance(name, str) and _NAME.fullmatch(name):
            _walk(child, root, f"{path}.{name}", found, seen, depth + 1)


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    """A local ``#/$defs/x`` (or ``#/definitions/x``) reference; ``{}`` for anything else."""
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}
