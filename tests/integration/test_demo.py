"""The quickstart as a user runs it: ``hack/demo.py`` (what ``make demo`` runs) on a fresh work directory
reaches a Succeeded run with its steps shown, prints how to reach everything, keeps running, answers the
``runs`` command it suggests, and stops on ``hack/demo.py --stop`` (what ``make demo-stop`` runs) leaving no
process behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, str(REPO / "hack" / "demo.py")]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)  # noqa: S603 - ours


@pytest.mark.timeout(420)
def test_demo_reaches_succeeded_keeps_running_and_stops(tmp_path):
    workdir, out = tmp_path / "demo", tmp_path / "demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen([*DEMO, f"--workdir={workdir}"], stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603 - ours
    try:
        wait_for("the demo to finish its run", lambda: "Everything keeps running" in out.read_text() or demo.poll() is not None, timeout=360, interval=0.5)  # fmt: skip
        text = out.read_text()
        assert demo.poll() is None, text[-3000:]
        assert "The demo run succeeded" in text
        assert ["checkout", "build", "publish"] == re.findall(
            r"step (checkout|build|publish)  Succeeded", text
        )
        assert re.search(r"^run demo/demo-build-1 WorkflowSucceeded in \d+s$", text, re.MULTILINE)
        suggested = re.search(
            r"^  (\S+choreo-controller runs list -n demo --kubeconfig=\S+)$", text, re.MULTILINE
        )
        listed = run(suggested.group(1).split())
        assert (0, ["demo-build-1", "demo-build", "WorkflowSucceeded"]) == (listed.returncode, listed.stdout.splitlines()[1].split()[:3])  # fmt: skip
        suggested = re.search(r"^  (\S+choreo-controller runs logs demo-build-1 .+)$", text, re.MULTILINE)
        logs = run(suggested.group(1).split())
        prefixes = list(dict.fromkeys(line.split()[0] for line in logs.stdout.splitlines()))
        assert (0, ["[checkout]", "[build]", "[publish]"]) == (logs.returncode, prefixes), logs.stderr
        children = descendants(demo.pid)
        assert len(children) >= 8, "planes and our processes run as children of the demo"
        stop = run([*DEMO, "--stop", f"--workdir={workdir}"])
        assert (0, f"demo (pid {demo.pid}) stopped\n") == (stop.returncode, stop.stdout)
        assert 0 == demo.wait(30)
        assert "stopped." in out.read_text()
        wait_for("every child of the demo gone", lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=15)  # fmt: skip
        assert not (workdir / "demo.pid").exists()
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.wait(30)


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found
