#!/usr/bin/env python3
"""Informer cache memory and watch throughput (a benchmark script, not a test).

1. Memory: incremental RSS of 10,000 WorkflowRun-sized objects (as the apiserver sends them: status,
   labels, managedFields, last-applied annotation, distinct timestamps; ~3.8 KiB of JSON each) cached
   three ways, each in a fresh child process so one measurement cannot inherit another's heap:
     dict       a plain ``{key: decoded object}`` cache (what a naive informer keeps)
     dict-slim  the same after stripping managedFields and the last-applied annotation
     store      ``runtime.store.Store`` (slimmed, compact JSON + zlib with a preset dictionary), with two
                indexes; also the CPU per upsert and per ``get``.
2. Watch throughput against a real apiserver (started here with ``localcluster`` unless ``--kubeconfig``):
   WorkflowRuns are created while an informer's watch is held back, then released; the informer
   receives the backlog as one watch stream and the rate is events handled per second (each one
   decoded, slimmed, compressed, indexed and its key enqueued). A second informer's initial LIST +
   sync of the same objects gives the list rate.

Usage: hack/bench/bench_informer_memory.py [--objects 10000] [--watch-objects 3000] [--kubeconfig PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scripts directory: localcluster

TARGET_MIB = 32.0


def workflow_run(i: int, rng: random.Random) -> dict:
    """A completed run as the apiserver returns it, with its own timestamps (not one shared by every field).

    Runs are created ~8 s apart over a day; each then starts, runs four tasks of 2-180 s one after the
    other and completes, so creation, start, each task's start and end, completion and the managed-fields
    times all differ, as on a real cluster (identical ones compress better and flatter the store).
    """
    ns, name = f"team-{i % 20}", f"greeter-build-{i}"
    created = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(seconds=i * 8 + rng.randint(0, 7))
    clock = [created + timedelta(seconds=rng.randint(1, 4))]  # when the run started

    def later(lo: int, hi: int) -> str:
        clock[0] += timedelta(seconds=rng.randint(lo, hi), milliseconds=rng.randint(0, 999))
        return stamp(clock[0])

    started = stamp(clock[0])
    steps = ("checkout-source", "build-image", "publish-image", "generate-workload-cr")
    tasks = [{"name": n, "phase": "Succeeded", "startedAt": later(0, 2), "completedAt": later(2, 180),
              "message": ""} for n in steps]  # fmt: skip
    completed = later(1, 3)
    done = "Workflow has completed successfully"

    def cond(kind: str, status: str, message: str, ts: str) -> dict:
        return {"type": kind, "status": status, "reason": "WorkflowSucceeded", "message": message,
                "observedGeneration": 1, "lastTransitionTime": ts}  # fmt: skip

    def managed(manager: str, operation: str, fields: dict, ts: str, sub: str | None = None) -> dict:
        entry = {"manager": manager, "operation": operation, "apiVersion": "openchoreo.dev/v1alpha1",
                 "time": ts, "fieldsType": "FieldsV1", "fieldsV1": fields}  # fmt: skip
        return {**entry, "subresource": sub} if sub else entry

    condition_fields = {f'k:{{"type":"{t}"}}': {".": {}, "f:lastTransitionTime": {}, "f:message": {},
                        "f:observedGeneration": {}, "f:reason": {}, "f:status": {}, "f:type": {}}
                        for t in ("WorkflowCompleted", "WorkflowRunning", "WorkflowSucceeded")}  # fmt: skip
    applied = {"apiVersion": "openchoreo.dev/v1alpha1", "kind": "WorkflowRun", "metadata": {"name": name,
               "namespace": ns}, "spec": {"workflow": {"name": "docker"}}}  # fmt: skip
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": name, "namespace": ns, "uid": str(uuid.UUID(int=rng.getrandbits(128))),
            "resourceVersion": str(100000 + i), "generation": 1, "creationTimestamp": stamp(created),
            "labels": {"openchoreo.dev/project": "default", "openchoreo.dev/component": f"greeter-{i % 50}",
                       "openchoreo.dev/environment": "development"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)},
            "finalizers": ["openchoreo.dev/workflowrun-cleanup"],
            "managedFields": [
                managed("kubectl-client-side-apply", "Update", {"f:metadata": {"f:annotations": {".": {}},
                        "f:labels": {".": {}}}, "f:spec": {".": {}, "f:workflow": {".": {}, "f:kind": {},
                        "f:name": {}, "f:parameters": {".": {}, "f:docker": {}, "f:repository": {}}}}},
                        stamp(created)),
                managed("choreo-controller", "Apply", {"f:status": {"f:conditions": condition_fields,
                        "f:runReference": {}, "f:startedAt": {}, "f:tasks": {}}}, completed, "status"),
            ],
        },
        "spec": {"workflow": {"kind": "Workflow", "name": "docker", "parameters": {
            "repository": {"url": "https://github.com/openchoreo/sample-workloads",
                           "revision": {"branch": "main", "commit": f"{rng.getrandbits(160):040x}"},
                           "appPath": "service-go-greeter"},
            "docker": {"context": ".", "filePath": "./Dockerfile"}}}, "ttlAfterCompletion": "90d"},
        "status": {
            "observedGeneration": 1,
            "conditions": [cond("WorkflowCompleted", "True", done, completed),
                           cond("WorkflowRunning", "False", "Workflow has completed", completed),
                           cond("WorkflowSucceeded", "True", done, completed),
                           cond("WorkflowFailed", "False", "", started)],
            "runReference": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": name,
                             "namespace": f"openchoreo-ci-{ns}"},
            "resources": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                           "name": f"{name}-git-secret", "namespace": f"openchoreo-ci-{ns}"}],
            "plane": {"kind": "BuildPlane", "name": "default", "planeID": "default"},
            "tasks": tasks,
            "startedAt": started, "completedAt": completed,
        },
    }  # fmt: skip


def stamp(moment: datetime) -> str:
    """RFC 3339 to the second, as metav1.Time serialises."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rss_bytes() -> int:
    with Path("/proc/self/statm").open() as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(mode: str, count: int) -> dict:
    """Runs in a child process: cache ``count`` objects ``mode``'s way; RSS delta and timings."""
    from choreo_controller.contracts import ObjectKey  # noqa: PLC0415 - child process only
    from choreo_controller.reconcilers.workflowrun import settled_expiry  # noqa: PLC0415
    from choreo_controller.runtime.store import Store, field_index, namespace_index, slim  # noqa: PLC0415

    rng = random.Random(42)  # noqa: S311 - reproducible test data
    lines = [json.dumps(workflow_run(i, rng), separators=(",", ":")).encode() for i in range(count)]
    wire = sum(map(len, lines)) / count
    store = Store({"workflow": field_index("spec", "workflow", "name"), "namespace": namespace_index})
    store.set_summary(settled_expiry)  # as the controller's runs cache: each settled run's TTL expiry
    cache: dict = {}
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for line in lines:
        obj = json.loads(line)
        if mode == "store":
            store.upsert(obj)
        else:
            cache[ObjectKey.of(obj)] = slim(obj) if mode == "dict-slim" else obj
    fill = time.perf_counter() - started
    gc.collect()
    result = {"mode": mode, "mib": (rss_bytes() - before) / 2**20, "wire_bytes": wire, "fill_s": fill}
    if mode == "store":
        keys = store.list_keys()
        started = time.perf_counter()
        for key in keys:
            store.get(key)
        result["get_us"] = (time.perf_counter() - started) / len(keys) * 1e6
        result["blob_bytes"] = sum(len(e.blob) for e in store._entries.values()) / len(keys)  # noqa: SLF001
        sample = [json.loads(line) for line in lines[:2000]]
        fresh = Store({"workflow": field_index("spec", "workflow", "name"), "namespace": namespace_index})
        fresh.set_summary(settled_expiry)
        started = time.perf_counter()
        for obj in sample:
            fresh.upsert(obj)
        result["add_us"] = (time.perf_counter() - started) / len(sample) * 1e6
        for obj in sample:
            obj["metadata"]["resourceVersion"] += "1"
        started = time.perf_counter()
        for obj in sample:
            fresh.upsert(obj)  # an update also decodes the cached version (handlers get old and new)
        result["update_us"] = (time.perf_counter() - started) / len(sample) * 1e6
        started = time.perf_counter()
        for line in lines[:2000]:
            json.loads(line)
        result["loads_us"] = (time.perf_counter() - started) / 2000 * 1e6  # the yardstick: one decode
    return result


def memory(count: int) -> list[dict]:
    results = []
    for mode in ("dict", "dict-slim", "store"):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", mode, "--objects", str(count)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


# ---- watch throughput ---------------------------------------------------------------------------------
async def watch_throughput(kubeconfig: str, count: int) -> dict:
    from choreo_controller import kube  # noqa: PLC0415 - heavy import, only for this part
    from choreo_controller.api.resources import NAMESPACE, WORKFLOW_RUN  # noqa: PLC0415
    from choreo_controller.contracts import ObjectKey  # noqa: PLC0415
    from choreo_controller.runtime.clock import RealClock  # noqa: PLC0415
    from choreo_controller.runtime.handlers import enqueue  # noqa: PLC0415
    from choreo_controller.runtime.informer import Informer  # noqa: PLC0415
    from choreo_controller.runtime.queue import WorkQueue  # noqa: PLC0415

    clock = RealClock()
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    rng = random.Random(1)  # noqa: S311 - test data
    async with kube.connect(kubeconfig, request_timeout=120) as api:
        await api.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        before = (await api.list(WORKFLOW_RUN, ns)).resource_version

        async def create(i: int) -> None:
            run = workflow_run(i, rng)
            meta = {"name": f"run-{i}", "namespace": ns, "labels": run["metadata"]["labels"]}
            await api.create(WORKFLOW_RUN, {"apiVersion": run["apiVersion"], "kind": run["kind"],
                                            "metadata": meta, "spec": run["spec"]})  # fmt: skip

        started = time.perf_counter()
        for first in range(0, count, 32):
            await asyncio.gather(*(create(i) for i in range(first, min(count, first + 32))))
        created = time.perf_counter() - started

        # An informer that last saw the namespace empty resumes its watch: the apiserver sends the backlog.
        behind = Informer(api, WORKFLOW_RUN, clock=clock, namespace=ns)
        behind.add_handler(enqueue(WorkQueue[ObjectKey]("behind", clock)))
        behind._rv = before  # noqa: SLF001 - resume as if it had listed before the creates
        behind.store.mark_synced()
        started = time.perf_counter()
        resumed = asyncio.create_task(behind.run())
        await _until(lambda: len(behind.store) >= count)
        streamed = time.perf_counter() - started
        resumed.cancel()

        fresh = Informer(api, WORKFLOW_RUN, clock=clock, namespace=ns)
        fresh.add_handler(enqueue(WorkQueue[ObjectKey]("fresh", clock)))
        started = time.perf_counter()
        listing = asyncio.create_task(fresh.run())
        await fresh.wait_synced()
        listed = time.perf_counter() - started
        listing.cancel()
        await asyncio.gather(resumed, listing, return_exceptions=True)
        await api.delete(NAMESPACE, ns)
    return {
        "objects": count,
        "create_per_s": count / created,
        "watch_events_per_s": count / streamed,
        "watch_relisted": behind.lists > 0,
        "list_sync_per_s": count / listed,
    }


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(600):
        while not predicate():  # noqa: ASYNC110 - polling a counter in a benchmark
            await asyncio.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--watch-objects", type=int, default=3000)
    parser.add_argument("--kubeconfig", help="use this apiserver instead of starting a local control plane")
    parser.add_argument("--no-watch", action="store_true", help="memory only")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.objects)))
        return 0

    scale = 10_000 / args.objects
    print(f"cache memory, {args.objects} WorkflowRun-sized objects (incremental RSS, scaled to 10,000):")
    for r in memory(args.objects):
        extra = ""
        if r["mode"] == "store":
            extra = (f"\n{'':13}{r['blob_bytes']:.0f} B stored per object; CPU per add {r['add_us']:.0f} us, "
                     f"per update {r['update_us']:.0f} us, per get {r['get_us']:.0f} us"
                     f"\n{'':13}(for scale, json.loads of it: {r['loads_us']:.0f} us)")  # fmt: skip
        per_10k = r["mib"] * scale
        per_object = per_10k * 2**20 / 10_000
        print(f"  {r['mode']:<10} {per_10k:7.1f} MiB per 10k = {per_object:5.0f} B per object resident   "
              f"(wire JSON {r['wire_bytes']:.0f} B){extra}")  # fmt: skip
        if r["mode"] == "store":
            print(f"  target <= {TARGET_MIB:g} MiB per 10k: {'met' if per_10k <= TARGET_MIB else 'MISSED'}")
    if args.no_watch:
        return 0
    if args.kubeconfig:
        figures = asyncio.run(watch_throughput(args.kubeconfig, args.watch_objects))
    else:
        from localcluster import start_control_plane  # noqa: PLC0415 - needs the built binaries

        with tempfile.TemporaryDirectory(prefix="bench-informer-") as workdir:
            print("starting a local control plane...", flush=True)
            plane = start_control_plane(Path(workdir), "bench")
            try:
                figures = asyncio.run(watch_throughput(str(plane.kubeconfig), args.watch_objects))
            finally:
                plane.stop()
    print(f"watch throughput, {figures['objects']} WorkflowRuns against a real kube-apiserver:")
    print(f"  created (32 in flight)     {figures['create_per_s']:8.0f} objects/s")
    how = "relisted after Gone" if figures["watch_relisted"] else "one resumed watch"
    print(f"  backlog through the watch  {figures['watch_events_per_s']:8.0f} events/s   ({how})")
    print(f"  initial LIST + sync        {figures['list_sync_per_s']:8.0f} objects/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
