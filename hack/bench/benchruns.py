"""Shared by the end-to-end benchmarks: the objects they create and the clocks they read.

* ``CWTS`` - kwok-friendly ClusterWorkflowTemplates ``bench-<step>`` standing in for the sample Docker
  Workflow's three steps: no output parameters (kwok runs no executor), an input ``delay`` (how long kwok
  keeps the pod running). ``bench_workflow`` is ``manifests/samples/workflow-docker.yaml`` pointed at them
  (optionally cut to its first ``steps`` steps, with another TTL); ``run_object`` a WorkflowRun of it.
* ``prepare`` - a namespace with its BuildPlane ``default`` (planeID ``bench``) and the Workflow.
* ``create_runs`` - WorkflowRuns created as one burst (``concurrency`` in flight) or at a fixed rate;
  returns when each create was *sent* (the latency clock starts before the apiserver's own time).
* ``Watcher`` - list + watch of one resource (relisting on ``Gone``) calling ``on_object(obj, now)`` for
  every object seen, on the benchmark's one monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from typing import TYPE_CHECKING, Any, Self

import yaml
from benchlib import ROOT, build_plane

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import (
    AlreadyExists,
    ApiError,
    Gone,
    ServerError,
    TooManyRequests,
    Unavailable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from choreo_controller.contracts import ApiResource, JsonObj, KubeApi

STEP_INPUTS = {"checkout-source": ("checkout", ""), "docker": ("build-image", "git-revision"),
               "publish-image": ("publish-image", "image-digest")}  # fmt: skip
_CWT = """
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata: {{name: bench-{name}}}
spec:
  templates:
  - name: {template}
    inputs:
      parameters: [{inputs}{{name: delay, value: "1s"}}]
    metadata:
      annotations: {{pod-complete.stage.kwok.x-k8s.io/delay: "{{{{inputs.parameters.delay}}}}"}}
    container: {{image: busybox, command: [sh, -c, "echo {template}"]}}
"""
CWTS = "---".join(
    _CWT.format(name=name, template=template, inputs=f'{{name: {extra}, value: "x"}}, ' if extra else "")
    for name, (template, extra) in STEP_INPUTS.items()
)
_SAMPLE = yaml.safe_load((ROOT / "manifests" / "samples" / "workflow-docker.yaml").read_text())


def bench_workflow(namespace: str, *, steps: int = 3, delay: str = "1s", ttl: str | None = None) -> JsonObj:
    """The sample Docker Workflow on the bench templates: ``steps`` steps of ``delay`` each."""
    wf = copy.deepcopy(_SAMPLE)
    wf["metadata"]["namespace"] = namespace
    if ttl is not None:
        wf["spec"]["ttlAfterCompletion"] = ttl
    pipeline = wf["spec"]["runTemplate"]["spec"]["templates"][0]
    pipeline["steps"] = pipeline["steps"][:steps]
    for group in pipeline["steps"]:
        for step in group:
            step["templateRef"]["name"] = "bench-" + step["templateRef"]["name"]
            args = (step.get("arguments") or {}).get("parameters", [])
            params = [{"name": p["name"], "value": "x"} for p in args] + [{"name": "delay", "value": delay}]
            step["arguments"] = {"parameters": params}
    return wf


def sample_workflow(namespace: str) -> JsonObj:
    """``manifests/samples/workflow-docker.yaml`` unchanged (its steps need not run: Argo may be stopped)."""
    wf = copy.deepcopy(_SAMPLE)
    wf["metadata"]["namespace"] = namespace
    return wf


def run_object(namespace: str, name: str, *, ttl: str | None = None) -> JsonObj:
    spec: dict[str, Any] = {"workflow": {"name": "docker", "parameters": {
        "repository": {"url": "https://github.com/acme/payments", "revision": {"branch": "main"},
                       "appPath": "services/payments"}}}}  # fmt: skip
    if ttl is not None:
        spec["ttlAfterCompletion"] = ttl
    return {"apiVersion": r.API_VERSION, "kind": "WorkflowRun",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}  # fmt: skip


async def prepare(cp: KubeApi, namespace: str, client_ca: str, workflow: JsonObj) -> None:
    """The namespace, its BuildPlane and the Workflow (each left alone if it exists)."""
    objs: list[tuple[ApiResource, JsonObj]] = [
        (r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        (r.BUILD_PLANE, build_plane(namespace, client_ca)),
        (r.WORKFLOW, workflow),
    ]
    for res, obj in objs:
        with contextlib.suppress(AlreadyExists):
            await create_retrying(cp, res, obj)


async def create_retrying(api: KubeApi, res: ApiResource, obj: JsonObj) -> JsonObj:
    """Create; an overloaded apiserver (429, 5xx, unreachable) is retried, ``AlreadyExists`` raised."""
    for attempt in range(50):
        try:
            return await api.create(res, obj)
        except (TooManyRequests, ServerError, Unavailable):
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
    return await api.create(res, obj)


async def create_runs(
    cp: KubeApi, objs: list[JsonObj], *, rate: float | None = None, concurrency: int = 64
) -> dict[str, float]:
    """Create ``objs`` (WorkflowRuns): at ``rate`` per second, or as fast as ``concurrency`` allows.

    Returns ``{name: monotonic time the create was sent}``.
    """
    sent: dict[str, float] = {}
    limit = asyncio.Semaphore(concurrency)
    start = time.monotonic()

    async def one(i: int, obj: JsonObj) -> None:
        if rate is not None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        async with limit:
            sent[obj["metadata"]["name"]] = time.monotonic()
            await create_retrying(cp, r.WORKFLOW_RUN, obj)

    await asyncio.gather(*(one(i, obj) for i, obj in enumerate(objs)))
    return sent


class Watcher:
    """List + watch ``res`` (all namespaces, or one) and hand every object to ``on_object(obj, now)``."""

    def __init__(
        self,
        api: KubeApi,
        res: ApiResource,
        on_object: Callable[[JsonObj, float, str], None],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> None:
        self._api, self._res, self._on = api, res, on_object
        self._namespace, self._selector = namespace, label_selector
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        await self.synced.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                listed = await self._api.list(self._res, self._namespace, label_selector=self._selector)
                now = time.monotonic()
                for obj in listed.items:
                    self._on(obj, now, "LISTED")
                self.synced.set()
                rv = listed.resource_version
                while True:
                    async for event in self._api.watch(
                        self._res, self._namespace, resource_version=rv, label_selector=self._selector,
                        timeout_seconds=300,
                    ):  # fmt: skip
                        rv = event.object["metadata"]["resourceVersion"]
                        if event.type != "BOOKMARK":
                            self._on(event.object, time.monotonic(), event.type)
            except Gone:
                continue
            except ApiError:
                await asyncio.sleep(0.5)


def run_phase(run: JsonObj) -> str | None:
    """``Succeeded``/``Failed`` once completed, ``Running`` while running, else ``None``."""
    conds = (run.get("status") or {}).get("conditions")
    done = c.find(conds, c.COMPLETED)
    if done is not None and done.get("status") == "True":
        return "Succeeded" if done.get("reason") == c.R_SUCCEEDED else "Failed"
    return "Running" if c.is_true(conds, c.RUNNING) else None


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def spread(values: Iterable[float], unit: float = 1000.0, suffix: str = "ms") -> str:
    """``n=.. p50=.. p90=.. p99=.. max=..`` in ``suffix`` (values in seconds times ``unit``)."""
    vals = [v * unit for v in values]
    if not vals:
        return "n=0"
    p50, p90, p99 = (percentile(vals, q) for q in (0.5, 0.9, 0.99))
    top = max(vals)
    u = suffix
    return f"n={len(vals)} p50={p50:.0f}{u} p90={p90:.0f}{u} p99={p99:.0f}{u} max={top:.0f}{u}"
