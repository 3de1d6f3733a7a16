"""The build plane: a core plane (``localcluster.plane``) plus what runs OpenChoreo's Workflows.

* kube-scheduler and kwok: node ``kwok-node-0``, pods simulated by stages. Argo and Tekton pods complete ~1 s
  after starting, or fail when annotated ``kwok.choreo.dev/fail: "true"`` (``kwok-argo-stages.yaml``,
  ``kwok-tekton-stages.yaml``). kwok's
  ``pod-ready`` stage is made to wait for ``kwok.choreo.dev/resolved``, which ``mountgate.py`` (the kubelet's
  part kwok lacks) sets once the Secrets and ConfigMaps a pod mounts or reads into its environment exist.
  kwok also serves every container's log (``POD_LOG_LINES``) as the node's kubelet, over TLS the apiserver
  checks, so ``kubectl logs`` and ``pods/log`` work.
* Argo's workflow-controller, with Argo's CRDs, and Tekton Pipelines (``localcluster.tekton``), installed in
  parallel.
* Storage: Rancher's local-path-provisioner and the default StorageClass ``local-path``
  (``local-path-storage.yaml``), so ``volumeClaimTemplates`` bind.
* The External Secrets Operator (Kubernetes provider only, see hack/build-binaries.sh) with the
  ClusterSecretStore ``default`` reading Secrets from the ``secret-store`` namespace (``secret-store.yaml``).

``start_build_plane`` returns once the node is Ready and the ClusterSecretStore is Ready.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import json
import sys
from string import Template
from typing import TYPE_CHECKING

import yaml

from localcluster import tekton
from localcluster.binaries import BUILD_PLANE, HACK, assets_dir, bin_dir
from localcluster.plane import START_TIMEOUT, Plane, boot_core, define_core, prepare
from localcluster.process import Proc, free_port, wait_until

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

HERE = HACK / "localcluster"
NODE = "kwok-node-0"
POD_LOG_LINES = ("simulated log line 1 of 3 (dated 2020)", "simulated log line 2 of 3",
                 "simulated log line 3 of 3")  # fmt: skip
RESOLVED = "kwok.choreo.dev/resolved"  # mountgate.RESOLVED
STORE_NAMESPACE = "secret-store"  # secret-store.yaml
ARGO_CONFIG = {"metricsConfig": "enabled: false\n", "telemetryConfig": "enabled: false\n"}
ESO_FLAGS = (  # the reconcilers of kinds the build plane does not install are off
    "--enable-cluster-external-secret-reconciler=false", "--enable-push-secret-reconciler=false",
    "--enable-cluster-push-secret-reconciler=false",
)  # fmt: skip
BUILD_OBJECTS = """\
apiVersion: v1
kind: Node
metadata:
  name: {node}
  annotations: {{kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}}
  labels:
    {{kubernetes.io/hostname: {node}, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok}}
spec: {{}}
status:
  allocatable: {{cpu: "64", memory: 256Gi, pods: "1000"}}
  capacity: {{cpu: "64", memory: 256Gi, pods: "1000"}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: argo}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: workflow-controller-configmap, namespace: argo}}
data: {argo_config}
"""


def start_build_plane(workdir: Path, name: str = "build-plane") -> Plane:
    """Start a build plane (module docstring); returns when everything is ready."""
    bins, assets = bin_dir(BUILD_PLANE), assets_dir()
    plane = prepare(name, workdir, build=True)
    define_core(plane, bins)
    _define_build(plane, bins, assets)
    try:
        boot_core(plane)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tekton-install") as pool:
            tekton_installed = pool.submit(tekton.install, plane, assets)  # in parallel with the rest
            for proc in ("kube-scheduler", "kwok", "mountgate"):
                plane.procs[proc].start()
            crds = [
                path
                for d in ("argo-crds", "external-secrets")
                for path in sorted((assets / d).glob("*.yaml"))
            ]
            plane.apply(*crds, HERE / "local-path-storage.yaml")
            plane.apply(stdin=BUILD_OBJECTS.format(node=NODE, argo_config=json.dumps(ARGO_CONFIG)))
            for proc in ("local-path-provisioner", "workflow-controller"):
                plane.procs[proc].start()
            plane.wait_crds(*crds)
            plane.procs["external-secrets"].start()
            store = Template((HERE / "secret-store.yaml").read_text()).substitute(SERVER=plane.server)
            plane.apply(stdin=store)
            _wait_ready(plane, "node", NODE, "kwok")
            _wait_ready(plane, "clustersecretstore", "default", "external-secrets")
            tekton_installed.result()
    except BaseException:
        plane.stop()
        raise
    return plane


def seed_secret_store(plane: Plane, key: str, data: Mapping[str, str]) -> None:
    """Store ``data`` under ``key`` (an ExternalSecret's remoteRef ``key``; ``property`` is a data key)."""
    plane.apply(stdin=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": key, "namespace": STORE_NAMESPACE},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }))  # fmt: skip


def _define_build(plane: Plane, bins: Path, assets: Path) -> None:
    kubeconfig, logs = f"--kubeconfig={plane.kubeconfig}", plane.logdir
    plane.ports["kwok"] = free_port()
    plane.procs["kube-scheduler"] = Proc("kube-scheduler", [
        str(bins / "kube-scheduler"), kubeconfig, f"--authentication-kubeconfig={plane.kubeconfig}",
        f"--authorization-kubeconfig={plane.kubeconfig}", "--leader-elect=false", "--secure-port=0", "--v=1",
    ], logs)  # fmt: skip
    plane.procs["kwok"] = Proc("kwok", [
        str(bins / "kwok"), kubeconfig, f"--config={_kwok_stages(plane, assets)}",
        f"--config={HERE / 'kwok-argo-stages.yaml'}", f"--config={HERE / 'kwok-tekton-stages.yaml'}",
        f"--config={HERE / 'kwok-storage-stages.yaml'}",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        f"--config={_pod_logs(plane)}",
        "--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
        f"--server-address=127.0.0.1:{plane.ports['kwok']}", f"--node-port={plane.ports['kwok']}",
        f"--tls-cert-file={plane.pki / 'kwok.crt'}", f"--tls-private-key-file={plane.pki / 'kwok.key'}",
    ], logs)  # fmt: skip
    plane.procs["mountgate"] = Proc("mountgate", [
        sys.executable, str(HERE / "mountgate.py"), kubeconfig, f"--node={NODE}",
    ], logs)  # fmt: skip
    plane.procs["local-path-provisioner"] = Proc("local-path-provisioner", [
        str(bins / "local-path-provisioner"), "--debug", "start", kubeconfig, "--worker-threads=4",
        "--namespace=local-path-storage", "--service-account-name=local-path-provisioner",
    ], logs)  # fmt: skip
    plane.procs["workflow-controller"] = Proc("workflow-controller", [
        str(bins / "workflow-controller"), kubeconfig, "--namespace=argo",
        "--executor-image=quay.io/argoproj/argoexec:kwok", "--loglevel=info", "--qps=100", "--burst=200",
    ], logs, env={"LEADER_ELECTION_DISABLE": "true", "DEFAULT_REQUEUE_TIME": "1s"})  # fmt: skip
    plane.procs["external-secrets"] = Proc("external-secrets", [
        str(bins / "external-secrets"), "--metrics-addr=0", "--zap-time-encoding=iso8601", "--concurrent=2",
        *ESO_FLAGS,
    ], logs, env={"KUBECONFIG": str(plane.kubeconfig)})  # fmt: skip
    tekton.define(plane, bins)


def _pod_logs(plane: Plane) -> Path:
    """Every simulated container's log (kwok ``ClusterLogs``): ``POD_LOG_LINES``, in the CRI log format.

    The first line is dated 2020 (``--since`` leaves it out), the others the plane's start.
    """
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stamps = ["2020-01-01T00:00:00.000000000Z"] + [now] * (len(POD_LOG_LINES) - 1)
    log = plane.workdir / "pod.log"
    lines = zip(stamps, POD_LOG_LINES, strict=True)
    log.write_text("".join(f"{stamp} stdout F {line}\n" for stamp, line in lines))
    config = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterLogs",
              "metadata": {"name": "every-pod"}, "spec": {"logs": [{"logsFile": str(log)}]}}  # fmt: skip
    path = plane.workdir / "kwok-logs.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _kwok_stages(plane: Plane, assets: Path) -> Path:
    """kwok's own stages, its ``pod-ready`` made to start only pods ``mountgate`` resolved."""
    docs = [doc for doc in yaml.safe_load_all((assets / "kwok-stages.yaml").read_text()) if doc]
    ready = [doc for doc in docs if doc["metadata"]["name"] == "pod-ready"]
    if len(ready) != 1:
        raise RuntimeError(f"{assets / 'kwok-stages.yaml'}: expected one pod-ready stage, found {len(ready)}")
    ready[0]["spec"]["selector"]["matchExpressions"].append(
        {"key": f'.metadata.annotations["{RESOLVED}"]', "operator": "Exists"}
    )
    path = plane.workdir / "kwok-stages.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def _wait_ready(plane: Plane, kind: str, name: str, proc: str) -> None:
    def ready() -> bool:
        out = plane.kubectl(
            "get", kind, name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False
        )
        return out.stdout.strip() == "True"

    procs = (plane.procs[proc],)
    wait_until(f"{plane.name} {kind} {name}", ready, timeout=START_TIMEOUT, procs=procs, interval=0.5)
