"""``runs submit``: a new WorkflowRun of a Workflow, its parameters checked here first. Pure but for the file.

Parameters: ``--from-file`` (a YAML or JSON mapping, read as ``kubectl apply`` reads YAML: ``kubeyaml``),
then every ``--set path=value`` on top (``rerun.apply_sets``: the same syntax as ``runs rerun``). They are
checked against the Workflow's schema with the controller's own code (``schema.resolve_parameters``), so a
mistake is answered here, before anything is created, with the controller's message and the parameter's
path (``parameters.repository.revision.branch: 42 is not of type 'string'``). The run carries the values as
given - the controller applies the defaults, as it does for a run created with kubectl.

Which Workflow: ``--cluster`` names a ClusterWorkflow; otherwise the namespace's Workflow of that name if
one exists, else the ClusterWorkflow (OpenChoreo 1.x resolution). The run names the kind it was checked
against, so the controller runs exactly the Workflow whose schema passed.

Name: ``--name``, or ``generateName: <workflow>-`` (the apiserver appends 5 characters).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from choreo_controller.api import resources as r
from choreo_controller.cli.rerun import MAX_ROOT, apply_sets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from choreo_controller.contracts import JsonObj

MAX_FILE: Final = 1024 * 1024


def load_parameters(path: str) -> JsonObj:
    """The parameters map in ``path`` (empty: none); ``ConfigProblem`` naming the file if it is unusable."""
    import yaml  # noqa: PLC0415 - only when a file is given

    from choreo_controller.cli import kubeyaml  # noqa: PLC0415
    from choreo_controller.cli.preflight import ConfigProblem  # noqa: PLC0415

    file = Path(path).expanduser()
    try:
        if file.stat().st_size > MAX_FILE:
            raise ConfigProblem(f"--from-file {path}: larger than {MAX_FILE} bytes")
        with file.open(encoding="utf-8") as stream:
            docs = kubeyaml.load_all(stream)
    except OSError as exc:
        raise ConfigProblem(f"--from-file {path}: cannot be read ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigProblem(f"--from-file {path}: not YAML or JSON ({type(exc).__name__})") from None
    docs = [doc for doc in docs if doc is not None]
    if not docs:
        return {}
    if len(docs) > 1 or not isinstance(docs[0], dict):
        raise ConfigProblem(f"--from-file {path}: expected one mapping of parameters")
    return dict(docs[0])


def parameters(from_file: JsonObj | None, sets: Sequence[str]) -> JsonObj:
    """``--from-file``'s map with every ``--set`` applied, in order."""
    return apply_sets(from_file or {}, sets)


def run_object(namespace: str, kind: str, workflow: str, params: JsonObj, name: str | None) -> JsonObj:
    """The WorkflowRun to create."""
    meta: dict[str, Any] = {"namespace": namespace}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = workflow[:MAX_ROOT].rstrip("-.") + "-"
    return {
        "apiVersion": r.API_VERSION,
        "kind": "WorkflowRun",
        "metadata": meta,
        "spec": {"workflow": {"kind": kind, "name": workflow, "parameters": params}},
    }
