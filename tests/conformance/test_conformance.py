"""Every case of ``shared/conformance/cases`` through ``choreo-controller render --output json``.

The README's rules (``shared/conformance/README.md``): the same documents in the same order with the same
values (text inside strings byte for byte; ``1`` and ``1.0`` are the same JSON number, ``true`` is not
``1``); OpenChoreo's labels present with its values, ours may be added; where OpenChoreo fails we fail too.
Cases decided otherwise are listed in ``decisions``. ``conftest`` prints the score.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
from decisions import FAILS_WITH, KEEP_OURS, UNKNOWN_PARAMETERS

from choreo_controller.cli import EXIT_FAILED, EXIT_OK, main

HERE = pathlib.Path(__file__).resolve().parent
CASES_DIR = HERE.parents[2] / "shared" / "conformance" / "cases"
EXPECTED = HERE / "expected"
CASES = sorted(p.name for p in CASES_DIR.iterdir()) if CASES_DIR.is_dir() else []


def test_the_corpus_is_there():
    assert len(CASES) == 110, f"expected 110 cases in {CASES_DIR}"
    decided = set(KEEP_OURS) | set(UNKNOWN_PARAMETERS) | set(FAILS_WITH)
    assert set() == decided - set(CASES)


def render(case: str, capsys) -> tuple[int, str, str]:
    where = CASES_DIR / case
    args = ["render", "--workflow", where / "workflow.yaml", "--run", where / "run.yaml", "--output", "json"]
    for ref in sorted(where.glob("refs*.yaml")):
        args += ["--ref", ref]
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def same(expected: Any, actual: Any) -> bool:
    """JSON equality: numbers by value, but a bool is never a number and a string never anything else."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if type(expected) is not type(actual):
        return False
    if isinstance(expected, dict):
        return expected.keys() == actual.keys() and all(same(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(same(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


def without_extra_labels(expected: dict[str, Any], actual: dict[str, Any]) -> dict[str, Any]:
    """``actual`` with the labels OpenChoreo does not set removed (its own must be there, equal)."""
    theirs = (expected.get("metadata") or {}).get("labels") or {}
    meta = actual.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("labels"), dict):
        return actual
    kept = {k: v for k, v in meta["labels"].items() if k in theirs}
    return {**actual, "metadata": {**meta, "labels": kept}} if kept or theirs else actual


def matches_openchoreo(expected: list[Any], actual: list[Any]) -> bool:
    return len(expected) == len(actual) and all(
        same(e, without_extra_labels(e, a)) for e, a in zip(expected, actual, strict=True)
    )


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("Warning: ")]


@pytest.mark.parametrize("case", CASES)
def test_case(case, capsys):
    code, out, err = render(case, capsys)
    where = CASES_DIR / case
    if case in KEEP_OURS:
        ours = EXPECTED / f"{case}.json"
        if ours.exists():
            assert (EXIT_OK, "") == (code, err)
            assert same(json.loads(ours.read_text(encoding="utf-8")), json.loads(out))
        else:
            assert (EXIT_FAILED, "") == (code, out)
            assert (EXPECTED / f"{case}.error").read_text(encoding="utf-8") == err
        return
    if (where / "openchoreo.error").exists():
        assert (EXIT_FAILED, "") == (code, out)
        reasons = {line.split(":", 1)[0] for line in err.splitlines()}
        assert {FAILS_WITH[case]} == reasons
        return
    assert EXIT_OK == code, err
    expected_warnings = [
        f"Warning: UnknownParameters: {path}: not in the Workflow's schema (rendered as given)"
        for path in UNKNOWN_PARAMETERS.get(case, ())
    ]
    assert (expected_warnings, expected_warnings) == (warnings(err), err.splitlines())
    assert matches_openchoreo(
        json.loads((where / "openchoreo.json").read_text(encoding="utf-8")), json.loads(out)
    )
