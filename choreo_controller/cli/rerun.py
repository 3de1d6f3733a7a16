"""``runs rerun``: the ``--set path=value`` overrides and the new WorkflowRun, as pure functions.

A WorkflowRun triggers once (SPEC section 5), so "run it again" means a new object: the same workflow,
labels (a component run stays a component run, governed as before) and parameters, with overrides.

``--set path=value``: ``path`` is dotted under ``spec.workflow.parameters`` (``repository.revision.branch``);
``value`` is parsed as YAML, so JSON works too (``3`` is a number, ``true`` a boolean, ``'[a, b]'`` a list,
``'"3"'`` a string; an empty value is the empty string; timestamps stay strings, as the apiserver keeps
them). Missing intermediate objects are created; a path through a non-object is an error. Every problem
is a ``SetError`` with one line of explanation, which the CLI prints with exit code 2 (usage).

Names: ``--name`` or ``generateName: <root>-`` (the apiserver appends 5 characters), where ``<root>`` is
the first run of the chain (``openchoreo.dev/rerun-of``), so reruns of reruns do not grow their names.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import labels

if TYPE_CHECKING:
    from collections.abc import Sequence

    from choreo_controller.contracts import JsonObj

ANNOTATION_RERUN_OF: Final = f"{labels.PREFIX}/rerun-of"
#: Not carried over: a rerun is not cancelled, not the same webhook delivery, not kubectl's last apply.
DROPPED_ANNOTATIONS: Final = frozenset({
    labels.ANNOTATION_CANCEL,
    f"{labels.PREFIX}/autobuild-delivery",
    "kubectl.kubernetes.io/last-applied-configuration",
})  # fmt: skip
MAX_ROOT: Final = 50  # generateName prefix; the run name also names the run object and its pods
_KEY: Final = re.compile(r"[A-Za-z0-9_$-][A-Za-z0-9_.$-]*")


class SetError(ValueError):
    """A malformed ``--set``; the message is one line for the user."""


def parse_set(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> ``(["a", "b"], parsed value)``."""
    import yaml  # noqa: PLC0415 - keep `--help` fast

    path, sep, raw = text.partition("=")
    if not sep:
        raise SetError(f"--set {text!r}: expected PATH=VALUE, e.g. repository.revision.branch=main")
    keys = path.strip().split(".")
    if not path.strip() or any(not _KEY.fullmatch(key) for key in keys):
        raise SetError(f"--set {text!r}: PATH must be dotted parameter names, e.g. image.tag")
    if raw == "":
        return keys, ""
    try:
        value = yaml.load(raw, Loader=_loader())  # noqa: S506 - a SafeLoader subclass (see _loader)
    except yaml.YAMLError:
        raise SetError(f"--set {text!r}: VALUE is not valid YAML or JSON") from None
    return keys, value


def apply_sets(parameters: JsonObj | None, sets: Sequence[str]) -> JsonObj:
    """A copy of ``parameters`` with every ``--set`` applied, in order."""
    result: JsonObj = copy.deepcopy(parameters) if isinstance(parameters, dict) else {}
    for text in sets:
        keys, value = parse_set(text)
        node = result
        for depth, key in enumerate(keys[:-1]):
            if node.get(key) is None:
                node[key] = {}
            child = node[key]
            if not isinstance(child, dict):
                where = ".".join(keys[: depth + 1])
                raise SetError(f"--set {text!r}: parameters.{where} is a {_kind(child)}, not an object")
            node = child
        node[keys[-1]] = value
    return result


def rerun_object(run: JsonObj, sets: Sequence[str], name: str | None = None) -> JsonObj:
    """The new WorkflowRun: ``run``'s workflow, labels and parameters with ``sets`` applied."""
    meta = run.get("metadata") or {}
    spec = copy.deepcopy(run.get("spec") or {})
    workflow = spec.setdefault("workflow", {})
    workflow["parameters"] = apply_sets(workflow.get("parameters"), sets)
    annotations = {
        key: value for key, value in (meta.get("annotations") or {}).items() if key not in DROPPED_ANNOTATIONS
    }
    root = annotations.get(ANNOTATION_RERUN_OF) or str(meta.get("name") or "run")
    annotations[ANNOTATION_RERUN_OF] = root
    new_meta: JsonObj = {"namespace": meta.get("namespace"), "annotations": annotations}
    if meta.get("labels"):
        new_meta["labels"] = dict(meta["labels"])
    if name:
        new_meta["name"] = name
    else:
        new_meta["generateName"] = root[:MAX_ROOT].rstrip("-.") + "-"
    return {"apiVersion": run.get("apiVersion"), "kind": run.get("kind"), "metadata": new_meta, "spec": spec}


def _kind(value: Any) -> str:
    return "list" if isinstance(value, list) else type(value).__name__.replace("str", "string")


def _loader() -> Any:
    import yaml  # noqa: PLC0415

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader
