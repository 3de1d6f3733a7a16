"""Git inputs are data: ref names, commits and paths checked against git's rules and a conservative set."""

import pytest

from choreo_controller.reconcilers.autobuild.gitrefs import (
    commit_problem,
    commit_time,
    path_problem,
    ref_problem,
)

GOOD_REFS = ["main", "feature/x-1", "release/1.2.3", "user_name/fix.2", "v1.0.0", "a" * 255]
BAD_REFS = [
    pytest.param("$(id>&2;echo${IFS}PWNED>&2)", "may only contain", id="command-substitution"),
    pytest.param("a`id`", "may only contain", id="backticks"),
    pytest.param("x;reboot", "may only contain", id="semicolon"),
    pytest.param("a b", "may only contain", id="space"),
    pytest.param("a\nb", "may only contain", id="newline"),
    pytest.param("é", "may only contain", id="non-ascii"),
    pytest.param("a~1", "may only contain", id="tilde"),
    pytest.param("a^", "may only contain", id="caret"),
    pytest.param("a:b", "may only contain", id="colon"),
    pytest.param("a?*[", "may only contain", id="glob"),
    pytest.param("a@{1}", "may only contain", id="at-brace"),
    pytest.param("a\\b", "may only contain", id="backslash"),
    pytest.param("", "1 to 255", id="empty"),
    pytest.param("a" * 256, "1 to 255", id="too-long"),
    pytest.param("/main", "empty path component", id="leading-slash"),
    pytest.param("main/", "empty path component", id="trailing-slash"),
    pytest.param("a//b", "empty path component", id="double-slash"),
    pytest.param(".hidden", "starting with '.'", id="leading-dot"),
    pytest.param("a/.b", "starting with '.'", id="component-leading-dot"),
    pytest.param("-rf", "starting with '.' or '-'", id="option"),
    pytest.param("a/-x", "starting with '.' or '-'", id="component-option"),
    pytest.param("a.lock", "'.lock'", id="lock"),
    pytest.param("a..b", "'..'", id="dot-dot"),
    pytest.param("a.", "ends with '.'", id="trailing-dot"),
]


@pytest.mark.parametrize("name", GOOD_REFS)
def test_good_ref_names(name):
    assert ref_problem(name) is None


@pytest.mark.parametrize(("name", "fragment"), BAD_REFS)
def test_bad_ref_names(name, fragment):
    problem = ref_problem(name)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize(
    ("sha", "ok"),
    [("a" * 40, True), ("0123456789abcdef" * 4, True), ("A" * 40, False), ("a" * 39, False),
     ("a" * 41, False), ("g" * 40, False), ("$(id)", False), ("", False)],
)  # fmt: skip
def test_commits(sha, ok):
    assert ok == (commit_problem(sha) is None)


@pytest.mark.parametrize(
    ("path", "ok"),
    [("", True), ("svc", True), ("apps/web-1/src", True), ("../x", False), ("a/../b", False), ("/abs", False),
     ("./a", False), ("a//b", False), ("-x", False), ("$(id)", False), ("a b", False), ("a" * 1025, False)],
)  # fmt: skip
def test_paths(path, ok):
    assert ok == (path_problem(path) is None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-05-01T12:00:05+02:00", "2026-05-01T10:00:05Z", id="offset"),
        pytest.param("2026-05-01T10:00:05Z", "2026-05-01T10:00:05Z", id="utc"),
        pytest.param("2026-05-01T10:00:05.123456+00:00", "2026-05-01T10:00:05Z", id="fraction-dropped"),
        pytest.param("2026-05-01T10:00:05", "", id="no-offset"),
        pytest.param("yesterday", "", id="not-a-time"),
        pytest.param("2026-05-01T10:00:05Z" + " " * 60, "", id="too-long"),
        pytest.param(1714557605, "", id="a-number"),
        pytest.param(None, "", id="missing"),
    ],
)
def test_commit_times_are_utc_or_nothing(value, expected):
    assert expected == commit_time(value)
