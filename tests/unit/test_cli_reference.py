"""docs/cli-reference.md is generated from argparse (hack/gen-cli-reference.py) and must be current; every
environment variable the code reads or a help text names is in its environment table."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATOR = runpy.run_path(str(REPO / "hack" / "gen-cli-reference.py"))
READS = re.compile(r"""environ(?:\.get\(|\[)["']([A-Z][A-Z0-9_]+)["']""")
NAMED = re.compile(r"\$([A-Z][A-Z0-9_]+)")


def test_committed_reference_is_current():
    committed = (REPO / "docs" / "cli-reference.md").read_text()
    assert GENERATOR["render"]() == committed, "docs/cli-reference.md is stale: run hack/gen-cli-reference.py"


def test_every_environment_variable_is_documented():
    sources = [path.read_text() for path in (REPO / "choreo_controller").rglob("*.py")]
    read = {name for text in sources for name in READS.findall(text)}
    named = set(NAMED.findall(GENERATOR["render"]()))
    assert set() == (read | named) - set(GENERATOR["ENVIRONMENT"])
