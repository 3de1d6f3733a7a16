"""``choreo-controller controller``: flags and the exit codes a script relies on (no cluster needed)."""

from __future__ import annotations

import pytest

from choreo_controller.app import parse_address
from choreo_controller.cli import EXIT_FAILED, EXIT_USAGE, main


@pytest.mark.parametrize(
    ("argv", "expected", "message"),
    [
        pytest.param(
            ["--build-plane-kubeconfig", "/nonexistent"], EXIT_FAILED, "no such file", id="missing-file"
        ),
        pytest.param(
            ["--build-plane-kubeconfig", __file__, "--workers", "0"], EXIT_USAGE, "--workers", id="workers"
        ),
    ],
)
def test_bad_flags_fail_before_connecting(argv, expected, message, capsys):
    assert expected == main(["controller", *argv])
    assert message in capsys.readouterr().err


def test_the_build_plane_kubeconfig_is_required(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["controller"])
    assert (EXIT_USAGE, True) == (caught.value.code, "--build-plane-kubeconfig" in capsys.readouterr().err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(":8080", ("0.0.0.0", 8080), id="all-interfaces"),  # noqa: S104 - the expectation
        pytest.param("127.0.0.1:9000", ("127.0.0.1", 9000), id="host-port"),
        pytest.param("0", None, id="disabled"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_address(text, expected):
    assert expected == parse_address(text)
