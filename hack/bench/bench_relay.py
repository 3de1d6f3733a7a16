#!/usr/bin/env python3
"""Benchmark: the relay against a direct apiserver call, in one run, on loopback.

Setup (all real): a build plane from hack/localcluster (etcd + kube-apiserver + Argo/ESO CRDs; or
--kubeconfig for one you already have), an Argo Workflow in openchoreo-ci-bench carrying a 4 KiB
annotation (a run object, which the relay's allowlist serves get and patch on; each GET returns
~4.5 KiB), the gateway embedded in this process (as with
`controller --embedded-gateway`) and the agent as its own process (`choreo-controller agent`, mTLS, the
real CLI) talking to the same apiserver.

  direct: KubeClient(ApiClientTransport) -> kube-apiserver
  relay:  KubeClient(RelayTransport) -> gateway -> websocket (one connection, TLS) -> agent -> kube-apiserver

Latency: --requests sequential GETs, direct and relay interleaved (so drift hits both alike); "added" is
relay minus direct at the same percentile. Throughput: --requests GETs with --concurrency in flight, each
path on its own. A 4 KiB merge patch (request body) is measured the same way.

--memory-agent runs the agent process with an in-memory apiserver stand-in (every call answered with the
same ~4.5 KiB object, no HTTP): what is left is the relay alone - gateway, one TLS websocket, agent - so
its requests/s is the relay's own capacity; "direct" then still calls the real apiserver, for scale.

--fake swaps the apiserver for a small aiohttp server in its own process that answers every GET/PATCH
with the same ~4.5 KiB object (clearly labelled in the output): it isolates what the relay itself costs
from the apiserver's own CPU, which on a 2-core machine dominates both paths.

Usage: hack/bench/bench_relay.py [--requests N] [--concurrency C] [--kubeconfig PATH | --fake]
                                 [--memory-agent]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_seconds
from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for localcluster, next to bench/
from localcluster import start_build_plane
from localcluster.pki import CA, write_pair
from localcluster.process import free_port

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.contracts import ApiError, ApiRequest, ApiResponse
from choreo_controller.relay.agent import Agent, AgentConfig
from choreo_controller.relay.executor import Executor
from choreo_controller.relay.gateway import Gateway, GatewayConfig
from choreo_controller.relay.identity import URI_PREFIX, PlaneRecord, PlaneRef
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.relay.tls import agent_context

NS = "openchoreo-ci-bench"
KIND = resources.ARGO_WORKFLOW
PAYLOAD = "x" * 4096
REF = PlaneRef("BuildPlane", "bench", "bench")


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise SystemExit("the fake apiserver did not start")


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def run_object(name: str) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": NS, "annotations": {"bench/payload": PAYLOAD}},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "bench"}}]},
    }


async def prepare(direct: kube.KubeClient) -> None:  # type: ignore[type-arg]
    with contextlib.suppress(ApiError):
        await direct.create(
            resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
        )
    for name in ("bench", "bench-patch"):
        with contextlib.suppress(ApiError):
            await direct.create(KIND, run_object(name))


def pki(workdir: Path) -> dict[str, Path]:
    gateway_ca, agent_ca = CA.new("bench-gateway-ca"), CA.new("bench-agent-ca")
    files = {"gateway_ca": gateway_ca.write(workdir, "gateway-ca")[0]}
    files["server_crt"], files["server_key"] = write_pair(
        workdir, "gateway", *gateway_ca.issue("gateway", ips=("127.0.0.1",), server=True)
    )
    files["agent_crt"], files["agent_key"] = write_pair(
        workdir, "agent", *agent_ca.issue("agent", uris=(URI_PREFIX + "bench",), client=True)
    )
    files["agent_ca"] = agent_ca.write(workdir, "agent-ca")[0]
    return files


async def sequential(direct, relay, n: int, op) -> tuple[list[float], list[float]]:  # noqa: ANN001
    d, r = [], []
    for _ in range(n):
        for client, into in ((direct, d), (relay, r)):
            started = time.perf_counter()
            await op(client)
            into.append(time.perf_counter() - started)
    return d, r


async def throughput(client, n: int, concurrency: int, op, pids: dict[str, int | None]):  # noqa: ANN001, ANN201
    """Requests/s, and CPU milliseconds per request of each process in ``pids``."""
    remaining = iter(range(n))

    async def worker() -> None:
        for _ in remaining:
            await op(client)

    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rps = n / (time.perf_counter() - started)
    cpu = {name: (cpu_seconds(pid) - before[name]) * 1000 / n for name, pid in pids.items()}
    return rps, cpu


def report(name: str, d: list[float], r: list[float], direct: tuple, relay: tuple, *, memory: bool) -> None:  # type: ignore[type-arg]
    ms = 1000.0
    (d_rps, d_cpu), (r_rps, r_cpu) = direct, relay
    for label, samples, rps in (("direct", d, d_rps), ("relay", r, r_rps)):
        p50, p99 = percentile(samples, 50) * ms, percentile(samples, 99) * ms
        print(f"  {name:<6} {label:<7} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  {rps:7.0f} req/s")
    cpu = ", ".join(f"{k} {v:.2f} ms" for k, v in r_cpu.items() if v)
    if memory:  # every microsecond of the relay path is relay: there is nothing to subtract
        print(f"  {name:<6} relay alone: CPU per request {cpu}")
        return
    print(f"  {name:<6} added   p50 {(percentile(r, 50) - percentile(d, 50)) * ms:6.2f} ms  "
          f"p99 {(percentile(r, 99) - percentile(d, 99)) * ms:6.2f} ms")  # fmt: skip
    direct_cpu = ", ".join(f"{k} {v:.2f} ms" for k, v in d_cpu.items() if v)
    print(f"  {name:<6} CPU per request: direct {direct_cpu} | relay {cpu}")


async def run(args: argparse.Namespace, kubeconfig: Path, workdir: Path, server_pid: int | None) -> None:
    files = pki(workdir)
    anchor = x509.load_pem_x509_certificate(files["agent_ca"].read_bytes())
    directory = PlaneDirectory([PlaneRecord(REF, "bench", (anchor,))])
    config = GatewayConfig(files["server_crt"], files["server_key"], host="127.0.0.1", port=0)
    gateway = Gateway(config, directory=directory)
    await gateway.start()
    agent_args = [
        f"--gateway-url=wss://127.0.0.1:{gateway.port}/v1/agent", f"--gateway-ca={files['gateway_ca']}",
        f"--tls-cert={files['agent_crt']}", f"--tls-key={files['agent_key']}",
    ]  # fmt: skip
    if args.memory_agent:
        command = [sys.executable, __file__, "--serve-memory-agent", *agent_args]
    else:
        cli = str(Path(sys.executable).parent / "choreo-controller")
        command = [cli, "agent", *agent_args, f"--kubeconfig={kubeconfig}", "--probe-listen=127.0.0.1:0",
                   "--log-level=warning", "--name=bench-agent"]  # fmt: skip
    agent = subprocess.Popen(command)  # noqa: ASYNC220 - started once, before measuring
    try:
        if await gateway.registry.wait_pick("bench", REF, 30) is None:
            raise SystemExit("the agent did not connect")
        async with kube.connect(kubeconfig) as direct:
            await prepare(direct)
            relay = gateway.kube_api("bench", REF)
            patch_body = {"metadata": {"annotations": {"bench/payload": PAYLOAD}}}

            async def get(client) -> None:  # noqa: ANN001
                await client.get(KIND, "bench", NS)

            async def patch(client) -> None:  # noqa: ANN001
                await client.merge_patch(KIND, "bench-patch", patch_body, namespace=NS)

            body = len((await direct.transport.request(ApiRequest("GET", KIND.path(NS, "bench")))).body)
            server = "FAKE apiserver (aiohttp stand-in)" if args.fake else "real kube-apiserver"
            if args.memory_agent:
                server += " for direct; the agent answers from MEMORY (relay alone)"
            shape = f"{args.requests} requests, concurrency {args.concurrency}, one relay connection"
            print(f"{server} on loopback; GET response {body} bytes, 4 KiB patch bodies; {shape}")
            pids = {"controller+gateway": None, "agent": agent.pid}
            if server_pid:
                pids["apiserver"] = server_pid
            await sequential(direct, relay, 200, get)  # warm up both paths
            for name, op, count in (
                ("get", get, args.requests),
                ("patch", patch, max(200, args.requests // 5)),
            ):
                d, r = await sequential(direct, relay, count, op)
                direct_figures = await throughput(direct, count, args.concurrency, op, pids)
                relay_figures = await throughput(relay, count, args.concurrency, op, pids)
                report(name, d, r, direct_figures, relay_figures, memory=args.memory_agent)
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        await gateway.stop()


FAKE_OBJECT = run_object("bench")


def serve_fake(port: int) -> None:
    """A stand-in apiserver: every GET and PATCH returns the same ~4.5 KiB object, POST says 201."""
    from aiohttp import web  # noqa: PLC0415

    body = json.dumps(
        {**FAKE_OBJECT, "metadata": {**FAKE_OBJECT["metadata"], "resourceVersion": "1"}}
    ).encode()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(
            body=body, status=201 if request.method == "POST" else 200, content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def fake_kubeconfig(workdir: Path, port: int) -> Path:
    path = workdir / "fake.kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "fake", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
    }))  # fmt: skip
    return path


class MemoryApiserver:
    """``contracts.Transport`` answering every request with the benchmark object, without any IO."""

    def __init__(self) -> None:
        obj = {**FAKE_OBJECT, "metadata": {**FAKE_OBJECT["metadata"], "resourceVersion": "1"}}
        self._response = ApiResponse(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    async def request(self, req: ApiRequest) -> ApiResponse:  # noqa: ARG002 - one answer for all
        return self._response

    async def stream(self, req: ApiRequest):  # noqa: ANN201, ARG002 - watches are not benchmarked
        raise NotImplementedError
        yield b""

    async def close(self) -> None:
        pass


def serve_memory_agent(argv: list[str]) -> None:
    """The agent, as `choreo-controller agent` runs it, but over ``MemoryApiserver``."""
    opts = dict(a.removeprefix("--").split("=", 1) for a in argv)
    config = AgentConfig(opts["gateway-url"], name="bench-memory-agent")
    context = agent_context(opts["gateway-ca"], opts["tls-cert"], opts["tls-key"])
    asyncio.run(Agent(config, context, Executor(MemoryApiserver())).run())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--kubeconfig", type=Path, help="use this build plane instead of starting one")
    parser.add_argument("--fake", action="store_true", help="a stand-in apiserver instead of a real one")
    parser.add_argument("--memory-agent", action="store_true", help="agent answers from memory (relay alone)")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-memory-agent", action="store_true", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.serve_memory_agent:
        serve_memory_agent(rest)
        return 0
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    plane = fake = None
    kubeconfig = args.kubeconfig
    if args.fake:
        port = free_port()
        fake = subprocess.Popen([sys.executable, __file__, f"--serve-fake={port}"])
        kubeconfig = fake_kubeconfig(workdir, port)
        wait_listening(port)
    elif kubeconfig is None:
        print("starting a build plane (hack/localcluster)...", file=sys.stderr)
        plane = start_build_plane(workdir / "plane", "bench-plane")
        kubeconfig = plane.kubeconfig
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    try:
        server_pid = fake.pid if fake else (plane.procs["kube-apiserver"].popen.pid if plane else None)
        asyncio.run(run(args, kubeconfig, workdir, server_pid))
    finally:
        if plane is not None:
            plane.stop()
        if fake is not None:
            fake.terminate()
            fake.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
