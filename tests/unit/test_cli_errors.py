"""Every command answers a bad file, context or flag value with one line naming it and a distinct exit code.

2 (usage): a flag's value is wrong; 3 (unreachable): the cluster does not answer; 4 (config): a file or
name a flag gives - kubeconfig, its context, a file the kubeconfig names, a certificate, a key, a CA - is
missing, unreadable (a directory, not text) or invalid. Never a traceback: ``main`` is called in-process,
so any exception that escaped would fail the test.
"""

from __future__ import annotations

import pytest
from localcluster.pki import CA, write_pair

from choreo_controller import cli
from choreo_controller.cli import EXIT_CONFIG, EXIT_UNREACHABLE, EXIT_USAGE, main

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}, {name: y, context: {cluster: gone, user: u}}]
current-context: x
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Good and bad files by name; ``{name}`` in an argument is replaced by its path."""
    d = tmp_path_factory.mktemp("cli")
    ca = CA.new("cli-test")
    cert, key = write_pair(d, "good", *ca.issue("localhost", client=True))
    _, other_key = write_pair(d, "other", *ca.issue("other", client=True))
    agent_cert, agent_key = write_pair(
        d, "agent", *ca.issue("agent", client=True, uris=("openchoreo://workflowplane/p1",))
    )
    texts = {
        "kc": KUBECONFIG,
        "kc-no-current": KUBECONFIG.replace("current-context: x", ""),
        "kc-bad-ca": KUBECONFIG.replace("insecure-skip-tls-verify: true", "certificate-authority: nope.crt"),
        "yaml": "clusters: [",
        "list": "- a\n- b\n",
        "junk": "not a certificate\n",
        "binary": "\udcff",
    }
    paths = {
        "cert": str(cert),
        "key": str(key),
        "other-key": str(other_key),
        "ca": str(ca.write(d, "ca")[0]),
        "agent-cert": str(agent_cert),
        "agent-key": str(agent_key),
    }
    for name, text in texts.items():
        (d / name).write_bytes(text.encode("utf-8", "surrogateescape"))
        paths[name] = str(d / name)
    paths |= {"dir": str(d), "missing": str(d / "missing")}
    return paths


def gateway(**flags: str) -> list[str]:
    base = {"--tls-cert": "{cert}", "--tls-key": "{key}", "--kubeconfig": "{kc}"}
    return ["gateway", *(f"{k}={v}" for k, v in {**base, **flags}.items())]


def agent(**flags: str) -> list[str]:
    base = {"--gateway-url": "wss://gw:8443/v1/agent", "--gateway-ca": "{ca}", "--tls-cert": "{agent-cert}",
            "--tls-key": "{agent-key}", "--kubeconfig": "{kc}"}  # fmt: skip
    return ["agent", *(f"{k}={v}" for k, v in {**base, **flags}.items())]


def controller(*flags: str) -> list[str]:
    return ["controller", "--kubeconfig={kc}", *flags]


# fmt: off
CASES = [
    # controller
    pytest.param(
        controller("--build-plane-kubeconfig={missing}"),
        EXIT_CONFIG,
        "--build-plane-kubeconfig {missing}: no such file",
        id="controller-missing-kubeconfig",
    ),
    pytest.param(
        ["controller", "--kubeconfig={dir}", "--build-plane-kubeconfig={kc}"],
        EXIT_CONFIG,
        "--kubeconfig {dir}: not a regular file",
        id="controller-kubeconfig-directory",
    ),
    pytest.param(
        ["controller", "--kubeconfig={yaml}", "--build-plane-kubeconfig={kc}"],
        EXIT_CONFIG,
        "--kubeconfig {yaml}: not valid YAML",
        id="controller-kubeconfig-not-yaml",
    ),
    pytest.param(
        ["controller", "--kubeconfig={list}", "--build-plane-kubeconfig={kc}"],
        EXIT_CONFIG,
        "--kubeconfig {list}: not a kubeconfig",
        id="controller-kubeconfig-not-a-mapping",
    ),
    pytest.param(
        ["controller", "--kubeconfig={binary}", "--build-plane-kubeconfig={kc}"],
        EXIT_CONFIG,
        "--kubeconfig {binary}: cannot be read (not UTF-8 text)",
        id="controller-kubeconfig-unreadable",
    ),
    pytest.param(
        ["controller", "--kubeconfig={kc-no-current}", "--build-plane-kubeconfig={kc}"],
        EXIT_CONFIG,
        "--kubeconfig {kc-no-current}: no current-context",
        id="controller-no-context",
    ),
    pytest.param(
        controller("--build-plane-kubeconfig={kc-bad-ca}"),
        EXIT_CONFIG,
        "cluster 'c' certificate-authority",
        id="controller-kubeconfig-names-a-missing-file",
    ),
    pytest.param(
        controller("--embedded-gateway", "--gateway-cert={missing}", "--gateway-key={key}"),
        EXIT_CONFIG,
        "--gateway-cert {missing}: no such file",
        id="controller-missing-certificate",
    ),
    pytest.param(
        controller("--embedded-gateway", "--gateway-cert={cert}", "--gateway-key={junk}"),
        EXIT_CONFIG,
        "--gateway-key {junk}: no PEM PRIVATE KEY",
        id="controller-key-not-pem",
    ),
    pytest.param(
        controller("--embedded-gateway", "--gateway-cert={cert}", "--gateway-key={other-key}"),
        EXIT_CONFIG,
        "not a certificate and its key",
        id="controller-key-of-another-certificate",
    ),
    pytest.param(
        controller("--embedded-gateway", "--gateway-cert={cert}", "--gateway-key={key}",
                   "--gateway-internal-client-ca={junk}"),
        EXIT_CONFIG,
        "--gateway-internal-client-ca {junk}: no PEM CERTIFICATE",
        id="controller-internal-client-ca-not-pem",
    ),
    pytest.param(
        controller(
            "--gateway-url=https://gw",
            "--gateway-ca={junk}",
            "--gateway-client-cert={cert}",
            "--gateway-client-key={key}",
        ),
        EXIT_CONFIG,
        "--gateway-ca {junk}: no PEM CERTIFICATE",
        id="controller-ca-not-pem",
    ),
    pytest.param(
        controller("--build-plane-kubeconfig={kc}", "--log-level=verbose"),
        EXIT_USAGE,
        "--log-level: invalid choice: 'verbose'",
        id="controller-log-level",
    ),
    pytest.param(
        controller("--build-plane-kubeconfig={kc}", "--sweep-interval=soon"),
        EXIT_USAGE,
        "--sweep-interval: invalid float value",
        id="controller-not-a-number",
    ),
    # gateway
    pytest.param(
        gateway(**{"--tls-cert": "{missing}"}),
        EXIT_CONFIG,
        "--tls-cert {missing}: no such file",
        id="gateway-missing-certificate",
    ),
    pytest.param(
        gateway(**{"--tls-key": "{dir}"}),
        EXIT_CONFIG,
        "--tls-key {dir}: not a regular file",
        id="gateway-key-directory",
    ),
    pytest.param(
        gateway(**{"--internal-client-ca": "{missing}"}),
        EXIT_CONFIG,
        "--internal-client-ca {missing}: no such file",
        id="gateway-missing-ca",
    ),
    pytest.param(
        gateway(**{"--kubeconfig": "{missing}"}),
        EXIT_CONFIG,
        "--kubeconfig {missing}: no such file",
        id="gateway-missing-kubeconfig",
    ),
    pytest.param(
        gateway(**{"--log-level": "verbose"}),
        EXIT_USAGE,
        "--log-level: invalid choice: 'verbose'",
        id="gateway-log-level",
    ),
    pytest.param(
        gateway(**{"--listen": "nowhere"}), EXIT_USAGE, "--listen: want HOST:PORT", id="gateway-listen"
    ),
    # agent
    pytest.param(
        agent(**{"--gateway-ca": "{missing}"}),
        EXIT_CONFIG,
        "--gateway-ca {missing}: no such file",
        id="agent-missing-ca",
    ),
    pytest.param(
        agent(**{"--tls-cert": "{junk}"}),
        EXIT_CONFIG,
        "--tls-cert {junk}: no PEM CERTIFICATE",
        id="agent-certificate-not-pem",
    ),
    pytest.param(
        agent(**{"--tls-cert": "{cert}", "--tls-key": "{key}"}),
        EXIT_CONFIG,
        "--tls-cert {cert}: certificate has no subjectAltName naming a plane",
        id="agent-certificate-names-no-plane",
    ),
    pytest.param(
        agent(**{"--kubeconfig": "{yaml}"}),
        EXIT_CONFIG,
        "--kubeconfig {yaml}: not valid YAML",
        id="agent-kubeconfig-not-yaml",
    ),
    pytest.param(
        agent(**{"--log-level": "verbose"}),
        EXIT_USAGE,
        "--log-level: invalid choice: 'verbose'",
        id="agent-log-level",
    ),
    pytest.param(
        agent(**{"--heartbeat": "often"}),
        EXIT_USAGE,
        "--heartbeat: invalid float value",
        id="agent-not-a-number",
    ),
    # runs
    pytest.param(
        ["runs", "list", "--kubeconfig={missing}"],
        EXIT_CONFIG,
        "--kubeconfig {missing}: no such file",
        id="runs-missing-kubeconfig",
    ),
    pytest.param(
        ["runs", "get", "r", "--kubeconfig={kc}", "--context=nope"],
        EXIT_CONFIG,
        "--context 'nope': no such context in {kc} (defined: x, y)",
        id="runs-bad-context",
    ),
    pytest.param(
        ["runs", "get", "r", "--kubeconfig={kc}", "--context=y"],
        EXIT_CONFIG,
        "context 'y' names cluster 'gone', which is not defined",
        id="runs-context-without-cluster",
    ),
    pytest.param(
        ["runs", "list", "--kubeconfig={kc-bad-ca}"],
        EXIT_CONFIG,
        "certificate-authority",
        id="runs-kubeconfig-names-a-missing-file",
    ),
    pytest.param(
        ["runs", "get", "r", "--kubeconfig={kc}", "-o", "xml"],
        EXIT_USAGE,
        "--output: invalid choice: 'xml'",
        id="runs-output",
    ),
    pytest.param(
        ["runs", "list", "--kubeconfig={kc}"],
        EXIT_UNREACHABLE,
        "cannot reach the cluster",
        id="runs-unreachable",
    ),
]


@pytest.mark.parametrize(("argv", "code", "message"), CASES)
def test_one_line_naming_the_flag_or_file_and_a_distinct_exit_code(files, argv, code, message, capsys):
    exit_code = _main([arg.format(**files) for arg in argv])
    err = capsys.readouterr().err
    assert (code, 1, True) == (exit_code, len(err.splitlines()), message.format(**files) in err), err
    assert "Traceback" not in err


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as done:  # argparse exits; anything else would escape and fail the test
        return int(done.code or 0)


def test_the_exit_codes_are_distinct():
    codes = [cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_UNREACHABLE, cli.EXIT_CONFIG]
    assert len(codes) == len(set(codes))
