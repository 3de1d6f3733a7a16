"""``choreo-controller controller``: flags and the exit codes a script relies on (no cluster needed).

Files the flags name (kubeconfigs, certificates, keys) are checked in ``test_cli_errors``, for every command.
"""

from __future__ import annotations

import pytest

from choreo_controller.app import parse_address
from choreo_controller.cli import EXIT_USAGE, main

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.mark.parametrize(
    ("argv", "expected", "message"),
    [
        pytest.param(
            ["--build-plane-kubeconfig", __file__, "--workers", "0"], EXIT_USAGE, "--workers", id="workers"
        ),
        pytest.param(
            ["--build-plane-kubeconfig", __file__, "--kube-api-qps", "0"],
            EXIT_USAGE,
            "--kube-api-qps",
            id="qps",
        ),
        pytest.param(
            ["--build-plane-kubeconfig", __file__, "--kube-api-burst", "0"],
            EXIT_USAGE,
            "--kube-api-burst",
            id="burst",
        ),
        pytest.param([], EXIT_USAGE, "choose one of --build-plane-kubeconfig", id="no-build-plane-mode"),
        pytest.param(
            ["--build-plane-kubeconfig", __file__, "--embedded-gateway"],
            EXIT_USAGE,
            "choose one of",
            id="two-build-plane-modes",
        ),
        pytest.param(
            ["--embedded-gateway", "--gateway-cert", __file__],
            EXIT_USAGE,
            "--embedded-gateway needs --gateway-cert, --gateway-key",
            id="embedded-without-key",
        ),
        pytest.param(
            [
                "--embedded-gateway",
                "--gateway-cert",
                __file__,
                "--gateway-key",
                __file__,
                "--gateway-bind-address",
                "nowhere",
            ],
            EXIT_USAGE,
            "a bind address",
            id="embedded-bad-address",
        ),
        pytest.param(
            [
                "--embedded-gateway",
                "--gateway-cert",
                __file__,
                "--gateway-key",
                __file__,
                "--gateway-internal-client-ca",
                __file__,
                "--gateway-internal-bind-address",
                "nowhere",
            ],
            EXIT_USAGE,
            "--gateway-internal-bind-address must be host:port",
            id="embedded-internal-api-bad-address",
        ),
        pytest.param(
            ["--gateway-url", "https://gw:8444", "--gateway-ca", __file__],
            EXIT_USAGE,
            "--gateway-url needs --gateway-ca, --gateway-client-cert and --gateway-client-key",
            id="remote-without-client-certificate",
        ),
    ],
)
def test_bad_flags_fail_before_connecting(argv, expected, message, capsys, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    assert expected == main(["controller", f"--kubeconfig={kubeconfig}", *argv])
    assert message in capsys.readouterr().err


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


@pytest.mark.parametrize(
    ("argv", "workers", "qps"),
    [
        pytest.param([], 20, 200.0, id="defaults"),
        pytest.param(["--kube-api-qps", "30"], 4, 30.0, id="at-least-four"),
        pytest.param(["--kube-api-qps", "500"], 50, 500.0, id="one-per-10-qps"),
        pytest.param(["--kube-api-qps", "500", "--workers", "3"], 3, 500.0, id="explicit"),
    ],
)
def test_workers_follow_the_qps_budget_unless_given(argv, workers, qps, monkeypatch, tmp_path):
    seen = []

    async def fake_run(options):
        seen.append(options)

    monkeypatch.setattr("choreo_controller.app.run_controller", fake_run)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    main(["controller", f"--kubeconfig={kubeconfig}", f"--build-plane-kubeconfig={kubeconfig}", *argv])
    assert [(workers, qps)] == [(o.workers, o.qps) for o in seen]
