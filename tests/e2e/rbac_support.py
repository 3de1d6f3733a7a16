"""Helpers for the RBAC test: what manifests/rbac grants, what the apiserver saw the controller use, and
the controller as a ServiceAccount-token process.

* ``granted(docs)`` - the ``(verb, group, resource[/subresource])`` triples of every Role/ClusterRole rule;
* ``audited(log, user)`` - the same triples from the apiserver's audit log (JSON lines, policy
  ``AUDIT_POLICY``: metadata of every request by a ServiceAccount of the controller's namespace), plus
  the requests that were refused (403). One verb is implied rather than seen: a server-side apply is an
  HTTP PATCH and is audited as ``patch`` even when it creates the object, but then the apiserver also
  authorizes ``create`` (k8s.io/apiserver endpoints/handlers/patch.go) without an audit event of its own.
  A PATCH answered ``201 Created`` is therefore counted as ``patch`` *and* ``create``; a ``create`` granted
  for that purpose still shows as unused if no apply ever created anything;
* ``token_kubeconfig`` - a kubeconfig authenticating with a TokenRequest token of a ServiceAccount, exactly
  what a Pod of the Deployment would mount;
* ``SaController`` - ``choreo-controller controller`` under such a kubeconfig, leader election on, and
  optionally the auto-build receiver on a free loopback port (``autobuild_namespace``: where it reads
  ``git-webhook-secrets``).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import yaml
from localcluster.process import Proc, free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "manifests" / "rbac"
NAMESPACE = "openchoreo-control-plane"
SERVICE_ACCOUNT = "choreo-controller"
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:{NAMESPACE}"]
- level: None
"""
Triple = tuple[str, str, str]  # verb, API group ("" = core), resource or resource/subresource


def rbac_documents() -> list[dict]:
    return [
        doc
        for path in sorted(RBAC.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def granted(docs: list[dict]) -> set[Triple]:
    return {
        (verb, group, resource)
        for doc in docs
        if doc["kind"] in {"Role", "ClusterRole"}
        for rule in doc["rules"]
        for verb in rule["verbs"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def audited(log: Path, user: str, *, start: int = 0) -> tuple[set[Triple], list[str]]:
    """Triples ``user`` used (whatever the answer) and a line per refused request, from byte ``start`` on."""
    used: set[Triple] = set()
    refused: list[str] = []
    with log.open("rb") as stream:
        stream.seek(start)
        lines = stream.read().decode().splitlines()
    for line in lines:
        event = json.loads(line)
        ref = event.get("objectRef")
        if event["user"]["username"] != user or ref is None:
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        triple = (event["verb"], ref.get("apiGroup", ""), resource)
        used.add(triple)
        code = (event.get("responseStatus") or {}).get("code")
        if event["verb"] == "patch" and code == 201:  # a server-side apply that created the object
            used.add(("create", triple[1], triple[2]))
        if code == 403:
            refused.append(f"{triple} {ref.get('namespace', '')}/{ref.get('name', '')}")
    return used, refused


def sa_username(name: str, namespace: str = NAMESPACE) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def token_kubeconfig(plane, name: str, path: Path, namespace: str = NAMESPACE) -> Path:
    token = plane.kubectl("create", "token", name, "-n", namespace, "--duration=2h").stdout.strip()
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "cp", "cluster": {"server": plane.server,
                                                "certificate-authority": str(plane.pki / "serving-ca.crt")}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "cp", "user": name}}],
    }))  # fmt: skip
    path.chmod(0o600)
    return path


def server_kubeconfig(source: Path, server: str, path: Path) -> Path:
    """``source`` with its cluster's server replaced (same credentials, same CA)."""
    config = yaml.safe_load(source.read_text())
    config["clusters"][0]["cluster"]["server"] = server
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


class SaController:
    """The controller under test as a child process, logging at debug level to ``<logdir>/<name>.log``."""

    def __init__(
        self,
        name: str,
        kubeconfig: Path,
        build_plane_kubeconfig: Path,
        lease: str,
        logdir: Path,
        *,
        autobuild_namespace: str | None = None,
    ):
        self.port = free_port()
        self.autobuild_port = free_port() if autobuild_namespace is not None else None
        argv = [
            str(Path(sys.executable).parent / "choreo-controller"), "controller",
            f"--kubeconfig={kubeconfig}", f"--build-plane-kubeconfig={build_plane_kubeconfig}",
            f"--metrics-bind-address=127.0.0.1:{self.port}", "--health-probe-bind-address=0",
            "--leader-elect", f"--leader-election-namespace={NAMESPACE}", f"--leader-election-id={lease}",
            "--log-level=debug", "--workers=2",
        ]  # fmt: skip
        if autobuild_namespace is not None:
            argv += [
                f"--autobuild-bind-address=127.0.0.1:{self.autobuild_port}",
                f"--autobuild-secret-namespace={autobuild_namespace}",
            ]
        self.proc = Proc(name, argv, logdir, env={"PYTHONUNBUFFERED": "1"})

    def start(self) -> SaController:
        self.proc.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"
        wait_until(f"{self.proc.name} /readyz", lambda: _ok(url), timeout=timeout, procs=(self.proc,))

    def stop(self) -> None:
        self.proc.stop(timeout=20)

    def log(self) -> str:
        return self.proc.log.read_text(errors="replace")


def _ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
        return bool(resp.status == 200)
