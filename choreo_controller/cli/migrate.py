"""``choreo-controller migrate [--dry-run]``: move a control plane from OpenChoreo 0.17's planes to 1.x's.

Reads every plane object, Workflow and ClusterWorkflow, plans with ``migration.plan`` (pure: a WorkflowPlane
copy of each BuildPlane, ``workflowPlaneRef`` instead of ``buildPlaneRef``, a reference for Workflows that
resolve to a 0.17 plane today), prints each change as a unified diff on stdout and - without ``--dry-run`` -
applies it: planes first, then Workflows, each patch carrying the resourceVersion it was planned on, so a
Workflow changed in between is reported and left alone, never overwritten. Running it twice changes
nothing the second time.

It deletes nothing. Runs submitted before recorded their 0.17 plane and clean up through it (and through the
agents of the ``buildplane`` identity); the summary counts them, so the BuildPlanes and their agents can go
once that count is zero. ``--namespace`` limits it to some namespaces, one team at a time.

stdout: the diffs and one summary line starting with ``#``; stderr: one ``Conflict:`` line per object left
alone. Exit codes (``cli``): 0 done, 1 conflicts (the rest was applied) or the apiserver refused a write,
3 the cluster could not be reached, 4 a bad kubeconfig (``preflight``).
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from choreo_controller.cli import Subparsers
    from choreo_controller.cli.migration import Plan
    from choreo_controller.contracts import JsonObj, KubeApi

DESCRIPTION = (
    "Move the control plane from OpenChoreo 0.17's plane kinds to 1.x's: create a WorkflowPlane "
    "(ClusterWorkflowPlane) copy of every BuildPlane (ClusterBuildPlane), replace each Workflow's "
    "buildPlaneRef with the workflowPlaneRef to that copy, and give Workflows without a reference that "
    "resolve to a 0.17 plane today a workflowPlaneRef to its copy. Every change is printed as a unified "
    "diff. Nothing is deleted: runs already submitted keep cleaning up through the 0.17 planes they recorded."
)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``migrate`` subcommand."""
    parser = sub.add_parser(
        "migrate",
        help="move BuildPlanes and buildPlaneRefs to OpenChoreo 1.x's WorkflowPlanes (prints a diff)",
        description=DESCRIPTION,
        epilog="Exit codes: 0 done; 1 conflicts (printed on stderr) or a refused write; 3 cluster "
        "unreachable; 4 bad kubeconfig.",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    parser.add_argument(
        "-n",
        "--namespace",
        dest="namespaces",
        action="append",
        metavar="NS",
        help="only this namespace (repeatable): its BuildPlanes and Workflows, and a copy of each "
        "cluster-scoped plane they use - one team at a time (default: everything, ClusterWorkflows included)",
    )
    parser.add_argument(
        "--kubeconfig", metavar="FILE", help="control plane (default: $KUBECONFIG, in-cluster)"
    )
    parser.add_argument("--context", help="kubeconfig context (default: the current context)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, preflight  # noqa: PLC0415
    from choreo_controller.contracts import ApiError, Unavailable  # noqa: PLC0415

    preflight.kubeconfig("--kubeconfig", args.kubeconfig, args.context)
    try:
        conflicts = asyncio.run(_migrate(args))
    except Unavailable as exc:
        sys.stderr.write(f"migrate: cannot reach the cluster: {exc.message}\n")
        return EXIT_UNREACHABLE
    except ApiError as exc:
        sys.stderr.write(f"migrate: {type(exc).__name__}: {exc.message}\n")
        return EXIT_FAILED
    return EXIT_FAILED if conflicts else EXIT_OK


async def _migrate(args: argparse.Namespace) -> int:
    from choreo_controller.cli.migration import diff, plan  # noqa: PLC0415
    from choreo_controller.kube.config import connect  # noqa: PLC0415 - heavy, on demand

    async with connect(args.kubeconfig, args.context, request_timeout=15.0) as api:
        namespaces = frozenset(args.namespaces) if args.namespaces else None
        objects, recorded = await _read(api, namespaces)
        planned = plan(objects, namespaces)
        for change in planned.changes:
            sys.stdout.write(diff(change))
        failed = [] if args.dry_run else await _apply(api, planned)
    for line in [*planned.conflicts, *failed]:
        sys.stderr.write(f"Conflict: {line}\n")
    sys.stdout.write(_summary(planned, recorded, dry_run=args.dry_run, failed=len(failed)))
    return len(planned.conflicts) + len(failed)


async def _read(api: KubeApi, namespaces: frozenset[str] | None) -> tuple[dict[str, list[JsonObj]], int]:
    """Every plane object and Workflow by kind; how many runs (of ``namespaces``) recorded a 0.17 plane."""
    from choreo_controller.api import planes  # noqa: PLC0415
    from choreo_controller.api.resources import CLUSTER_WORKFLOW, WORKFLOW, WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.contracts import NotFound  # noqa: PLC0415
    from choreo_controller.reconcilers.workflowrun.resolve import recorded_plane  # noqa: PLC0415

    objects: dict[str, list[JsonObj]] = {}
    for resource in (*(kind.resource for kind in planes.PLANE_KINDS), WORKFLOW, CLUSTER_WORKFLOW):
        try:
            objects[resource.kind] = (await api.list(resource)).items
        except NotFound as exc:  # a kind whose CRD is not installed: apply manifests/crds first
            raise NotFound(
                f"{resource.plural}: not served; apply manifests/crds first ({exc.message})"
            ) from None
    runs = [
        run
        for run in (await api.list(WORKFLOW_RUN)).items
        if namespaces is None or (run.get("metadata") or {}).get("namespace") in namespaces
    ]
    recorded = [recorded_plane(run) for run in runs]
    legacy = sum(
        1
        for plane in recorded
        if plane and planes.generation_of(str(plane.get("kind") or "")) is planes.BUILD_PLANE_ERA
    )
    return objects, legacy


async def _apply(api: KubeApi, planned: Plan) -> list[str]:
    """Apply the changes in order; one line for each that failed (the rest is applied all the same)."""
    from choreo_controller.contracts import AlreadyExists, Conflict, Invalid, NotFound  # noqa: PLC0415

    failed: list[str] = []
    for change in planned.changes:
        meta: dict[str, Any] = change.after.get("metadata") or {}
        try:
            if change.action == "create":
                await api.create(change.resource, change.after)
            else:
                assert change.patch is not None  # noqa: S101 - a patch change always carries its patch
                await api.merge_patch(
                    change.resource, meta["name"], change.patch, namespace=meta.get("namespace") or None
                )
        except (AlreadyExists, Conflict, NotFound, Invalid) as exc:
            failed.append(f"{change.title}: {type(exc).__name__} ({exc.message[:200]}); left as it is")
    return failed


def _summary(planned: Plan, recorded: int, *, dry_run: bool, failed: int) -> str:
    creates = sum(1 for c in planned.changes if c.action == "create")
    patches = len(planned.changes) - creates
    done = "dry run: nothing changed" if dry_run else f"applied, {failed} failed"
    if not planned.changes:
        done = "nothing to migrate"
    return (
        f"# {creates} to create, {patches} to patch, {len(planned.kept)} already migrated, "
        f"{len(planned.conflicts)} conflicts ({done}); {recorded} runs recorded on 0.17 planes: keep those "
        "planes and their agents until the runs are gone\n"
    )
