"""The kubelet's part kwok lacks: a simulated pod starts once the Secrets and ConfigMaps it reads exist.

kwok runs no kubelet, so nothing would keep a simulated pod from running while a Secret it needs does not
exist yet. A real kubelet holds such a pod: in ``ContainerCreating`` (Event ``FailedMount``) for a volume, in
``CreateContainerConfigError`` for an ``env``/``envFrom`` reference (or a missing key), until it appears,
unless the reference is ``optional``. This process plays that part for every pod bound to one node:

* once every non-optional Secret and ConfigMap the pod reads (volumes, projected sources, ``env``
  ``valueFrom`` keys, ``envFrom``) exists, it sets the annotation ``kwok.choreo.dev/resolved`` to what the
  pod got, a JSON list (``["secret/NAME", "configmap/NAME"]``; a missing optional one is left out, as the
  kubelet mounts an empty directory or leaves the variable unset); kwok's ``pod-ready`` stage starts only pods
  with that annotation (``localcluster.buildplane``);
* until then the pod carries ``kwok.choreo.dev/waiting-for`` naming what is missing, plus one Warning Event
  (``FailedMount`` or ``Failed``), and is looked at again whenever a Secret or ConfigMap appears in its
  namespace.

Run by ``localcluster.buildplane`` as ``python mountgate.py --kubeconfig FILE --node NODE``; stdlib only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import ssl
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any, NamedTuple

RESOLVED = "kwok.choreo.dev/resolved"
WAITING = "kwok.choreo.dev/waiting-for"
Json = dict[str, Any]


class Api:
    """Just enough of a Kubernetes client: JSON requests and watch streams, client-certificate auth."""

    def __init__(self, kubeconfig: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        url = urllib.parse.urlsplit(cluster["server"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def request(
        self, method: str, path: str, body: Json | None = None, content_type: str = ""
    ) -> Json | None:
        """The decoded response, or None for 404."""
        conn = self._connection(30)
        try:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type or "application/json"
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status == 404:
            return None
        if resp.status >= 300:
            raise OSError(f"{method} {path}: {resp.status} {data[:300]!r}")
        return dict(json.loads(data))

    def watch(self, path: str, on_event: Any) -> None:
        """Watch ``path`` for ever (initial state included): ``on_event(type, object)`` per event."""
        while True:
            conn = self._connection(330)
            try:
                sep = "&" if "?" in path else "?"
                url = f"{path}{sep}watch=1&timeoutSeconds=300"
                conn.request("GET", url, headers={"Accept": "application/json"})
                resp = conn.getresponse()
                while line := resp.readline():
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        break
                    on_event(event["type"], event["object"])
            except (OSError, ValueError) as exc:
                log(f"watch {path}: {exc}; again in 1s")
                time.sleep(1)
            finally:
                conn.close()


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


class Ref(NamedTuple):
    """A Secret or ConfigMap a pod reads (``key``: one key of it; ``env``: into the environment)."""

    kind: str  # secret | configmap
    name: str
    optional: bool
    key: str | None = None
    env: bool = False

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" + (f" key {self.key}" if self.key else "")


def references(pod: Json) -> list[Ref]:
    """Every Secret and ConfigMap ``pod`` reads: its volumes, then its containers' ``env`` and ``envFrom``."""
    spec = pod.get("spec") or {}
    return volume_refs(spec.get("volumes") or []) + env_refs(
        (spec.get("initContainers") or []) + (spec.get("containers") or [])
    )


def volume_refs(volumes: list[Json]) -> list[Ref]:
    out = []
    for volume in volumes:
        for source in [volume, *((volume.get("projected") or {}).get("sources") or [])]:
            if "secret" in source:
                ref = source["secret"]
                out.append(
                    Ref("secret", ref.get("secretName") or ref.get("name", ""), bool(ref.get("optional")))
                )
            if "configMap" in source:
                ref = source["configMap"]
                out.append(Ref("configmap", ref.get("name", ""), bool(ref.get("optional"))))
    return out


def env_refs(containers: list[Json]) -> list[Ref]:
    out = []
    for container in containers:
        for env in container.get("env") or []:
            for field, kind in (("secretKeyRef", "secret"), ("configMapKeyRef", "configmap")):
                ref = (env.get("valueFrom") or {}).get(field)
                if ref:
                    out.append(
                        Ref(kind, ref.get("name", ""), bool(ref.get("optional")), ref.get("key"), env=True)
                    )
        for source in container.get("envFrom") or []:
            for field, kind in (("secretRef", "secret"), ("configMapRef", "configmap")):
                if field in source:
                    ref = source[field]
                    out.append(Ref(kind, ref.get("name", ""), bool(ref.get("optional")), env=True))
    return out


class Gate:
    """One worker decides; the watches only say which pods to look at."""

    def __init__(self, api: Api, node: str) -> None:
        self.api, self.node = api, node
        self.todo: queue.Queue[tuple[str, str]] = queue.Queue()
        self.waiting: dict[tuple[str, str], str] = {}  # pod -> what it waits for
        self.lock = threading.Lock()

    def on_pod(self, kind: str, pod: Json) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if kind == "DELETED":
            with self.lock:
                self.waiting.pop(key, None)
        elif RESOLVED not in (meta.get("annotations") or {}) and not meta.get("deletionTimestamp"):
            self.todo.put(key)

    def on_source(self, kind: str, obj: Json) -> None:
        """A Secret or ConfigMap appeared or changed (a key added?): look at its namespace's waiting pods."""
        if kind not in {"ADDED", "MODIFIED"}:
            return
        with self.lock:
            again = [key for key in self.waiting if key[0] == obj["metadata"]["namespace"]]
        for key in again:
            self.todo.put(key)

    def work(self) -> None:
        while True:
            key = self.todo.get()
            try:
                self.decide(*key)
            except OSError as exc:
                log(f"{key[0]}/{key[1]}: {exc}; again in 1s")
                threading.Timer(1.0, self.todo.put, (key,)).start()

    def decide(self, namespace: str, name: str) -> None:
        pod = self.api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}")
        annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
        if pod is None or RESOLVED in annotations or pod["metadata"].get("deletionTimestamp"):
            with self.lock:
                self.waiting.pop((namespace, name), None)
            return
        found: dict[tuple[str, str], Json | None] = {}
        resolved, missing = [], []
        for ref in references(pod):
            if (ref.kind, ref.name) not in found:
                found[ref.kind, ref.name] = self.api.request(
                    "GET", f"/api/v1/namespaces/{namespace}/{ref.kind}s/{ref.name}"
                )
            obj = found[ref.kind, ref.name]
            keys = {**((obj or {}).get("data") or {}), **((obj or {}).get("binaryData") or {})}
            if obj is not None and (ref.key is None or ref.key in keys):
                resolved.append(f"{ref.kind}/{ref.name}")
            elif not ref.optional:
                missing.append(ref)
        if missing:
            self._hold(pod, missing)
            return
        with self.lock:
            self.waiting.pop((namespace, name), None)
        got = list(dict.fromkeys(resolved))
        self._annotate(pod, {RESOLVED: json.dumps(got), WAITING: None})
        log(f"{namespace}/{name}: resolved {got}")

    def _hold(self, pod: Json, missing: list[Ref]) -> None:
        meta = pod["metadata"]
        text = ", ".join(map(str, missing))
        with self.lock:
            before = self.waiting.get((meta["namespace"], meta["name"]))
            self.waiting[(meta["namespace"], meta["name"])] = text
        if before == text:
            return
        self._annotate(pod, {WAITING: text})
        log(f"{meta['namespace']}/{meta['name']}: waiting for {text}")
        volume = [ref for ref in missing if not ref.env]
        reason, message = (
            ("FailedMount", f"MountVolume.SetUp failed: {', '.join(map(str, volume))} not found")
            if volume
            else ("Failed", f"Error: CreateContainerConfigError: {text} not found")
        )
        self.api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta["uid"]},
            "reason": reason, "message": message, "type": "Warning",
            "source": {"component": "kwok-mountgate"},
        })  # fmt: skip

    def _annotate(self, pod: Json, annotations: dict[str, str | None]) -> None:
        meta = pod["metadata"]
        patch = {"metadata": {"annotations": annotations, "resourceVersion": meta["resourceVersion"]}}
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        try:
            self.api.request("PATCH", path, patch, "application/merge-patch+json")
        except OSError as exc:
            if " 409 " not in str(exc):
                raise
            self.todo.put((meta["namespace"], meta["name"]))  # changed meanwhile: decide again


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    gate = Gate(Api(args.kubeconfig), args.node)
    selector = urllib.parse.quote(f"spec.nodeName={args.node}")
    watches = {
        "pods": (f"/api/v1/pods?fieldSelector={selector}", gate.on_pod),
        "secrets": ("/api/v1/secrets", gate.on_source),
        "configmaps": ("/api/v1/configmaps", gate.on_source),
    }
    for name, (path, handler) in watches.items():
        watch = threading.Thread(
            target=gate.api.watch, args=(path, handler), name=f"watch-{name}", daemon=True
        )
        watch.start()
    log(f"mount gate for node {args.node}")
    gate.work()


if __name__ == "__main__":
    main()
