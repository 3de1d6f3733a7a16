"""Tekton Pipelines in the build plane: its controller and remote resolvers as processes.

The namespaces, RBAC, CRDs and ConfigMaps are the release's own (``config/`` of the pinned
``github.com/tektoncd/pipeline`` module, copied to ``assets/tekton*`` by ``hack/build-binaries.sh``). Each
process authenticates with a token of its release ServiceAccount, as in its pod, so the release's RBAC is
what it runs with. Not installed: the events controller (CloudEvents) and the admission/conversion webhook,
so the CRDs serve only their storage version (``tekton.dev/v1`` for Tasks, Pipelines and their runs; see
hack/tools/tekton/crds) and objects are validated by the CRD schemas and by the reconcilers, which also
apply the defaults. Pods run on kwok: ``kwok-tekton-stages.yaml``.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

from localcluster.process import Proc, free_port, http_ok, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from localcluster.plane import Plane

BINARIES = ("tekton-controller", "tekton-resolvers")
NAMESPACE = "tekton-pipelines"
RESOLVERS_NAMESPACE = "tekton-pipelines-resolvers"
START_TIMEOUT = 120.0
CONTROLLER = (NAMESPACE, "tekton-pipelines-controller")  # ServiceAccounts of the release
RESOLVERS = (RESOLVERS_NAMESPACE, "tekton-pipelines-resolvers")
TOKEN_LIFETIME = "8760h"  # noqa: S105 - a duration; a demo plane may stay up for long, tests need minutes
# Never pulled (kwok runs no container); named like the release's so pod specs look like production's.
IMAGES = {
    "entrypoint-image": "ghcr.io/tektoncd/pipeline/entrypoint:kwok",
    "nop-image": "ghcr.io/tektoncd/pipeline/nop:kwok",
    "sidecarlogresults-image": "ghcr.io/tektoncd/pipeline/sidecarlogresults:kwok",
    "workingdirinit-image": "ghcr.io/tektoncd/pipeline/workingdirinit:kwok",
    "shell-image": "cgr.dev/chainguard/busybox:kwok",
    "shell-image-win": "mcr.microsoft.com/powershell:kwok",
}
# The env of the release's Deployments (config/controller.yaml, config/resolvers/resolvers-deployment.yaml).
CONTROLLER_ENV = {
    "SYSTEM_NAMESPACE": NAMESPACE,
    "CONFIG_DEFAULTS_NAME": "config-defaults",
    "CONFIG_LOGGING_NAME": "config-logging",
    "CONFIG_OBSERVABILITY_NAME": "config-observability",
    "CONFIG_FEATURE_FLAGS_NAME": "feature-flags",
    "CONFIG_LEADERELECTION_NAME": "config-leader-election-controller",
    "CONFIG_SPIRE": "config-spire",
    "METRICS_DOMAIN": "tekton.dev/pipeline",
}
RESOLVERS_ENV = {
    "SYSTEM_NAMESPACE": RESOLVERS_NAMESPACE,
    "CONFIG_LOGGING_NAME": "config-logging",
    "CONFIG_OBSERVABILITY_NAME": "config-observability",
    "CONFIG_FEATURE_FLAGS_NAME": "feature-flags",
    "CONFIG_LEADERELECTION_NAME": "config-leader-election-resolvers",
    "METRICS_DOMAIN": "tekton.dev/resolution",
    "ARTIFACT_HUB_API": "https://artifacthub.io/",
}


def _listen_env() -> dict[str, str]:
    """Free ports for the listening sockets (upstream: fixed ones; probes on loopback, knative's profiling
    server, answering 404 unless enabled, on every interface) and metrics off: knative reads
    METRICS_PROMETHEUS_PORT as a 16-bit signed int, so no ephemeral port would do."""
    return {
        "KUBERNETES_MIN_VERSION": "v1.28.0",
        "PROBES_PORT": str(free_port()),
        "PROFILING_PORT": str(free_port()),
        "DEFAULT_METRICS_BACKEND": "none",
    }


def define(plane: Plane, bins: Path) -> None:
    """Add the Tekton processes to ``plane`` (not started: ``install`` writes their kubeconfigs first)."""
    plane.procs["tekton-controller"] = Proc("tekton-controller", [
        str(bins / "tekton-controller"), f"--kubeconfig={_kubeconfig(plane, CONTROLLER)}", "--disable-ha",
        *[f"--{flag}={image}" for flag, image in IMAGES.items()],
    ], plane.logdir, env={**CONTROLLER_ENV, **_listen_env()})  # fmt: skip
    plane.procs["tekton-resolvers"] = Proc("tekton-resolvers", [
        str(bins / "tekton-resolvers"), f"--kubeconfig={_kubeconfig(plane, RESOLVERS)}",
    ], plane.logdir, env={**RESOLVERS_ENV, **_listen_env()})  # fmt: skip


def install(plane: Plane, assets: Path) -> None:
    """Apply the release's namespaces, RBAC, ConfigMaps and CRDs, then start the processes (probes answer)."""
    release = [path for d in ("tekton", "tekton-resolvers") for path in sorted((assets / d).iterdir())]
    plane.apply(*release)
    plane.wait_crds(*(path for path in release if path.suffix == ".json"))  # the CRDs
    for account in (CONTROLLER, RESOLVERS):
        _write_token_kubeconfig(plane, account)
    for name in BINARIES:
        proc = plane.procs[name]
        proc.start()
        url = f"http://127.0.0.1:{proc.env['PROBES_PORT']}/readiness"
        wait_until(f"{plane.name} {name}", partial(http_ok, url), timeout=START_TIMEOUT, procs=(proc,))


def _kubeconfig(plane: Plane, account: tuple[str, str]) -> Path:
    return plane.workdir / f"{account[1]}.kubeconfig"


def _write_token_kubeconfig(plane: Plane, account: tuple[str, str]) -> None:
    """A kubeconfig with a token of the release's ServiceAccount, as its pod would have (TokenRequest API)."""
    namespace, name = account
    token = plane.kubectl(
        "create", "token", name, "-n", namespace, f"--duration={TOKEN_LIFETIME}"
    ).stdout.strip()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": plane.server,
                    "certificate-authority": str(plane.pki / "serving-ca.crt"),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
        "current-context": "local",
    }
    path = _kubeconfig(plane, account)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
