"""Cancelling child tasks from a parent that may itself be cancelled meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait until each has ended; what they raised is dropped.

    Not ``with suppress(CancelledError): await task``: that also swallows the caller's own cancellation
    when it arrives during the wait, and the caller goes on as if never cancelled.
    """
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
