"""The build plane's volumes are real: claims from ``volumeClaimTemplates`` are provisioned by the
local-path-provisioner and bound, Argo deletes them after the run (and the provisioner their volumes); an
ExternalSecret becomes a Secret through ESO and the ClusterSecretStore ``default``; a pod that mounts a Secret,
or reads one of its keys into its environment, starts only once it exists (``mountgate``), as under a
kubelet."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from localcluster.buildplane import RESOLVED, seed_secret_store
from waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]
WAITING = "kwok.choreo.dev/waiting-for"

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  entrypoint: main
  volumeClaimTemplates:
  - metadata: {{name: workspace}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
  templates:
  - name: main
    steps:
    - - {{name: write, template: step}}
    - - {{name: read, template: step}}
  - name: step
    metadata:
      annotations: {{pod-complete.stage.kwok.x-k8s.io/delay: "2s"}}
    container:
      image: busybox:1.36
      command: [sh, -c, "ls /mnt/vol"]
      volumeMounts: [{{name: workspace, mountPath: /mnt/vol}}]
"""
EXTERNAL_SECRET = """
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {{name: git, namespace: {namespace}}}
spec:
  refreshInterval: 1h
  secretStoreRef: {{kind: ClusterSecretStore, name: default}}
  target: {{name: git, creationPolicy: Owner, template: {{type: kubernetes.io/basic-auth}}}}
  data:
  - {{secretKey: username, remoteRef: {{key: {key}, property: user}}}}
  - {{secretKey: password, remoteRef: {{key: {key}, property: token}}}}
"""
POD = """
apiVersion: v1
kind: Pod
metadata: {{name: clone, namespace: {namespace}}}
spec:
  containers:
  - name: main
    image: alpine/git:2.45.2
    volumeMounts: [{{name: git, mountPath: /etc/secrets/git}}]
  volumes:
  - {{name: git, secret: {{secretName: git}}}}
  - {{name: optional, secret: {{secretName: never-created, optional: true}}}}
"""


@pytest.fixture
def namespace(build_plane):
    name = f"volumes-{uuid.uuid4().hex[:6]}"
    build_plane.kubectl("create", "namespace", name)
    yield name
    build_plane.kubectl("delete", "namespace", name, "--wait=false")


def _get(plane, *what):
    out = plane.kubectl("get", *what, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_volume_claim_template_is_provisioned_bound_and_deleted_after_the_run(build_plane, namespace):
    name = "pvc-run"
    build_plane.apply(stdin=WORKFLOW.format(name=name, namespace=namespace))
    claim = wait_for(
        "the workspace claim to bind",
        lambda: (
            (c := _get(build_plane, "pvc", f"{name}-workspace", "-n", namespace))
            and c["status"].get("phase") == "Bound"
            and c
        ),
    )
    assert "local-path" == claim["spec"]["storageClassName"]  # the default class, not named by the Workflow
    volume = _get(build_plane, "pv", claim["spec"]["volumeName"])
    assert "rancher.io/local-path" == volume["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"]
    assert ["kwok-node-0"] == volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0][
        "matchExpressions"
    ][0]["values"]

    phase = wait_for(
        "the workflow to finish",
        lambda: (
            ((_get(build_plane, "workflows.argoproj.io", name, "-n", namespace) or {}).get("status") or {})
            .get("phase", "")
            .replace("Running", "")
            .replace("Pending", "")
        ),
        timeout=120,
    )
    assert "Succeeded" == phase
    wait_for(
        "Argo to delete the claim (volumeClaimGC)",
        lambda: _get(build_plane, "pvc", f"{name}-workspace", "-n", namespace) is None,
    )
    wait_for(
        "the provisioner to delete the volume (reclaimPolicy Delete)",
        lambda: _get(build_plane, "pv", volume["metadata"]["name"]) is None,
    )


def test_external_secret_syncs_and_a_pod_mounting_it_waits_for_it(build_plane, namespace):
    key = f"git-{uuid.uuid4().hex[:6]}"  # a Secret of the store namespace, created only later
    build_plane.apply(stdin=EXTERNAL_SECRET.format(namespace=namespace, key=key))
    build_plane.apply(stdin=POD.format(namespace=namespace))

    pod = wait_for(
        "the pod to wait for its Secret",
        lambda: (
            (p := _get(build_plane, "pod", "clone", "-n", namespace))
            and p["metadata"].get("annotations", {}).get(WAITING)
            and p
        ),
    )
    assert "secret/git" == pod["metadata"]["annotations"][WAITING]
    assert "Pending" == pod["status"]["phase"]
    assert RESOLVED not in pod["metadata"]["annotations"]
    events = _get(build_plane, "events", "-n", namespace, "--field-selector", "involvedObject.name=clone")
    assert 1 == sum(e["reason"] == "FailedMount" for e in events["items"])

    seed_secret_store(build_plane, key, {"user": "ci-bot", "token": "s3cr3t-token"})

    secret = wait_for("ESO to create the Secret", lambda: _get(build_plane, "secret", "git", "-n", namespace))
    assert "kubernetes.io/basic-auth" == secret["type"]
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert {"username": "ci-bot", "password": "s3cr3t-token"} == decoded
    assert ["ExternalSecret"] == [ref["kind"] for ref in secret["metadata"]["ownerReferences"]]
    pod = wait_for(
        "the pod to start once its Secret exists",
        lambda: (
            (p := _get(build_plane, "pod", "clone", "-n", namespace))
            and p["status"].get("phase") == "Running"
            and p
        ),
    )
    mounted = json.loads(pod["metadata"]["annotations"][RESOLVED])
    assert "secret/git" in mounted
    assert (
        "secret/never-created" not in mounted
    )  # optional and missing: an empty directory, as a kubelet does


ENV_POD = """
apiVersion: v1
kind: Pod
metadata: {{name: deploy, namespace: {namespace}}}
spec:
  containers:
  - name: main
    image: busybox:1.36
    env:
    - {{name: TOKEN, valueFrom: {{secretKeyRef: {{name: app, key: token}}}}}}
    - {{name: DEBUG, valueFrom: {{configMapKeyRef: {{name: absent, key: debug, optional: true}}}}}}
"""


def test_a_pod_reading_a_secret_key_into_its_environment_waits_for_the_key(build_plane, namespace):
    build_plane.kubectl("create", "secret", "generic", "app", "-n", namespace, "--from-literal=user=ci")
    build_plane.apply(stdin=ENV_POD.format(namespace=namespace))

    pod = wait_for(
        "the pod to wait for the key",
        lambda: (
            (p := _get(build_plane, "pod", "deploy", "-n", namespace))
            and p["metadata"].get("annotations", {}).get(WAITING)
            and p
        ),
    )
    assert ("secret/app key token", "Pending") == (
        pod["metadata"]["annotations"][WAITING],
        pod["status"]["phase"],
    )
    events = _get(build_plane, "events", "-n", namespace, "--field-selector", "involvedObject.name=deploy")
    assert ["Error: CreateContainerConfigError: secret/app key token not found"] == [
        e["message"] for e in events["items"] if e["reason"] == "Failed"
    ]

    build_plane.kubectl("patch", "secret", "app", "-n", namespace, "-p", '{"stringData": {"token": "t0k3n"}}')

    pod = wait_for(
        "the pod to start once the key exists",
        lambda: (
            (p := _get(build_plane, "pod", "deploy", "-n", namespace))
            and p["status"].get("phase") == "Running"
            and p
        ),
    )
    assert "secret/app" in json.loads(pod["metadata"]["annotations"][RESOLVED])
    assert WAITING not in pod["metadata"]["annotations"]
