"""Where hack/build-binaries.sh put the binaries; the same cache key, computed from hack/versions.env."""

from __future__ import annotations

import os
from pathlib import Path

HACK = Path(__file__).resolve().parent.parent
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
BUILD_PLANE = (
    *CONTROL_PLANE,
    *("kube-scheduler", "kwok", "workflow-controller", "tekton-controller", "tekton-resolvers"),
    *("local-path-provisioner", "external-secrets"),
)
ASSETS = ("kwok-stages.yaml", "argo-crds", "external-secrets", "tekton", "tekton-resolvers")


class BinariesMissing(RuntimeError):
    """The pinned binaries have not been built; the message says how to build them."""


def versions() -> dict[str, str]:
    out = {}
    for raw in (HACK / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def _root() -> Path:
    v = versions()
    cache = Path(os.environ.get("CHOREO_CACHE", Path.home() / ".cache" / "choreo-controller"))
    key = (
        f"k8s-{v['KUBERNETES_VERSION']}_etcd-{v['ETCD_VERSION']}"
        f"_kwok-{v['KWOK_VERSION']}_argo-{v['ARGO_VERSION']}"
    )
    return cache / key


def bin_dir(required: tuple[str, ...] = CONTROL_PLANE) -> Path:
    path = _root() / "bin"
    if required:
        missing = [name for name in required if not os.access(path / name, os.X_OK)]
        if missing:
            raise BinariesMissing(
                f"missing {', '.join(missing)} in {path}: run hack/build-binaries.sh first "
                "(the first build compiles Kubernetes from source and takes a while)"
            )
    return path


def assets_dir() -> Path:
    path = _root() / "assets"
    missing = [name for name in ASSETS if not (path / name).exists()]
    if missing:
        raise BinariesMissing(f"missing {', '.join(missing)} in {path}: run hack/build-binaries.sh first")
    return path
