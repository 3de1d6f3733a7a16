"""``choreo-controller agent``: the build-plane end of the relay (SPEC sections 1 and 7).

Parses flags into ``relay.serve.AgentOptions`` and runs until SIGTERM/SIGINT. The agent dials out only;
it trusts nothing but ``--gateway-ca`` and serves only what ``relay.authz`` allows.
"""

from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

from choreo_controller.cli.relayflags import add_common, run_until_signalled

if TYPE_CHECKING:
    import argparse
    import asyncio

    from choreo_controller.cli import Subparsers


def register(sub: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``agent`` subcommand."""
    parser = sub.add_parser(
        "agent",
        help="run the relay agent in a build plane: dial the gateway, serve allowed API calls",
        description=(
            "Dial the gateway over an mTLS websocket (outbound only), pinning the gateway CA, and run the "
            "control plane's API calls and watches against the local apiserver under a default-deny "
            "allowlist: build namespaces only - openchoreo-ci-* for a certificate naming "
            "openchoreo://buildplane/<planeID>, workflows-* for one naming openchoreo://workflowplane/<planeID>."
        ),
    )
    parser.add_argument("--gateway-url", required=True, help="e.g. wss://gateway.example.com:8443/v1/agent")
    parser.add_argument(
        "--gateway-ca", required=True, metavar="FILE", help="the only CA trusted for the gateway"
    )
    parser.add_argument("--tls-cert", required=True, metavar="FILE", help="agent client certificate (PEM)")
    parser.add_argument("--tls-key", required=True, metavar="FILE", help="its private key (PEM)")
    parser.add_argument("--server-name", help="expected gateway host name, if not the URL's")
    parser.add_argument(
        "--name", default=socket.gethostname(), help="agent name for logs (default: hostname)"
    )
    parser.add_argument("--kubeconfig", help="build-plane kubeconfig (default: $KUBECONFIG, in-cluster)")
    add_common(parser, probe_port=8081)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the agent until signalled; returns the exit code."""
    from choreo_controller import kube  # noqa: PLC0415 - heavy, on demand
    from choreo_controller.cli import EXIT_FAILED, EXIT_OK, preflight  # noqa: PLC0415 - the root imports us
    from choreo_controller.relay.agent import AgentConfig  # noqa: PLC0415 - heavy, on demand
    from choreo_controller.relay.serve import AgentOptions, run_agent  # noqa: PLC0415

    preflight.pem("--gateway-ca", args.gateway_ca, "CERTIFICATE")
    preflight.key_pair("--tls-cert", args.tls_cert, "--tls-key", args.tls_key)
    preflight.agent_identity("--tls-cert", args.tls_cert)
    preflight.kubeconfig("--kubeconfig", args.kubeconfig)
    config = AgentConfig(
        url=args.gateway_url,
        name=args.name,
        server_hostname=args.server_name,
        heartbeat=args.heartbeat,
        dead_after=args.dead_after,
    )
    opts = AgentOptions(config, args.gateway_ca, args.tls_cert, args.tls_key, *args.probe_listen)

    async def main(stop: asyncio.Event) -> None:
        # Every watch holds a connection: room for all of them plus every concurrent request (review 9).
        pool = config.max_watches + config.max_requests + 8
        async with kube.connect(args.kubeconfig, pool_size=pool) as local:
            await run_agent(opts, local.transport, stop)

    try:
        run_until_signalled(main, args.log_level)
    except OSError as exc:  # ports; the files were checked above
        sys.stderr.write(f"agent: {exc}\n")
        return EXIT_FAILED
    return EXIT_OK
