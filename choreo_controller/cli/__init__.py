"""``choreo-controller`` command line: argparse in, one subcommand module per job, exit codes out.

Exit codes a script can rely on: 0 success, 1 the input or the run failed (message on stderr),
2 usage error (argparse), 3 the cluster could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from choreo_controller import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules register themselves here."""
    parser = argparse.ArgumentParser(
        prog="choreo-controller",
        description=(
            "OpenChoreo's Workflow engine: WorkflowRun controller, relay gateway and agent, offline render."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse exposes no public name for this type
Registrar = Callable[["Subparsers[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    # Each subcommand module exposes `register(sub)`; its handler imports heavy modules (aiohttp,
    # kubernetes_asyncio) lazily so `render` and `--help` stay fast.
    from choreo_controller.cli import agent, controller, gateway, render, runs  # noqa: PLC0415 - registrars load on demand

    return [render.register, controller.register, gateway.register, agent.register, runs.register]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    result: int = handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
