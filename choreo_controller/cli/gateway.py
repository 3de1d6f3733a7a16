"""``choreo-controller gateway``: the relay gateway as its own process (SPEC sections 1 and 7).

Parses flags into ``relay.serve.GatewayOptions`` and runs until SIGTERM/SIGINT. Everything else lives in
``relay``; this module only knows flags, signals and exit codes.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from choreo_controller.cli.relayflags import add_common, host_port, run_until_signalled

if TYPE_CHECKING:
    import argparse
    import asyncio

    from choreo_controller.cli import Subparsers


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``gateway`` subcommand."""
    parser = sub.add_parser(
        "gateway",
        help="run the relay gateway: the mTLS websocket listener build-plane agents dial into",
        description=(
            "Accept build-plane agents over mTLS websockets. An agent's certificate must name its plane "
            "(URI SAN openchoreo://buildplane/<planeID> or openchoreo://workflowplane/<planeID>) and be "
            "issued by the clientCA of a plane object of that family (BuildPlane or ClusterBuildPlane; "
            "WorkflowPlane or ClusterWorkflowPlane) with that planeID; their status.agentConnection is kept "
            "current."
        ),
    )
    parser.add_argument("--tls-cert", required=True, metavar="FILE", help="gateway server certificate (PEM)")
    parser.add_argument("--tls-key", required=True, metavar="FILE", help="its private key (PEM)")
    parser.add_argument(
        "--listen", type=host_port, default=("0.0.0.0", 8443), metavar="HOST:PORT",  # noqa: S104
        help="agent listener (default 0.0.0.0:8443)",
    )  # fmt: skip
    parser.add_argument("--kubeconfig", help="control-plane kubeconfig (default: $KUBECONFIG, in-cluster)")
    parser.add_argument(
        "--ca-namespace",
        action="append",
        metavar="NAMESPACE",
        help="where BuildPlanes and WorkflowPlanes may also keep clientCA Secrets besides their own "
        "namespace (repeatable; default openchoreo-control-plane)",
    )
    parser.add_argument(
        "--internal-client-ca",
        metavar="FILE",
        help="enable the internal API for controllers in other processes; their client certificates must "
        "chain to this CA (never the agents' CA)",
    )
    parser.add_argument(
        "--internal-listen", type=host_port, default=("0.0.0.0", 8444), metavar="HOST:PORT",  # noqa: S104
        help="internal API listener (default 0.0.0.0:8444), mTLS with --tls-cert/--tls-key",
    )  # fmt: skip
    add_common(parser, probe_port=8080)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the gateway until signalled; returns the exit code."""
    from choreo_controller import kube  # noqa: PLC0415 - heavy, on demand
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK, preflight  # noqa: PLC0415 - the root imports us
    from choreo_controller.relay.gateway import GatewayConfig  # noqa: PLC0415 - heavy, on demand
    from choreo_controller.relay.internal import InternalConfig  # noqa: PLC0415
    from choreo_controller.relay.serve import GatewayOptions, run_gateway  # noqa: PLC0415

    preflight.key_pair("--tls-cert", args.tls_cert, "--tls-key", args.tls_key)
    if args.internal_client_ca:
        preflight.pem("--internal-client-ca", args.internal_client_ca, "CERTIFICATE")
    preflight.kubeconfig("--kubeconfig", args.kubeconfig)
    config = GatewayConfig(
        cert_file=args.tls_cert,
        key_file=args.tls_key,
        host=args.listen[0],
        port=args.listen[1],
        heartbeat=args.heartbeat,
        dead_after=args.dead_after,
        ca_namespaces=frozenset(args.ca_namespace or ("openchoreo-control-plane",)),
    )
    internal = None
    if args.internal_client_ca:
        host, port = args.internal_listen
        internal = InternalConfig(args.tls_cert, args.tls_key, args.internal_client_ca, host, port)
    probe_host, probe_port = args.probe_listen
    opts = GatewayOptions(config, probe_host, probe_port, internal)

    async def main(stop: asyncio.Event) -> None:
        async with kube.connect(args.kubeconfig) as control_plane:
            await run_gateway(opts, control_plane, stop)

    try:
        run_until_signalled(main, args.log_level)
    except OSError as exc:  # ports; the files were checked above
        sys.stderr.write(f"gateway: {exc}\n")
        return EXIT_FAILED
    return EXIT_OK
