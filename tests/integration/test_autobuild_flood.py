"""Relay-review finding 1: an unauthenticated webhook flood must not slow the reconcilers.

Before, every delivery carrying a provider header cost a Secret GET through the rate-limited client the
reconcilers share, before the signature was checked: 3,000 unsigned POSTs pushed reconciler GET latency
from 1.2 ms to 2 s. Now the Secret is read from a watched cache, so an unsigned request costs the
apiserver nothing. Here the receiver shares one event loop and the controller's own client (50 qps, burst
100) with a "reconciler" that GETs in a loop; 1,000 unsigned deliveries come from another process, 100 at
a time - once with the receiver's production limits (per-source connection cap and rate), once with them
off so that every delivery reaches the signature check. The figures are printed (``-s``).
"""

import asyncio
import json
import statistics
import sys
import time
import uuid
from asyncio.subprocess import PIPE

import pytest
from gitpayloads import body_of, github_push

from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import LIMITS, PATH, AutoBuildServer
from choreo_controller.kube.config import connect
from choreo_controller.runtime.listener import ListenerLimits

pytestmark = pytest.mark.cluster
FLOOD, CONCURRENT = 1000, 100


class CountingApi:
    """The controller's client, counting the Secret reads made through it."""

    def __init__(self, api):
        self._api, self.secret_reads = api, 0

    def __getattr__(self, name):
        return getattr(self._api, name)

    async def get(self, res, name, namespace=None):
        self.secret_reads += res.kind == "Secret"
        return await self._api.get(res, name, namespace)


FLOODER = """
import asyncio, collections, json, os, sys
import aiohttp

os.nice(19)  # the attacker's CPU is not ours: on this shared machine it must not slow the apiserver
print("ready", flush=True)
body = bytes.fromhex(sys.stdin.readline().strip())

async def main(port, body):
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64}
    outcomes = collections.Counter()
    gate = asyncio.Semaphore(%(concurrent)d)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=%(concurrent)d)) as http:
        async def one():
            async with gate:
                try:
                    async with http.post(f"http://127.0.0.1:{port}%(path)s", data=body, headers=headers) as resp:
                        outcomes[str(resp.status)] += 1
                except aiohttp.ClientError:
                    outcomes["refused"] += 1
        await asyncio.gather(*(one() for _ in range(%(flood)d)))
    print(json.dumps(outcomes))

asyncio.run(main(int(sys.argv[1]), body))
"""
FLOODER = FLOODER.replace("%(concurrent)d", str(CONCURRENT)).replace("%(flood)d", str(FLOOD))
FLOODER = FLOODER.replace("%(path)s", PATH)


async def _flooder(port):
    """The attacker is another process (started and ready before the measurement begins)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOODER, str(port), stdin=PIPE, stdout=PIPE
    )
    assert b"ready\n" == await asyncio.wait_for(proc.stdout.readline(), 60)
    return proc


async def _flood(proc):
    out, _ = await proc.communicate(body_of(github_push("acme", "shop")).hex().encode() + b"\n")
    assert 0 == proc.returncode
    return json.loads(out)


async def _reconcile_gets(api, namespace, stop, latencies):
    while not stop.is_set():
        started = time.perf_counter()
        await api.get(r.NAMESPACE, namespace)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    ("limits", "added_bound"),
    [
        pytest.param(LIMITS, 0.100, id="production-limits"),
        # Every delivery reaches the signature check: no Secret read, but the HMACs and HTTP handling of 100
        # concurrent requests share the reconcilers' event loop, so only the 0 reads are asserted here.
        pytest.param(
            ListenerLimits(max_connections=1024, per_source=1024, rate=0), None, id="no-per-source-limits"
        ),
    ],
)
@pytest.mark.timeout(300)
async def test_an_unsigned_flood_leaves_reconciler_gets_fast(control_plane, limits, added_bound):
    namespace = f"flood-{uuid.uuid4().hex[:8]}"
    async with connect(control_plane.kubeconfig, qps=50, burst=100) as shared:
        await shared.create(
            r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        api = CountingApi(shared)
        server = AutoBuildServer.create(
            api, host="127.0.0.1", port=0, secret_namespace=namespace, limits=limits
        )
        serving = asyncio.create_task(server.run(), name="autobuild-server")
        try:
            await asyncio.wait_for(server.wait_started(), 30)
            flooder = await _flooder(server.port)
            quiet: list[float] = []
            stop = asyncio.Event()
            baseline = asyncio.create_task(_reconcile_gets(shared, namespace, stop, quiet))
            await asyncio.sleep(1.0)  # the quiet baseline: a second of reconciler GETs
            stop.set()
            await baseline
            busy: list[float] = []
            stop = asyncio.Event()
            reconciler = asyncio.create_task(_reconcile_gets(shared, namespace, stop, busy))
            outcomes = await _flood(flooder)
            stop.set()
            await reconciler
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await shared.delete(r.NAMESPACE, namespace)

    p50, p99 = (statistics.quantiles(busy, n=100)[i] * 1000 for i in (49, 98))
    print(  # noqa: T201 - the figure this test measures
        f"\nflood of {FLOOD} unsigned deliveries, {CONCURRENT} concurrent: reconciler GET "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(busy) * 1000:.1f} ms over {len(busy)} GETs "
        f"(quiet p50 {statistics.median(quiet) * 1000:.1f} ms); receiver Secret reads: {api.secret_reads}; "
        f"answers {dict(outcomes)}"
    )
    assert FLOOD == sum(outcomes.values())
    assert set(outcomes) <= {"401", "429", "refused"}
    assert 0 == api.secret_reads
    if added_bound is not None:
        # What the flood adds to the quiet median: the machine is shared (other suites move both figures, and
        # its p99 by hundreds of milliseconds), so the median is asserted; p99 and max are printed above.
        assert (p50 - statistics.median(quiet) * 1000) < added_bound * 1000
