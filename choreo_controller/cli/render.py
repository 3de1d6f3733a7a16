"""``choreo-controller render``: the offline dry run of a WorkflowRun (SPEC section 1, issue 3).

Reads (as ``kubectl apply`` would: ``kubeyaml``) a Workflow or ClusterWorkflow, a WorkflowRun, the
SecretReferences its external refs name (``--ref``, repeatable, multi-document files allowed) and
optionally the plane (``--plane``: a BuildPlane, ClusterBuildPlane, WorkflowPlane or ClusterWorkflowPlane,
for ``workflowplane.secretStore`` and the build namespace); validates the run's parameters and renders
exactly what the controller would apply in the build plane. Without ``--plane`` the plane is the one the
Workflow's ``workflowPlaneRef`` or ``buildPlaneRef`` names (with neither, the first of the resolution
order, a BuildPlane or ClusterBuildPlane ``default``), without a secret store. A run without
``spec.workflow.kind`` pairs with a Workflow or a ClusterWorkflow of its name. stdout gets the objects
only: the extra resources in ``spec.resources`` order (skipped ones left out), then the engine's run
object, as multi-document YAML or (``--output json``) one JSON list. On invalid input stdout stays empty,
stderr gets one line per problem starting with its reason (``InvalidParameters:
parameters.repository.url: 'url' is a required property``) and the exit code is 1.
Parameters the schema does not declare are rendered (as OpenChoreo does) and each gets a stderr line
``Warning: UnknownParameters: parameters.scope: ...``; the exit code stays 0.

Everything here is IO and formatting; the work is ``schema.resolve_parameters`` and ``render.render_run``,
imported when the command runs so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from choreo_controller.api import planes

if TYPE_CHECKING:
    import argparse

    from choreo_controller.cli import Subparsers

PLACEHOLDER_UID = "00000000-0000-0000-0000-000000000000"
DESCRIPTION = (
    "Render a WorkflowRun offline, exactly as the controller would: validate its parameters against the "
    "Workflow's schema, resolve external refs from the given SecretReferences, and print the build-plane "
    "objects (extra resources in spec.resources order, then the engine's run object). On invalid input "
    "nothing is printed on stdout and every problem is one line on stderr, starting with its reason."
)
WORKFLOW_KINDS = ("Workflow", "ClusterWorkflow")
PLANE_KINDS = tuple(kind.kind for kind in planes.PLANE_KINDS)


class InputError(Exception):
    """Problems found in the input files, each a line ``<Reason>: <message>``."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``render`` subcommand."""
    parser = sub.add_parser(
        "render",
        help="render a WorkflowRun offline: the build-plane objects the controller would apply",
        description=DESCRIPTION,
        epilog=(
            "The run's metadata.uid is usually absent from a file; the label openchoreo.dev/workflowrun-uid "
            f"then gets the placeholder {PLACEHOLDER_UID}. The run's namespace defaults to 'default'. "
            "Files are read as kubectl apply reads them (YAML 1.1: n is false, 3.0 is 3). Parameters the "
            "Workflow's schema does not declare are rendered, each with a 'Warning: UnknownParameters' line "
            "on stderr. Exit codes: 0 rendered, 1 invalid input (one line per problem on stderr), 2 usage."
        ),
    )
    parser.add_argument("--workflow", required=True, metavar="FILE", help="Workflow or ClusterWorkflow YAML")
    parser.add_argument("--run", required=True, metavar="FILE", help="WorkflowRun YAML")
    parser.add_argument(
        "--ref", action="append", default=[], metavar="FILE", help="SecretReference YAML (repeatable)"
    )
    parser.add_argument(
        "--plane",
        "--build-plane",
        dest="plane",
        metavar="FILE",
        help="BuildPlane, ClusterBuildPlane, WorkflowPlane or ClusterWorkflowPlane YAML (default: the one "
        "the Workflow names, without a secret store)",
    )
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml", help="output format")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK  # noqa: PLC0415 - the root imports us

    try:
        objects = _render(args)
    except InputError as error:
        sys.stderr.write("".join(f"{line}\n" for line in error.lines))
        return EXIT_FAILED
    sys.stdout.write(_format(objects, args.output))
    return EXIT_OK


def _render(args: argparse.Namespace) -> list[dict[str, Any]]:
    from choreo_controller import render, schema  # noqa: PLC0415 - lazy: keep --help fast
    from choreo_controller.api.conditions import R_UNKNOWN_PARAMETERS  # noqa: PLC0415

    workflow = _one(args.workflow, WORKFLOW_KINDS)
    run = _one(args.run, ("WorkflowRun",))
    refs = [doc for path in args.ref for doc in _documents(path, ("SecretReference",))]
    _check_pairing(workflow, run)
    build_plane = _plane(workflow, _one(args.plane, PLANE_KINDS) if args.plane else None)
    metadata = run.setdefault("metadata", {})
    metadata["uid"] = metadata.get("uid") or PLACEHOLDER_UID
    problems = [f"{p.reason}: {p.message}" for p in render.check_workflow(workflow)]
    try:
        schema.compile_workflow_schema(workflow)
    except schema.InvalidSchema as error:
        problems += [f"{error.reason}: {problem}" for problem in error.problems]
    if problems:
        raise InputError(problems)
    try:
        resolved = schema.resolve_parameters(
            workflow, ((run.get("spec") or {}).get("workflow") or {}).get("parameters")
        )
        parameters = resolved.values
        requests = render.external_ref_requests(workflow, run, parameters, build_plane=build_plane)
        external = _external_refs(requests, run, refs)
        rendered = render.render_run(workflow, run, external, build_plane, parameters=parameters)
    except schema.InvalidParameters as error:
        more = error.total - len(error.violations)
        tail = [f"{error.reason}: and {more} more"] if more else []
        raise InputError([f"{error.reason}: {v}" for v in error.violations] + tail) from None
    except render.RenderError as error:
        raise InputError([f"{error.reason}: {error.message}"]) from None
    except render.RenderTimedOut as error:  # load, not the template: the controller would retry
        raise InputError([f"RenderTimedOut: {error.detail} (the machine is busy; try again)"]) from None
    for path in resolved.unknown:
        sys.stderr.write(
            f"Warning: {R_UNKNOWN_PARAMETERS}: {path}: not in the Workflow's schema (rendered as given)\n"
        )
    return rendered.objects()


def _check_pairing(workflow: dict[str, Any], run: dict[str, Any]) -> None:
    wanted = (run.get("spec") or {}).get("workflow") or {}
    name = wanted.get("name")
    kind = wanted.get("kind") or workflow.get("kind")  # no kind: a Workflow or else a ClusterWorkflow
    actual = (workflow.get("kind"), (workflow.get("metadata") or {}).get("name"))
    if (kind, name) != actual:
        said = wanted.get("kind") or "Workflow or ClusterWorkflow"
        raise InputError(
            [f"InvalidInput: the run refers to {said} {name!r}, but --workflow is {actual[0]} {actual[1]!r}"]
        )
    run_namespace = (run.get("metadata") or {}).get("namespace") or "default"
    workflow_namespace = (workflow.get("metadata") or {}).get("namespace")
    if kind == "Workflow" and workflow_namespace not in (None, run_namespace):
        where = f"the run is in namespace {run_namespace!r}, the Workflow in {workflow_namespace!r}"
        raise InputError([f"InvalidInput: {where}"])


def _plane(workflow: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """The plane to render for: ``given`` if the Workflow may use it, else the one its reference names."""
    try:
        _, candidates = planes.candidates(
            workflow, cluster_workflow=workflow.get("kind") == "ClusterWorkflow"
        )
    except planes.PlaneRefError as error:
        raise InputError([f"{error.generation.resolution_failed}: {error}"]) from None
    if given is None:
        first = candidates[0]
        return {"kind": first.kind.kind, "metadata": {"name": first.name}}
    kind, name = given.get("kind"), (given.get("metadata") or {}).get("name")
    allowed = [c for c in candidates if c.kind.kind == kind and (len(candidates) > 1 or c.name == name)]
    if not allowed:
        wanted = " or ".join(f"{c.kind.kind} {c.name!r}" for c in candidates)
        raise InputError([f"InvalidInput: the Workflow uses {wanted}, but --plane is {kind} {name!r}"])
    return given


def _external_refs(requests: list[Any], run: dict[str, Any], refs: list[dict[str, Any]]) -> dict[str, Any]:
    namespace = (run.get("metadata") or {}).get("namespace") or "default"
    found: dict[str, Any] = {}
    missing = []
    for index, request in enumerate(requests):
        if request.name is None:
            continue
        match = next(
            (
                ref
                for ref in refs
                if ref.get("kind") == request.kind
                and (ref.get("metadata") or {}).get("name") == request.name
                and (ref.get("metadata") or {}).get("namespace", namespace) == namespace
            ),
            None,
        )
        if match is None:
            missing.append(
                f"ExternalRefNotFound: externalRefs[{index}] ({request.id}): {request.kind} {request.name!r} "
                f"not found in namespace {namespace!r} (pass it with --ref FILE)"
            )
        else:
            found[request.id] = match
    if missing:
        raise InputError(missing)
    return found


def _documents(path: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    import yaml  # noqa: PLC0415 - lazy: keep --help fast

    from choreo_controller.cli import kubeyaml  # noqa: PLC0415

    try:
        with open(path, encoding="utf-8") as stream:  # noqa: PTH123 - a CLI path argument, read once
            docs = kubeyaml.load_all(stream)
    except OSError as error:
        raise InputError([f"InvalidInput: {path}: cannot read ({error.strerror})"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise InputError([f"InvalidInput: {path}: not valid YAML{where}"]) from None
    wrong = [doc for doc in docs if not isinstance(doc, dict) or doc.get("kind") not in kinds]
    if wrong or not docs:
        raise InputError([f"InvalidInput: {path}: expected {' or '.join(kinds)} documents"])
    return docs


def _one(path: str, kinds: tuple[str, ...]) -> dict[str, Any]:
    docs = _documents(path, kinds)
    if len(docs) != 1:
        raise InputError([f"InvalidInput: {path}: expected exactly one {' or '.join(kinds)}"])
    return docs[0]


def _format(objects: list[dict[str, Any]], output: str) -> str:
    if output == "json":
        return json.dumps(objects, indent=2, ensure_ascii=False) + "\n"
    import yaml  # noqa: PLC0415

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump_all(objects, Dumper=Dumper, sort_keys=False, explicit_start=True, allow_unicode=True)
