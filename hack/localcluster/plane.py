"""One plane = one real cluster made of local processes.

``start_control_plane``: etcd, kube-apiserver, kube-controller-manager; our CRDs applied and Established.
The build plane (``localcluster.buildplane``) starts from the same core.

Authentication is by client certificate (admin = ``system:masters``); ``user_kubeconfig`` mints more users
for RBAC tests. The apiserver can be stopped and started again on the same port (the etcd data survives),
and etcd can be compacted, so informer tests can force watch errors.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from localcluster.binaries import HACK, bin_dir
from localcluster.pki import CA, write_pair
from localcluster.process import Proc, free_port, http_ok, wait_until

if TYPE_CHECKING:
    from pathlib import Path

REPO = HACK.parent
START_TIMEOUT = 120.0  # seconds; a cold apiserver on a busy 2-core machine takes 10-30 s


@dataclass
class Plane:
    """A running cluster. ``kubeconfig`` authenticates as a cluster admin."""

    name: str
    workdir: Path
    build: bool
    procs: dict[str, Proc] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def logdir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    # ---- kubectl ----------------------------------------------------------------------------------
    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(bin_dir() / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def apply(self, *paths: Path, stdin: str | None = None) -> None:
        """Server-side apply of YAML files (one kubectl call, in order) or ``stdin``."""
        if stdin is not None:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=stdin)
        if paths:
            files = [f"--filename={path}" for path in paths]
            self.kubectl("apply", "--server-side", "--force-conflicts", *files, timeout=120)

    def wait_crds(self, *paths: Path, timeout: float = 60.0) -> None:
        """Wait until the CustomResourceDefinitions in ``paths`` are Established."""
        if paths:
            files = [arg for path in paths for arg in ("-f", str(path))]
            self.kubectl(
                "wait",
                "--for=condition=Established",
                f"--timeout={int(timeout)}s",
                *files,
                timeout=timeout + 10,
            )

    # ---- lifecycle --------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki / "serving-ca.crt"))

    def start_apiserver(self) -> None:
        self.procs["kube-apiserver"].start()
        wait_until(
            f"{self.name} kube-apiserver",
            lambda: http_ok(f"{self.server}/readyz", self._ssl()),
            timeout=START_TIMEOUT,
            procs=(self.procs["kube-apiserver"], self.procs["etcd"]),
        )

    def stop_apiserver(self) -> None:
        self.procs["kube-apiserver"].stop()

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def enable_audit(self, policy: str) -> Path:
        """Restart the apiserver with the audit ``policy`` (YAML); returns its JSON-lines log. Idempotent.

        Optional and off by default: only tests that need the apiserver's own record of who called which
        verb (RBAC) turn it on, with a policy narrow enough to cost nothing for everyone else.
        """
        policy_file, log = self.workdir / "audit-policy.yaml", self.logdir / "audit.log"
        proc = self.procs["kube-apiserver"]
        flags = [f"--audit-policy-file={policy_file}", f"--audit-log-path={log}", "--audit-log-format=json"]
        if policy_file.exists() and policy_file.read_text() == policy and flags[0] in proc.argv:
            return log
        policy_file.write_text(policy)
        proc.argv = [arg for arg in proc.argv if not arg.startswith("--audit-")] + flags
        self.restart_apiserver()
        return log

    def compact_etcd(self) -> int:
        """Compact etcd to its current revision, so every older resourceVersion is Gone. Returns it."""
        base = f"http://127.0.0.1:{self.ports['etcd']}/v3"
        rng = _post_json(f"{base}/kv/range", {"key": "AA==", "range_end": "AA==", "limit": 1})
        revision = int(rng["header"]["revision"])
        _post_json(f"{base}/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def stop(self) -> None:
        """Stop every process, in reverse start order. Data stays; ``start`` brings it back."""
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def start(self) -> None:
        """Start every process again (same ports, same data), waiting for the apiserver."""
        for name, proc in self.procs.items():
            if name == "kube-apiserver":
                self.start_apiserver()
            elif not proc.running:
                proc.start()

    def logs_tail(self, lines: int = 30) -> str:
        return "\n".join(f"----- {self.name}/{n}.log\n{p.tail(lines)}" for n, p in self.procs.items())

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for ``user`` (client certificate), for RBAC tests."""
        ca = _load_ca(self.pki / "client-ca")
        cert, key = ca.issue(user, organizations=groups, client=True)
        crt, pem = write_pair(self.pki, f"user-{user}", cert, key)
        path = self.workdir / f"{user}.kubeconfig"
        _write_kubeconfig(path, self.server, self.pki / "serving-ca.crt", crt, pem)
        return path


def _post_json(url: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        return dict(json.loads(resp.read()))


def _load_ca(stem: Path) -> CA:
    cert = x509.load_pem_x509_certificate(stem.with_suffix(".crt").read_bytes())
    key = serialization.load_pem_private_key(stem.with_suffix(".key").read_bytes(), password=None)
    return CA(key, cert)  # type: ignore[arg-type]


def _write_kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}
                ],
                "users": [{"name": "user", "user": {"client-certificate": str(crt), "client-key": str(key)}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
                "current-context": "local",
            },
            indent=2,
        )
    )
    path.chmod(0o600)


def prepare(name: str, workdir: Path, build: bool) -> Plane:
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    plane = Plane(name=name, workdir=workdir, build=build)
    plane.ports = {"etcd": free_port(), "etcd-peer": free_port(), "apiserver": free_port()}
    pki = plane.pki
    serving = CA.new(f"{name}-serving-ca")
    serving.write(pki, "serving-ca")
    cert, key = serving.issue("kube-apiserver", dns=("localhost",), ips=("127.0.0.1",), server=True)
    write_pair(pki, "apiserver", cert, key)
    if build:  # kwok serves pod logs as the node's kubelet; the apiserver checks it with the serving CA
        cert, key = serving.issue("kwok-node-0", dns=("kwok-node-0",), ips=("127.0.0.1",), server=True)
        write_pair(pki, "kwok", cert, key)
    client = CA.new(f"{name}-client-ca")
    client.write(pki, "client-ca")
    cert, key = client.issue("admin", organizations=("system:masters",), client=True)
    crt, pem = write_pair(pki, "admin", cert, key)
    sa = CA.new("service-account-signer")  # only its key is used, to sign service-account tokens
    write_pair(pki, "sa", sa.cert, sa.key)
    _write_kubeconfig(plane.kubeconfig, plane.server, pki / "serving-ca.crt", crt, pem)
    return plane


def define_core(plane: Plane, bins: Path) -> None:
    p, pki, logs = plane.ports, plane.pki, plane.logdir
    peer = f"http://127.0.0.1:{p['etcd-peer']}"
    plane.procs["etcd"] = Proc("etcd", [
        str(bins / "etcd"), "--name=etcd", f"--data-dir={plane.workdir / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
        f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=etcd={peer}",
        "--unsafe-no-fsync=true", "--log-level=warn", "--quota-backend-bytes=4294967296",
    ], logs)  # fmt: skip
    plane.procs["kube-apiserver"] = Proc("kube-apiserver", [
        str(bins / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
        f"--secure-port={p['apiserver']}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'client-ca.crt'}", f"--cert-dir={pki}",
        "--service-cluster-ip-range=10.96.0.0/24", "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={pki / 'serving-ca.crt'}",
        f"--service-account-issuer=https://127.0.0.1:{p['apiserver']}/",
        f"--service-account-key-file={pki / 'sa.key'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--profiling=false", "--v=1",
    ], logs)  # fmt: skip
    plane.procs["kube-controller-manager"] = Proc("kube-controller-manager", [
        str(bins / "kube-controller-manager"), f"--kubeconfig={plane.kubeconfig}",
        f"--authentication-kubeconfig={plane.kubeconfig}", f"--authorization-kubeconfig={plane.kubeconfig}",
        "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
        f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'serving-ca.crt'}",
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
        "--concurrent-gc-syncs=20", "--v=1",
    ], logs)  # fmt: skip


def boot_core(plane: Plane) -> None:
    plane.procs["etcd"].start()
    wait_until(
        f"{plane.name} etcd",
        lambda: http_ok(f"http://127.0.0.1:{plane.ports['etcd']}/health"),
        timeout=START_TIMEOUT,
        procs=(plane.procs["etcd"],),
    )
    plane.start_apiserver()
    plane.procs["kube-controller-manager"].start()

    def default_sa() -> bool:
        return plane.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0

    wait_until(f"{plane.name} controller-manager", default_sa, timeout=START_TIMEOUT,
               procs=(plane.procs["kube-controller-manager"],), interval=0.5)  # fmt: skip


def our_crd_files() -> list[Path]:
    return sorted(p for p in (REPO / "manifests" / "crds").glob("*.yaml") if p.name != "kustomization.yaml")


def start_control_plane(workdir: Path, name: str = "control-plane") -> Plane:
    """Start a control plane with our CRDs; returns when everything is ready."""
    bins = bin_dir()
    plane = prepare(name, workdir, build=False)
    define_core(plane, bins)
    try:
        boot_core(plane)
        files = our_crd_files()
        plane.apply(*files)
        plane.wait_crds(*files)
    except BaseException:
        plane.stop()
        raise
    return plane
