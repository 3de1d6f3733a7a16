"""``choreo-controller runs``: list, inspect, watch, cancel and rerun WorkflowRuns in a control plane.

Subcommands: ``list``, ``get``, ``watch``, ``cancel``, ``rerun``, ``submit``, ``logs`` (``runslogs``: it and
``get`` read the build plane when named). Each takes ``--kubeconfig``, ``--context`` and ``-n/--namespace``
(default: the context's namespace, else ``default``), like kubectl.

Exit codes (``cli``): 0 done (``watch``, ``--watch``: the run succeeded); 1 the run failed or was cancelled
(``watch``), the run, workflow or namespace does not exist, ``submit``'s parameters do not fit the
Workflow's schema, the apiserver refused the call, or ``cancel`` found the run already completed; 2 usage
(argparse, a malformed ``--set``); 3 the cluster could not be reached (connection refused, timeout); 4 the
kubeconfig, its context, ``--from-file`` or a file the kubeconfig names is missing, unreadable or invalid
(``preflight``). Messages go to stderr, results to stdout.

This module is the IO edge: flags, the connection, error-to-exit-code mapping. What is printed comes from
``runsview`` (pure), the rerun and submit objects from ``rerun`` and ``submit`` (pure), the watch loop
from ``runswatch``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from choreo_controller.cli import Subparsers
    from choreo_controller.contracts import JsonObj, KubeApi

DESCRIPTION = (
    "Operate WorkflowRuns: list them, show one with its conditions and steps, follow one live until it "
    "completes, cancel one, run one again with the same or overridden parameters, start one, print its logs."
)
EPILOG = (
    "Exit codes: 0 ok (watch: the run succeeded); 1 the run failed, was cancelled or was not found, the "
    "parameters do not fit the Workflow's schema, or the apiserver refused the call; 2 usage error "
    "(including a malformed --set); 3 the cluster could not be reached; 4 the kubeconfig, its context, "
    "--from-file or a file the kubeconfig names is missing, unreadable or invalid."
)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add ``runs`` and its subcommands."""
    runs = sub.add_parser(
        "runs", help="list, get, watch, cancel and rerun WorkflowRuns", description=DESCRIPTION, epilog=EPILOG
    )
    commands = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="control plane (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    common.add_argument("--context", help="kubeconfig context (default: the current context)")
    common.add_argument(
        "-n", "--namespace", metavar="NS", help="namespace (default: the context's namespace, else default)"
    )
    one = argparse.ArgumentParser(add_help=False, parents=[common])
    one.add_argument("run", metavar="RUN", help="WorkflowRun name")

    def add(name: str, parent: argparse.ArgumentParser, summary: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[parent], help=summary, description=text, epilog=EPILOG)

    listing = add(
        "list", common, "list runs: name, workflow, status, age, duration",
        "List WorkflowRuns with their workflow, status (the reason of WorkflowCompleted), age and duration.",
    )  # fmt: skip
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="list runs in every namespace")
    listing.set_defaults(handler=_handler(_list))

    get = add(
        "get", one, "show one run: fields, conditions and steps",
        "Show one WorkflowRun: its fields, then its conditions and steps (tasks) as tables; or the whole "
        "object as YAML or JSON. Given its build plane, also its unfinished steps' pods' Warning events.",
    )  # fmt: skip
    get.add_argument(
        "-o", "--output", choices=("table", "yaml", "json"), default="table", help="output format (table)"
    )
    from choreo_controller.cli import runslogs  # noqa: PLC0415 - light: the heavy imports are in its functions

    runslogs.add_plane_arguments(get)
    get.set_defaults(handler=_handler(_get))

    watch = add(
        "watch", one, "follow a run's steps live until it completes",
        "Follow a WorkflowRun until it completes: on a terminal a live table of its steps with phases and "
        "durations, otherwise one line per change. Exit 0 if the run succeeded, 1 if it failed, was "
        "cancelled or was deleted.",
    )  # fmt: skip
    watch.add_argument(
        "--timeout", type=float, default=0.0, metavar="SECONDS",
        help="give up (exit 1) after this long; 0 waits forever (default 0)",
    )  # fmt: skip
    watch.set_defaults(handler=_handler(_watch))

    cancel = add(
        "cancel", one, 'cancel a run (annotation openchoreo.dev/cancel: "true")',
        'Cancel a WorkflowRun: set the annotation openchoreo.dev/cancel: "true"; the controller stops its '
        "run object in the build plane and the run ends WorkflowFailed/Cancelled. A run that already "
        "completed is left alone (exit 1).",
    )  # fmt: skip
    cancel.set_defaults(handler=_handler(_cancel))

    rerun = add(
        "rerun", one, "create a new run with the same or overridden parameters",
        "Create a new WorkflowRun from an existing one: the same workflow, labels and parameters, with "
        "--set overrides. PATH is dotted under spec.workflow.parameters (repository.revision.branch); "
        "VALUE is YAML or JSON (3, true, '[a, b]', '\"3\"' for a string, empty for the empty string). "
        "The new run is named --name, or after the first run of the chain plus 5 random characters.",
    )  # fmt: skip
    rerun.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
        help="override one parameter (repeatable)",
    )  # fmt: skip
    rerun.add_argument("--name", help="name of the new run (default: generated)")
    rerun.add_argument("--watch", action="store_true", help="then follow the new run, as `runs watch` does")
    rerun.set_defaults(handler=_handler(_rerun))

    submit = add(
        "submit", common, "create a run of a Workflow, its parameters checked here first",
        "Create a WorkflowRun of WORKFLOW: the namespace's Workflow of that name, else the ClusterWorkflow "
        "(--cluster: only the ClusterWorkflow). Parameters come from --from-file (a YAML or JSON mapping), "
        "then every --set on top (PATH dotted under the parameters, VALUE YAML or JSON, as for rerun). They "
        "are checked against the Workflow's schema with the controller's own code before anything is "
        "created: a mistake is one line naming the parameter's path, exit 1. Prints the new run's name; "
        "--watch then follows it as `runs watch` does (exit code: the run's outcome).",
    )  # fmt: skip
    submit.add_argument("workflow", metavar="WORKFLOW", help="Workflow (or ClusterWorkflow) name")
    submit.add_argument("--cluster", action="store_true", help="WORKFLOW is a ClusterWorkflow")
    submit.add_argument(
        "--from-file", metavar="FILE", help="the parameters, as a YAML or JSON mapping (--set applies on top)"
    )
    submit.add_argument(
        "--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
        help="set one parameter (repeatable)",
    )  # fmt: skip
    submit.add_argument("--name", help="name of the run (default: generated from WORKFLOW)")
    submit.add_argument("--watch", action="store_true", help="then follow the run, as `runs watch` does")
    submit.set_defaults(handler=_handler(_submit))

    logs = add(
        "logs", one, "print a run's step logs, read from its build plane",
        "Print a run's step logs in order, each line prefixed [step], from its build plane: through the "
        "relay (--gateway-url; a client certificate the gateway's internal API accepts) or directly. "
        "--follow waits for new steps until the run completes (exit code: its outcome); a step whose pod is "
        "gone is said on stderr (exit 1).",
    )  # fmt: skip
    runslogs.add_arguments(logs)
    logs.set_defaults(handler=_handler(_logs))


Command = Callable[["KubeApi", argparse.Namespace, str], Awaitable[int]]


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        return _run(command, args)

    return handle


def _run(command: Command, args: argparse.Namespace) -> int:
    from choreo_controller.cli import preflight  # noqa: PLC0415 - lazy: keep --help fast
    from choreo_controller.cli.rerun import parse_set  # noqa: PLC0415

    try:
        for text in getattr(args, "sets", ()):
            parse_set(text)  # before any network: a typo is a usage error, not a half-done rerun
        if getattr(args, "from_file", None):
            from choreo_controller.cli.submit import load_parameters  # noqa: PLC0415

            args.file_parameters = load_parameters(args.from_file)
        context = preflight.kubeconfig("--kubeconfig", args.kubeconfig, args.context)
        args.namespace = args.namespace or context.get("namespace") or _in_cluster_namespace(context)
        return asyncio.run(_connected(command, args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        explained = _explain(error, args)
        if explained is None:
            raise
        return _fail(*explained)


def _explain(error: Exception, args: argparse.Namespace) -> tuple[str, int] | None:
    """The message and exit code of an expected failure; ``None`` for a bug (the traceback then shows)."""
    from choreo_controller.cli import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE  # noqa: PLC0415 - the root imports us
    from choreo_controller.cli.rerun import SetError  # noqa: PLC0415
    from choreo_controller.cli.runslogs import Gone, Usage  # noqa: PLC0415
    from choreo_controller.cli.runswatch import RunDeleted  # noqa: PLC0415
    from choreo_controller.contracts import ApiError, Unavailable  # noqa: PLC0415

    # First match wins: Unavailable is an ApiError, and the more specific meaning must come first.
    table: list[tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Any], str], int]] = [
        ((SetError, Usage), str, EXIT_USAGE),
        (_Unreachable, lambda e: f"cannot reach the cluster: {e}", EXIT_UNREACHABLE),
        (Unavailable, lambda e: f"cannot reach the cluster: {e.message}", EXIT_UNREACHABLE),
        ((_Missing, Gone), str, EXIT_FAILED),
        (ApiError, lambda e: f"{type(e).__name__}: {e.message}", EXIT_FAILED),
        ((RunDeleted, TimeoutError), lambda e: f"{args.namespace}/{args.run}: {e}", EXIT_FAILED),
    ]
    return next(((text(error), code) for kinds, text, code in table if isinstance(error, kinds)), None)


class _Unreachable(Exception):
    """The cluster cannot be reached with the (checked) kubeconfig."""


class _Missing(Exception):
    """The run or its namespace does not exist; the message says which."""


async def _connected(command: Command, args: argparse.Namespace) -> int:
    from choreo_controller.kube.config import connect  # noqa: PLC0415 - heavy, on demand

    try:
        api = await connect(args.kubeconfig, args.context, request_timeout=15.0)
    except Exception as exc:  # noqa: BLE001 - the loader's own errors (bad context, bad file) all mean "cannot connect"
        raise _Unreachable(f"{type(exc).__name__}: {str(exc)[:300]}") from None
    async with api:
        return await command(api, args, args.namespace)


def _in_cluster_namespace(context: dict[str, Any]) -> str:
    """The default namespace when the context names none: the pod's in-cluster, else ``default``."""
    file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return file.read_text().strip() if not context and file.is_file() else "default"


# ---- subcommands ---------------------------------------------------------------------------------------
async def _list(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.api.resources import WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.cli.runsview import list_table  # noqa: PLC0415

    where = None if args.all_namespaces else namespace
    runs = (await api.list(WORKFLOW_RUN, where)).items
    if not runs:
        if where is not None:
            await _check_namespace(api, where)
        sys.stderr.write(f"No runs found{'' if where is None else f' in namespace {where}'}.\n")
        return 0
    sys.stdout.write(list_table(runs, datetime.now(UTC), all_namespaces=args.all_namespaces))
    return 0


async def _get(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.cli import runslogs  # noqa: PLC0415
    from choreo_controller.cli.runsview import detail  # noqa: PLC0415

    run = await _read(api, namespace, args.run)
    if args.output == "table":
        sys.stdout.write(detail(run, datetime.now(UTC)))
        await runslogs.print_warnings(args, run)
        return 0
    run.get("metadata", {}).pop("managedFields", None)
    if args.output == "json":
        sys.stdout.write(json.dumps(run, indent=2) + "\n")
    else:
        import yaml  # noqa: PLC0415

        sys.stdout.write(yaml.safe_dump(run, sort_keys=False))
    return 0


async def _watch(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    return await _follow(api, await _read(api, namespace, args.run), args.timeout)


async def _follow(api: KubeApi, run: JsonObj, limit: float) -> int:
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK  # noqa: PLC0415
    from choreo_controller.cli.runsview import run_duration  # noqa: PLC0415
    from choreo_controller.cli.runswatch import Display, watch_run  # noqa: PLC0415

    display = Display(sys.stdout, live=Display.is_terminal(sys.stdout))
    try:
        async with asyncio.timeout(limit if limit > 0 else None):
            outcome = await watch_run(api, run, display)
    except TimeoutError:
        raise TimeoutError(f"did not complete within {limit:g}s") from None
    final = await _read(api, run["metadata"]["namespace"], run["metadata"]["name"])
    meta = final["metadata"]
    took = run_duration(final, datetime.now(UTC))
    sys.stdout.write(f"run {meta['namespace']}/{meta['name']} {outcome.reason} in {took}\n")
    return EXIT_OK if outcome.succeeded else EXIT_FAILED


async def _cancel(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.api.labels import ANNOTATION_CANCEL  # noqa: PLC0415
    from choreo_controller.api.resources import WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.cli import EXIT_FAILED  # noqa: PLC0415
    from choreo_controller.cli.runsview import outcome  # noqa: PLC0415

    run = await _read(api, namespace, args.run)
    done = outcome(run)
    if done.done:
        message = f"{namespace}/{args.run}: already completed ({done.reason}); nothing to cancel"
        return _fail(message, EXIT_FAILED)
    if (run["metadata"].get("annotations") or {}).get(ANNOTATION_CANCEL) == "true":
        sys.stdout.write(f"workflowrun {namespace}/{args.run}: cancel already requested\n")
        return 0
    patch = {"metadata": {"annotations": {ANNOTATION_CANCEL: "true"}}}
    await api.merge_patch(WORKFLOW_RUN, args.run, patch, namespace=namespace)
    sys.stdout.write(f"workflowrun {namespace}/{args.run}: cancel requested\n")
    return 0


async def _rerun(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.api.resources import WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.cli.rerun import rerun_object  # noqa: PLC0415

    run = await _read(api, namespace, args.run)
    created = await api.create(WORKFLOW_RUN, rerun_object(run, args.sets, args.name))
    sys.stdout.write(f"workflowrun {namespace}/{created['metadata']['name']} created (rerun of {args.run})\n")
    sys.stdout.flush()
    return await _follow(api, created, 0.0) if args.watch else 0


async def _submit(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.api.resources import WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.cli import submit  # noqa: PLC0415
    from choreo_controller.schema import InvalidParameters, InvalidSchema, resolve_parameters  # noqa: PLC0415

    args.run = ""  # named once created
    kind, workflow = await _workflow(api, namespace, args.workflow, cluster=args.cluster)
    params = submit.parameters(getattr(args, "file_parameters", None), args.sets)
    try:
        resolved = resolve_parameters(workflow, params)
    except InvalidSchema as error:
        raise _Missing(f"{kind} {args.workflow!r} has an invalid parameter schema: {error.message}") from None
    except InvalidParameters as error:
        raise _Missing(f"invalid parameters for {kind} {args.workflow!r}: {error.message}") from None
    warning = resolved.warning()
    if warning:
        sys.stderr.write(f"warning: {warning}\n")
    run = submit.run_object(namespace, kind, args.workflow, params, args.name)
    created = await api.create(WORKFLOW_RUN, run)
    args.run = created["metadata"]["name"]
    sys.stdout.write(f"workflowrun {namespace}/{args.run} created\n")
    sys.stdout.flush()
    return await _follow(api, created, 0.0) if args.watch else 0


async def _logs(api: KubeApi, args: argparse.Namespace, namespace: str) -> int:
    from choreo_controller.cli import runslogs  # noqa: PLC0415

    return await runslogs.command(api, args, await _read(api, namespace, args.run))


# ---- helpers -------------------------------------------------------------------------------------------
async def _workflow(api: KubeApi, namespace: str, name: str, *, cluster: bool) -> tuple[str, JsonObj]:
    """``(kind, object)``: the namespace's Workflow ``name``, else the ClusterWorkflow (``cluster``: only)."""
    from choreo_controller.api.resources import CLUSTER_WORKFLOW, WORKFLOW  # noqa: PLC0415
    from choreo_controller.contracts import NotFound  # noqa: PLC0415

    if not cluster:
        try:
            return "Workflow", await api.get(WORKFLOW, name, namespace)
        except NotFound:
            pass
    try:
        return "ClusterWorkflow", await api.get(CLUSTER_WORKFLOW, name)
    except NotFound:
        if cluster:
            raise _Missing(f'clusterworkflow "{name}" not found') from None
    await _check_namespace(api, namespace)
    raise _Missing(f'workflow "{name}" not found in namespace "{namespace}", nor a clusterworkflow "{name}"')


async def _read(api: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    from choreo_controller.api.resources import WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.contracts import NotFound  # noqa: PLC0415

    try:
        return await api.get(WORKFLOW_RUN, name, namespace)
    except NotFound:
        await _check_namespace(api, namespace)
        raise _Missing(f'workflowrun "{name}" not found in namespace "{namespace}"') from None


async def _check_namespace(api: KubeApi, namespace: str) -> None:
    """Raise ``_Missing`` if ``namespace`` does not exist; a user who may not read namespaces is not told."""
    from choreo_controller.api.resources import NAMESPACE  # noqa: PLC0415
    from choreo_controller.contracts import ApiError, NotFound  # noqa: PLC0415

    try:
        await api.get(NAMESPACE, namespace)
    except NotFound:
        raise _Missing(f'namespace "{namespace}" not found') from None
    except ApiError:
        return


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return code
