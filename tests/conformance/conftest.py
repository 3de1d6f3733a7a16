"""Prints ``conformance: K/110`` at the end of any run that included the conformance cases."""

from __future__ import annotations

from typing import Any

CASE_TEST = "tests/conformance/test_conformance.py::test_case["


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reports = [
        report
        for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", "call") == "call" and CASE_TEST in getattr(report, "nodeid", "")
    ]
    if reports:
        passed = sum(1 for report in reports if report.outcome == "passed")
        terminalreporter.write_line(f"conformance: {passed}/{len(reports)}")
