"""manifests/ without a cluster: every kustomization names files that exist, every container of our image
runs a command line our argparse accepts, and the controller Deployment has what the issue asks for
(probes, metrics port, resources, non-root, read-only root, no capabilities, seccomp, leader election in the
namespace the leader-election Role grants). tests/integration/test_manifests_cluster.py sends the same
objects to a real apiserver (server-side dry run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from choreo_controller.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"


def docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_docs(directory: Path) -> list[dict]:
    return [doc for path in sorted(directory.rglob("*.yaml")) if path.name != "kustomization.yaml" for doc in docs(path)]  # fmt: skip


def containers_of_our_image() -> list[tuple[str, dict]]:
    return [
        (f"{path.relative_to(MANIFESTS)}:{container['name']}", container)
        for path in sorted(MANIFESTS.rglob("*.yaml"))
        for doc in docs(path)
        if doc.get("kind") == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
        if container["image"].startswith("choreo-controller:")
    ]


@pytest.mark.parametrize(
    "kustomization",
    sorted(MANIFESTS.rglob("kustomization.yaml")),
    ids=lambda p: str(p.relative_to(MANIFESTS)),
)
def test_kustomizations_name_existing_resources(kustomization):
    resources = yaml.safe_load(kustomization.read_text())["resources"]
    assert [] == [res for res in resources if not (kustomization.parent / res).exists()]


@pytest.mark.parametrize(("where", "container"), containers_of_our_image(), ids=lambda v: v if isinstance(v, str) else "")  # fmt: skip
def test_container_args_parse(where, container):
    args = build_parser().parse_args(container["args"])
    assert callable(args.handler), where


def controller_deployment() -> dict:
    return docs(MANIFESTS / "controller" / "deployment.yaml")[0]


def flag(args: list[str], name: str) -> str | None:
    return next((arg.split("=", 1)[1] for arg in args if arg.startswith(f"{name}=")), None)


def test_controller_deployment_hardening():
    pod = controller_deployment()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert {
        "pod": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "container": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "liveness": ("/healthz", "probes"),
        "readiness": ("/readyz", "probes"),
        "ports": {"metrics": 8080, "probes": 8081},
        "requests": {"cpu", "memory"},
        "memory limit": True,
    } == {
        "pod": pod["securityContext"],
        "container": container["securityContext"],
        "liveness": (container["livenessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["port"]),
        "readiness": (container["readinessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["port"]),
        "ports": ports,
        "requests": set(container["resources"]["requests"]),
        "memory limit": "memory" in container["resources"]["limits"],
    }  # fmt: skip
    args = container["args"]
    assert (f":{ports['metrics']}", f":{ports['probes']}") == (
        flag(args, "--metrics-bind-address"),
        flag(args, "--health-probe-bind-address"),
    )


def test_controller_identity_and_leader_election_match_the_rbac():
    deployment = controller_deployment()
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    rbac = all_docs(MANIFESTS / "rbac")
    account = next(doc for doc in rbac if doc["kind"] == "ServiceAccount")["metadata"]
    role = next(doc for doc in rbac if doc["kind"] == "Role" and any("leases" in rule["resources"] for rule in doc["rules"]))  # fmt: skip
    bindings = [doc for doc in rbac if doc["kind"].endswith("Binding")]
    subjects = [s for doc in bindings for s in doc["subjects"]]
    assert "--leader-elect" in args
    assert {
        "service account": (account["name"], account["namespace"]),
        "lease namespace": role["metadata"]["namespace"],
        "binding subjects": [{"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}] * len(bindings),
    } == {
        "service account": (deployment["spec"]["template"]["spec"]["serviceAccountName"], deployment["metadata"]["namespace"]),
        "lease namespace": flag(args, "--leader-election-namespace"),
        "binding subjects": subjects,
    }  # fmt: skip


def test_every_port_of_our_image_is_exposed_by_the_dockerfile():
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE) for p in line.split()}  # fmt: skip
    used = {port["containerPort"] for _, container in containers_of_our_image() for port in container.get("ports", [])}  # fmt: skip
    assert set() == used - exposed
