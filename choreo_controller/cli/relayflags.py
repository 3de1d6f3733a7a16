"""Flags and the signal-driven main loop shared by ``gateway`` and ``agent``."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any


def host_port(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8443`` for IPv6) as a tuple."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"want HOST:PORT, got {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an empty host means all interfaces


def add_common(parser: argparse.ArgumentParser, *, probe_port: int) -> None:
    """Liveness and probe flags."""
    parser.add_argument(
        "--probe-listen", type=host_port, default=("0.0.0.0", probe_port), metavar="HOST:PORT",  # noqa: S104
        help=f"plain HTTP for /healthz /readyz /metrics (default 0.0.0.0:{probe_port})",
    )  # fmt: skip
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between pings (default 5)")
    parser.add_argument(
        "--dead-after", type=float, default=12.0, help="seconds of silence that mean a dead peer (default 12)"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run_until_signalled(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]], log_level: str) -> None:
    """Configure logging, run ``main(stop)``; SIGTERM or SIGINT sets ``stop``."""
    from choreo_controller import logs  # noqa: PLC0415 - structlog on demand

    logs.configure(log_level)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())
