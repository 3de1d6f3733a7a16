"""runtime.tasks.cancel_and_wait: children end, and the caller's own cancellation is never swallowed."""

import asyncio
import contextlib

import pytest

from choreo_controller.runtime.tasks import cancel_and_wait


async def _slow_to_end(release: asyncio.Event, ended: list[str]) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await release.wait()  # cleanup that takes a while, as an informer closing its watch does
        ended.append("child")


async def _suppressing(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("cancel", "swallowed"), [(_suppressing, True), (cancel_and_wait, False)])
async def test_a_caller_cancelled_while_its_children_end_stays_cancelled(cancel, swallowed):
    """The old idiom (the first case) lets a caller cancelled during the wait go on as if never cancelled."""
    release, ended, went_on = asyncio.Event(), [], []

    async def caller():
        child = asyncio.create_task(_slow_to_end(release, ended))
        await asyncio.sleep(0)  # the child starts
        await cancel(child)
        went_on.append("caller")

    task = asyncio.create_task(caller())
    for _ in range(5):
        await asyncio.sleep(0)  # the caller is waiting for the child's cleanup now
    task.cancel()
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert (swallowed, swallowed) == (task.cancelled() is False, went_on == ["caller"])


async def test_every_child_has_ended_when_it_returns_and_their_errors_are_dropped():
    release, ended = asyncio.Event(), []

    async def fails_on_cancel():
        try:
            await asyncio.Event().wait()
        finally:
            raise RuntimeError("cleanup failed")

    children = [asyncio.create_task(_slow_to_end(release, ended)), asyncio.create_task(fails_on_cancel())]
    await asyncio.sleep(0)
    asyncio.get_running_loop().call_later(0.01, release.set)
    await cancel_and_wait(*children)
    assert (["child"], True) == (ended, all(child.done() for child in children))
