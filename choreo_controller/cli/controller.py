"""``choreo-controller controller``: run the WorkflowRun engine against a control plane and its build planes.

Exactly one build-plane mode (SPEC sections 1 and 7):

* direct - ``--build-plane-kubeconfig`` reaches one build plane for every planeID (development, tests);
* relay, embedded - ``--embedded-gateway --gateway-cert --gateway-key``: agents dial this process (the
  leader) on ``--gateway-bind-address``; the controller holds no build-plane credentials; with
  ``--gateway-internal-client-ca`` the leader also serves the gateway's internal API (``runs logs``);
* relay, standalone - ``--gateway-url --gateway-ca --gateway-client-cert --gateway-client-key``: build
  planes through a ``choreo-controller gateway`` started with ``--internal-client-ca``.

Runs until SIGTERM/SIGINT (exit 0, after in-flight reconciles finish and the lease is released)
or until leadership is lost (exit 1: a process that led once cannot vouch that every write stopped).
``app.run_controller`` does the work; this module only parses flags and maps outcomes to exit codes.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from choreo_controller.app_relay import RelayOptions
    from choreo_controller.cli import Subparsers

DESCRIPTION = (
    "Run the controller: informers, work queues and the WorkflowRun, Workflow and ClusterWorkflow "
    "reconcilers, with /metrics, /healthz and /readyz. Build planes are reached in one of three ways: "
    "directly (--build-plane-kubeconfig), through agents dialling a gateway embedded in this process "
    "(--embedded-gateway), or through a standalone gateway (--gateway-url)."
)
MODES = "choose one of --build-plane-kubeconfig, --embedded-gateway, --gateway-url"


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``controller`` subcommand."""
    parser = sub.add_parser("controller", help="run the WorkflowRun controller", description=DESCRIPTION)
    parser.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="control plane (default: $KUBECONFIG, in-cluster, ~/.kube/config)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="concurrent WorkflowRun reconciles (default: one per 10 of --kube-api-qps, at least 4: 20)",
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
        "--sweep-min-age",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="build-plane objects younger than this are never swept as orphans (60)",
    )
    parser.add_argument(
        "--resync-interval", type=float, default=600.0, metavar="SECONDS", help="safety resync period (600)"
    )
    parser.add_argument(
        "--failure-log-lines",
        type=int,
        default=10,
        metavar="N",
        help="keep the last N log lines of each failed step in the run's failure message (10; 0: none)",
    )
    parser.add_argument(
        "--autobuild-bind-address",
        default="0",
        metavar="ADDR",
        help="host:port for POST /api/v1alpha1/autobuild (Git push webhooks); 0 (the default) disables",
    )
    parser.add_argument(
        "--autobuild-secret-namespace",
        default="openchoreo-control-plane",
        metavar="NS",
        help="namespace of the Secret git-webhook-secrets (github-secret, gitlab-secret, bitbucket-secret; "
        "<namespace>.<provider>-secret and <namespace>.<component>.<provider>-secret scope a key)",
    )
    parser.add_argument(
        "--autobuild-git-host",
        action="append",
        default=[],
        type=_git_host,
        metavar="HOST=PROVIDER",
        help="a self-hosted Git host and its provider (github, gitlab, bitbucket); repeatable. Public hosts "
        "are known; a repository on any other host is never built from a webhook",
    )
    parser.add_argument(
        "--kube-api-qps",
        type=float,
        default=200.0,
        metavar="QPS",
        help="client-side limit on requests/s to each apiserver, a guard against a runaway (200)",
    )
    parser.add_argument(
        "--kube-api-burst",
        type=int,
        default=400,
        metavar="N",
        help="requests allowed above the QPS at once (400)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    _register_build_plane_flags(parser)
    parser.set_defaults(handler=run)


def _register_build_plane_flags(parser: argparse.ArgumentParser) -> None:
    direct = parser.add_argument_group("build planes, direct mode (development and tests)")
    direct.add_argument(
        "--build-plane-kubeconfig", metavar="FILE", help="reach one build plane for every planeID with this"
    )
    embedded = parser.add_argument_group(
        "build planes through the relay, gateway embedded in this process (only the leader listens)"
    )
    embedded.add_argument("--embedded-gateway", action="store_true", help="accept build-plane agents here")
    embedded.add_argument(
        "--gateway-bind-address", default=":8443", metavar="ADDR", help="agent listener host:port (:8443)"
    )
    embedded.add_argument("--gateway-cert", metavar="FILE", help="its TLS server certificate (PEM)")
    embedded.add_argument("--gateway-key", metavar="FILE", help="its private key (PEM)")
    embedded.add_argument(
        "--gateway-ca-namespace",
        action="append",
        metavar="NAMESPACE",
        help="where BuildPlanes and WorkflowPlanes may keep clientCA Secrets besides their own namespace "
        "(repeatable; default openchoreo-control-plane)",
    )
    embedded.add_argument(
        "--gateway-internal-client-ca",
        metavar="FILE",
        help="also serve the gateway's internal API (runs logs --gateway-url, runs get): client "
        "certificates must chain to this CA (never the agents' CA); mTLS with --gateway-cert/--gateway-key",
    )
    embedded.add_argument(
        "--gateway-internal-bind-address",
        default=":8444",
        metavar="ADDR",
        help="internal API listener host:port (:8444), with --gateway-internal-client-ca",
    )
    remote = parser.add_argument_group(
        "build planes through the relay, standalone gateway (choreo-controller gateway --internal-client-ca)"
    )
    remote.add_argument("--gateway-url", metavar="URL", help="its internal API, e.g. https://gateway:8444")
    remote.add_argument("--gateway-ca", metavar="FILE", help="the only CA trusted for the gateway (pinned)")
    remote.add_argument("--gateway-client-cert", metavar="FILE", help="this controller's client certificate")
    remote.add_argument("--gateway-client-key", metavar="FILE", help="its private key (PEM)")


def _relay(args: argparse.Namespace) -> tuple[RelayOptions | None, list[tuple[str, str | None]], str]:
    """``(relay options, files that must exist, usage error)`` for the chosen build-plane mode."""
    from choreo_controller.app_relay import RemoteGateway  # noqa: PLC0415 - heavy, only when it runs

    chosen = [bool(args.build_plane_kubeconfig), args.embedded_gateway, bool(args.gateway_url)]
    if sum(chosen) != 1:
        return None, [], MODES
    if args.build_plane_kubeconfig:
        return None, [("--build-plane-kubeconfig", args.build_plane_kubeconfig)], ""
    if args.embedded_gateway:
        return _embedded(args)
    files = [
        ("--gateway-ca", args.gateway_ca),
        ("--gateway-client-cert", args.gateway_client_cert),
        ("--gateway-client-key", args.gateway_client_key),
    ]
    if not all(path for _, path in files):
        return None, [], "--gateway-url needs --gateway-ca, --gateway-client-cert and --gateway-client-key"
    remote = RemoteGateway(
        args.gateway_url, args.gateway_ca, args.gateway_client_cert, args.gateway_client_key
    )
    return remote, files, ""


def _embedded(args: argparse.Namespace) -> tuple[RelayOptions | None, list[tuple[str, str | None]], str]:
    """``_relay`` for ``--embedded-gateway`` (with its internal API when given a client CA)."""
    from choreo_controller.app_relay import EmbeddedGateway  # noqa: PLC0415 - heavy, only when it runs
    from choreo_controller.relay.internal import InternalConfig  # noqa: PLC0415

    files = [("--gateway-cert", args.gateway_cert), ("--gateway-key", args.gateway_key)]
    bound = _address(args.gateway_bind_address)
    if bound is None or not all(path for _, path in files):
        return None, [], "--embedded-gateway needs --gateway-cert, --gateway-key and a bind address"
    internal = None
    if args.gateway_internal_client_ca:
        internal_bound = _address(args.gateway_internal_bind_address)
        if internal_bound is None:
            return None, [], "--gateway-internal-bind-address must be host:port"
        files.append(("--gateway-internal-client-ca", args.gateway_internal_client_ca))
        internal = InternalConfig(
            args.gateway_cert, args.gateway_key, args.gateway_internal_client_ca, *internal_bound
        )
    namespaces = frozenset(args.gateway_ca_namespace or ("openchoreo-control-plane",))
    embedded = EmbeddedGateway(args.gateway_cert, args.gateway_key, *bound, namespaces, internal)
    return embedded, files, ""


def _address(text: str) -> tuple[str, int] | None:
    """``host:port`` as a tuple, or None when it is not one (a usage error)."""
    from choreo_controller.app import parse_address  # noqa: PLC0415 - heavy imports only when the command runs

    try:
        return parse_address(text)
    except ValueError:
        return None


def _numbers_wrong(args: argparse.Namespace) -> str:
    """A usage error for a count or rate flag out of range, else empty."""
    if args.workers is not None and args.workers < 1:
        return "--workers must be at least 1"
    if not args.kube_api_qps > 0 or args.kube_api_burst < 1:
        return "--kube-api-qps must be positive and --kube-api-burst at least 1"
    if not 0 <= args.failure_log_lines <= 100:
        return "--failure-log-lines must be between 0 and 100"
    return ""


def _preflight(args: argparse.Namespace, files: list[tuple[str, str | None]]) -> None:
    """Every file a flag names is usable (``preflight``: one line and exit 4 otherwise)."""
    from choreo_controller.cli import preflight  # noqa: PLC0415 - only when the command runs

    preflight.kubeconfig("--kubeconfig", args.kubeconfig)
    paths = {flag: path for flag, path in files if path}
    if "--build-plane-kubeconfig" in paths:
        preflight.kubeconfig("--build-plane-kubeconfig", paths["--build-plane-kubeconfig"])
    for cert, key in (("--gateway-cert", "--gateway-key"), ("--gateway-client-cert", "--gateway-client-key")):
        if cert in paths and key in paths:
            preflight.key_pair(cert, paths[cert], key, paths[key])
    for ca in ("--gateway-ca", "--gateway-internal-client-ca"):
        if ca in paths:
            preflight.pem(ca, paths[ca], "CERTIFICATE")


def run(args: argparse.Namespace) -> int:
    """Handler: configure logging, run the controller, map the outcome to an exit code."""
    from choreo_controller import logs  # noqa: PLC0415 - heavy imports only when the command runs
    from choreo_controller.app import ControllerOptions, default_workers, run_controller  # noqa: PLC0415
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE  # noqa: PLC0415
    from choreo_controller.runtime.leader import LeadershipLost  # noqa: PLC0415

    relay, files, usage = _relay(args)
    usage = _numbers_wrong(args) or usage
    if usage:
        sys.stderr.write(f"choreo-controller controller: {usage}\n")
        return EXIT_USAGE
    _preflight(args, files)
    logs.configure(args.log_level)
    options = ControllerOptions(
        kubeconfig=args.kubeconfig,
        build_plane_kubeconfig=args.build_plane_kubeconfig,
        relay=relay,
        workers=args.workers or default_workers(args.kube_api_qps),
        metrics_address=args.metrics_bind_address,
        health_address=args.health_probe_bind_address,
        leader_elect=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        leader_election_id=args.leader_election_id,
        sweep_interval=args.sweep_interval,
        sweep_min_age=args.sweep_min_age,
        resync_interval=args.resync_interval,
        failure_log_lines=args.failure_log_lines,
        qps=args.kube_api_qps,
        burst=args.kube_api_burst,
        autobuild_address=args.autobuild_bind_address,
        autobuild_secret_namespace=args.autobuild_secret_namespace,
        autobuild_hosts=tuple(args.autobuild_git_host),
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


def _git_host(text: str) -> tuple[str, str]:
    """``HOST=PROVIDER`` for ``--autobuild-git-host``; argparse turns the ValueError into a usage line."""
    host, _, provider = text.partition("=")
    if not host or "/" in host or provider not in {"github", "gitlab", "bitbucket"}:
        raise ValueError(text)
    return host.strip().lower(), provider
