"""``choreo-controller`` command line: argparse in, one subcommand module per job, exit codes out.

Exit codes a script can rely on: 0 success, 1 the input or the run failed (message on stderr),
2 usage error (argparse: a missing flag, a bad flag value), 3 the cluster could not be reached,
4 a file or name a flag gives (kubeconfig, context, certificate, key) is missing, unreadable or invalid
(``preflight``). Every error is one line on stderr naming the flag or the file; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, cast

from choreo_controller import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_CONFIG = 4


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (the flag and what is wrong), not the usage text."""

    def error(self, message: str) -> NoReturn:
        """Exit ``EXIT_USAGE`` after one line on stderr."""
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules register themselves here."""
    parser = Parser(
        prog="choreo-controller",
        description=(
            "OpenChoreo's Workflow engine: WorkflowRun controller, relay gateway and agent, offline render."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for register in _registrars():
        register(cast("Subparsers[argparse.ArgumentParser]", sub))  # a Parser is an ArgumentParser
    return parser


Subparsers = argparse._SubParsersAction  # noqa: SLF001 - argparse exposes no public name for this type
Registrar = Callable[["Subparsers[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    # Each subcommand module exposes `register(sub)`; its handler imports heavy modules (aiohttp,
    # kubernetes_asyncio) lazily so `render` and `--help` stay fast.
    from choreo_controller.cli import agent, controller, gateway, migrate, render, runs  # noqa: PLC0415 - registrars load on demand

    return [
        render.register,
        controller.register,
        gateway.register,
        agent.register,
        runs.register,
        migrate.register,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from choreo_controller.cli.preflight import ConfigProblem  # noqa: PLC0415 - registrars load on demand

    try:
        result: int = handler(args)
    except ConfigProblem as problem:
        sys.stderr.write(f"{parser.prog} {args.command}: {problem}\n")
        return EXIT_CONFIG
    return result


if __name__ == "__main__":
    sys.exit(main())
