"""Async hygiene for every test (STYLE rule 11).

* A test that leaves asyncio tasks running fails: leaked tasks are how controllers leak watches.
* A callback that blocks the event loop for longer than ``BLOCKING_LIMIT`` fails the test (asyncio debug
  mode reports slow callbacks; we turn the report into a failure).
* Unconfigured structlog prints plain tracebacks: its default (rich, when installed) can take seconds to
  render one on a loaded machine, which the blocking check above would report.
* Warnings are errors (``filterwarnings = error`` in pyproject.toml); every test has a timeout
  (``timeout`` in pyproject.toml, pytest-timeout).
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import structlog

structlog.configure(
    processors=[
        *structlog.get_config()["processors"][:-1],
        structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
    ]
)

BLOCKING_LIMIT = 2.0  # seconds; generous for a loaded 2-core CI machine, still catches a sync HTTP call
_SLOW = re.compile(r"took (\d+\.\d+) seconds")


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.slow: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        match = _SLOW.search(message)
        if match and float(match.group(1)) > BLOCKING_LIMIT:
            self.slow.append(message[:300])


@pytest.fixture(autouse=True)
async def async_hygiene():
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = BLOCKING_LIMIT
    handler = _SlowCallbacks()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    before = asyncio.all_tasks()
    try:
        yield
    finally:
        asyncio_logger.removeHandler(handler)
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        await asyncio.gather(*leftover, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro())[:80] for t in leftover))
        pytest.fail(f"test left {len(leftover)} asyncio task(s) running: {names}")
    if handler.slow:
        pytest.fail("event loop blocked: " + "; ".join(handler.slow))


pytest_plugins = ["clusterfixtures"]
