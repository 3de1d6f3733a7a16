"""``runs logs``' own logic: step prefixes, timestamps, and reading a log again without losing or doubling a line.

The e2e test (``tests/e2e/test_cli_runs_logs.py``) runs it through the real relay; here a followed log that
ends early is re-read from the last line printed, lines sharing one timestamp included.
"""

import argparse
import io

import pytest

from choreo_controller.cli import runslogs
from choreo_controller.engines import StepPod

T1, T2 = "2026-12-03T10:00:00.5Z", "2026-12-03T10:00:01.123456789Z"
LOG = [f"{T1} one", f"{T1} two", f"{T2} three", f"{T2} three", "2026-12-03T10:00:02Z four"]


class Plane:
    """A build plane that serves one log: all of it, or from ``since_time`` (to the second, as kubelets do)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.asked = []  # the LogOptions of every read

    async def log(self, namespace, pod, options):
        del namespace, pod
        self.asked.append(options)
        for line in self.lines:
            if options.since_time is None or line[:19] >= options.since_time[:19]:
                yield line.encode()


def printer() -> runslogs.Printer:
    return runslogs.Printer(io.StringIO(), io.StringIO())


STEP = StepPod("build", "Running", {"metadata": {"namespace": "ns", "name": "p"}}, ("main",))
KEY = ("ns", "p", "main")


async def test_a_log_read_again_prints_only_what_was_not_printed():
    out = printer()
    plane = Plane(LOG[:3])  # a follow that ended after "three" (first copy)
    await runslogs._read(plane, STEP, KEY, runslogs.Request(), out, follow=True)
    plane.lines = LOG
    await runslogs._read(plane, STEP, KEY, runslogs.Request(), out, follow=False)
    expected = ["one", "two", "three", "three", "four"]
    assert [f"[build] {text}" for text in expected] == out.out.getvalue().splitlines()
    assert [None, "2026-12-03T10:00:01Z"] == [o.since_time for o in plane.asked]
    assert all(o.timestamps for o in plane.asked), "always asked, to know where to resume"


async def test_timestamps_and_colour_as_asked():
    out = runslogs.Printer(io.StringIO(), io.StringIO(), timestamps=True, colour=True)
    await runslogs._read(Plane(LOG[:1]), STEP, KEY, runslogs.Request(), out, follow=False)
    assert f"\033[36m[build]\033[0m {T1} one\n" == out.out.getvalue()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("2026-12-03T10:00:00.5Z", "2026-12-03T10:00:00.500000001Z", id="trailing-zeros-trimmed"),
        pytest.param("2026-12-03T10:00:00Z", "2026-12-03T10:00:00.1Z", id="no-fraction"),
        pytest.param("2026-12-03T09:59:59.9Z", "2026-12-03T10:00:00Z", id="seconds-first"),
    ],
)
def test_instants_compare_as_times(a, b):
    assert runslogs.instant(a) < runslogs.instant(b)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1h30m", 5400), ("0s", 0)],
)
def test_durations(text, seconds):
    assert seconds == runslogs.duration(text)


@pytest.mark.parametrize("text", ["", "5", "1d", "-5m", "m", "5m1h"])
def test_bad_durations_are_usage_errors(text):
    with pytest.raises(argparse.ArgumentTypeError, match="want a duration"):
        runslogs.duration(text)
