"""``runs watch``: follow one WorkflowRun until it completes, showing its steps as they progress.

A task follows the run with a field-selected watch (``metadata.name=RUN``) from the version just read,
re-watching when the server ends the stream and re-reading on ``Gone``; it hands each new version to the
display through a queue. The display has two forms, chosen by whether stdout is a terminal:

* live - the headline and the step table (``runsview.progress``), redrawn in place on every change and
  once a second, so running steps' durations tick;
* lines - one timestamped line per status or step change (``runsview.transitions``), for logs and pipes.

The result is the run's outcome: ``Outcome`` once ``WorkflowCompleted=True``; ``RunDeleted`` if the run
disappears first. API errors propagate; a time limit is the caller's (``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TextIO

from choreo_controller.api.resources import WORKFLOW_RUN
from choreo_controller.cli import runsview
from choreo_controller.contracts import Gone, NotFound

if TYPE_CHECKING:
    from choreo_controller.contracts import JsonObj, KubeApi

TICK: Final = 1.0  # seconds between redraws of a live display with nothing new
_Item = tuple[str, "JsonObj | BaseException | None"]


class RunDeleted(Exception):
    """The run was deleted before it completed."""


class Display:
    """Prints successive versions of a run, live (redrawn in place) or as lines."""

    def __init__(self, out: TextIO, *, live: bool) -> None:
        self._out = out
        self._live = live
        self._drawn = 0  # lines of the last live block, to move the cursor back over
        self._last: JsonObj | None = None

    @staticmethod
    def is_terminal(out: TextIO) -> bool:
        """Live display only on a real terminal."""
        return out.isatty() and os.environ.get("TERM", "") not in {"", "dumb"}

    def show(self, run: JsonObj) -> None:
        """Print what changed in ``run`` (lines) or redraw it (live)."""
        now = datetime.now(UTC)
        if self._live:
            self._redraw(runsview.progress(run, now))
        else:
            for line in runsview.transitions(self._last, run, now):
                self._out.write(line + "\n")
            self._out.flush()
        self._last = run

    def tick(self) -> None:
        """Refresh the durations of a live display."""
        if self._live and self._last is not None:
            self._redraw(runsview.progress(self._last, datetime.now(UTC)))

    def _redraw(self, block: str) -> None:
        back = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        self._out.write(back + block)
        self._out.flush()
        self._drawn = block.count("\n")


async def watch_run(api: KubeApi, run: JsonObj, display: Display) -> runsview.Outcome:
    """Show ``run`` and its next versions until it completes; see the module docstring."""
    display.show(run)
    result = runsview.outcome(run)
    if result.done:
        return result
    queue: asyncio.Queue[_Item] = asyncio.Queue()
    follower = asyncio.create_task(_follow(api, run, queue))
    try:
        while True:
            try:
                kind, item = await asyncio.wait_for(queue.get(), TICK)
            except TimeoutError:
                display.tick()
                continue
            if isinstance(item, BaseException):
                raise item
            if kind == "deleted" or item is None:
                raise RunDeleted("the run was deleted before it completed")
            display.show(item)
            result = runsview.outcome(item)
            if result.done:
                return result
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower


async def _follow(api: KubeApi, run: JsonObj, queue: asyncio.Queue[_Item]) -> None:
    meta = run["metadata"]
    name, namespace = str(meta["name"]), str(meta["namespace"])
    version = str(meta.get("resourceVersion") or "")
    selector = f"metadata.name={name}"
    try:
        while True:
            try:
                async for event in api.watch(
                    WORKFLOW_RUN, namespace, resource_version=version, field_selector=selector
                ):
                    version = str(event.object.get("metadata", {}).get("resourceVersion") or version)
                    if event.type == "DELETED":
                        await queue.put(("deleted", None))
                        return
                    if event.type != "BOOKMARK":
                        await queue.put(("changed", event.object))
            except Gone:
                fresh = await api.get(WORKFLOW_RUN, name, namespace)
                version = str(fresh["metadata"].get("resourceVersion") or "")
                await queue.put(("changed", fresh))
    except NotFound:
        await queue.put(("deleted", None))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, which maps it to an exit code
        await queue.put(("error", exc))
