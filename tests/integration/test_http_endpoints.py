"""``/healthz``, ``/readyz`` and ``/metrics`` scraped over real HTTP from a running manager (real apiserver,
leader election on, one controller), on 127.0.0.1 with a free port."""

import asyncio
import time
import uuid

import aiohttp
import pytest
from gatedapi import GatedApi
from prometheus_client.parser import text_string_to_metric_families
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.contracts import Result
from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.endpoints import HttpServer
from choreo_controller.runtime.handlers import enqueue
from choreo_controller.runtime.leader import LeaderConfig
from choreo_controller.runtime.manager import Manager

pytestmark = pytest.mark.cluster


class Counting:
    def __init__(self):
        self.count = 0

    async def reconcile(self, _key):
        self.count += 1
        return Result()


@pytest.fixture
async def api(control_plane):
    async with kube.connect(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"http-{uuid.uuid4().hex[:8]}"
    await api.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one", "namespace": name}}
    await api.create(resources.CONFIG_MAP, cm)
    yield name
    await api.delete(resources.NAMESPACE, name)


async def get(session, url, **headers):
    async with session.get(url, headers=headers) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.text()


async def test_probes_and_metrics_over_http(api, namespace):
    gate = GatedApi(api)
    gate.close()  # hold the informer's first LIST: the cache is not synced yet
    election = LeaderConfig("http-test", namespace, "me")
    manager = Manager(
        gate, clock=RealClock(), metrics=Metrics(), leader_election=election, lease_api=api, lag_bound=0.3
    )
    informer = manager.add_informer(resources.CONFIG_MAP, namespace=namespace)
    reconciler = Counting()
    controller = manager.new_controller("probe", reconciler)
    informer.add_handler(enqueue(controller.queue))
    manager.add_controller(controller)
    server = HttpServer(
        manager.metrics,
        health=manager.health_problems,
        ready=manager.ready_problems,
        host="127.0.0.1",
        port=0,
    )
    manager.add_runnable("http", server.run)

    run = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(server.wait_started(), 10)
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            not_ready = await get(session, f"{base}/readyz")
            gate.open()
            await async_wait_for("ready", lambda: _ok(session, f"{base}/readyz"), within=30)
            ready = await get(session, f"{base}/readyz")
            await async_wait_for("a reconcile", lambda: _value(reconciler.count), within=30)
            healthy = await get(session, f"{base}/healthz")

            # The point: a stalled event loop. The monitor beats every 0.25 s, so a 0.8 s stall shows a lag of at
            # least 0.55 s, over the 0.3 s bound wherever in a beat it starts (0.5 s could show 0.25 s), and stays
            # under the 2 s blocking check of conftest.py.
            time.sleep(0.8)  # noqa: ASYNC251
            stalled = await get(session, f"{base}/healthz")
            await async_wait_for("healthy again", lambda: _ok(session, f"{base}/healthz"), within=10)

            text = await get(session, f"{base}/metrics")
            openmetrics = await get(session, f"{base}/metrics", Accept="application/openmetrics-text")
    finally:
        manager.stop()
        await run

    assert (503, "text/plain; charset=utf-8") == not_ready[:2]
    assert "[-]informer configmaps: not synced\n" in not_ready[2]
    assert (200, "ok\n") == (ready[0], ready[2])
    assert (200, "ok\n") == (healthy[0], healthy[2])
    assert 503 == stalled[0]
    assert stalled[2].startswith("[-]event loop lag ")

    assert (200, "text/plain; version=0.0.4; charset=utf-8") == text[:2]  # Prometheus' classic format
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text[2])
        for s in family.samples
    }
    assert (
        samples[("controller_runtime_reconcile_total", (("controller", "probe"), ("result", "success")))] >= 1
    )
    assert samples[("workqueue_adds_total", (("controller", "probe"), ("name", "probe")))] >= 1
    lag_count = samples[("choreo_event_loop_lag_seconds_count", ())]
    assert samples[("choreo_event_loop_lag_seconds_bucket", (("le", "0.25"),))] < lag_count  # the stall
    assert 200 == openmetrics[0]
    assert openmetrics[1].startswith("application/openmetrics-text")
    assert openmetrics[2].endswith("# EOF\n")


async def _ok(session, url):
    async with session.get(url) as resp:
        return resp.status == 200


async def _value(value):
    return value
