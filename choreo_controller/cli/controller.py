"""``choreo-controller controller``: run the WorkflowRun engine against a control plane and a build plane.

Direct build-plane mode (SPEC section 1): ``--build-plane-kubeconfig`` reaches the build plane for every
planeID. Runs until SIGTERM/SIGINT (exit 0, after in-flight reconciles finish and the lease is released)
or until leadership is lost (exit 1: a process that led once cannot vouch that every write stopped).
``app.run_controller`` does the work; this module only parses flags and maps outcomes to exit codes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from choreo_controller.cli import Subparsers

DESCRIPTION = (
    "Run the controller: informers, work queues and the WorkflowRun, Workflow and ClusterWorkflow "
    "reconcilers, with /metrics, /healthz and /readyz. The build plane is reached directly with "
    "--build-plane-kubeconfig."
)


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``controller`` subcommand."""
    parser = sub.add_parser("controller", help="run the WorkflowRun controller", description=DESCRIPTION)
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="control plane (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    parser.add_argument(
        "--build-plane-kubeconfig", metavar="FILE", required=True, help="build plane, for every planeID"
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="concurrent WorkflowRun reconciles (default 4)"
    )
    parser.add_argument(
        "--metrics-bind-address", default=":8080", metavar="ADDR", help="host:port for /metrics; 0 disables"
    )
    parser.add_argument(
        "--health-probe-bind-address",
        default=":8081",
        metavar="ADDR",
        help="host:port for /healthz and /readyz; 0 disables",
    )
    parser.add_argument("--leader-elect", action="store_true", help="elect a leader on a Lease (for HA)")
    parser.add_argument(
        "--leader-election-namespace", default="default", metavar="NS", help="namespace of the Lease"
    )
    parser.add_argument(
        "--leader-election-id", default="choreo-controller", metavar="NAME", help="Lease name"
    )
    parser.add_argument(
        "--sweep-interval", type=float, default=600.0, metavar="SECONDS", help="orphan sweep period (600)"
    )
    parser.add_argument(
        "--resync-interval", type=float, default=600.0, metavar="SECONDS", help="safety resync period (600)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler: configure logging, run the controller, map the outcome to an exit code."""
    from choreo_controller import logs  # noqa: PLC0415 - heavy imports only when the command runs
    from choreo_controller.app import ControllerOptions, run_controller  # noqa: PLC0415
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: PLC0415
    from choreo_controller.runtime.leader import LeadershipLost  # noqa: PLC0415

    if args.workers < 1:
        sys.stderr.write("--workers must be at least 1\n")
        return EXIT_USAGE
    for flag, path in (
        ("--kubeconfig", args.kubeconfig),
        ("--build-plane-kubeconfig", args.build_plane_kubeconfig),
    ):
        if path is not None and not Path(path).is_file():
            sys.stderr.write(f"{flag}: no such file: {path}\n")
            return EXIT_FAILED
    logs.configure(args.log_level)
    options = ControllerOptions(
        kubeconfig=args.kubeconfig,
        build_plane_kubeconfig=args.build_plane_kubeconfig,
        workers=args.workers,
        metrics_address=args.metrics_bind_address,
        health_address=args.health_probe_bind_address,
        leader_elect=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        sweep_interval=args.sweep_interval,
        resync_interval=args.resync_interval,
    )
    try:
        asyncio.run(run_controller(options))
    except LeadershipLost as lost:
        sys.stderr.write(f"leadership lost: {lost}\n")
        return EXIT_FAILED
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"controller failed to start: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    return EXIT_OK
