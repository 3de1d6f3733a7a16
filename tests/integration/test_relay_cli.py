"""The standalone deployment shape, with the real CLI: `choreo-controller gateway` against the control plane,
`choreo-controller agent` against the build plane (each its own process), a controller in the test process
reaching the build plane through the gateway's internal API. SIGTERM stops both cleanly."""

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from localcluster.pki import CA, cert_pem, write_pair
from localcluster.process import free_port
from relayharness import Pki
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.kube import KubeClient
from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.remote import RemoteRelayTransport
from choreo_controller.relay.tls import agent_context

pytestmark = pytest.mark.cluster
#: The entry point installed beside the interpreter running the tests (CI runs .venv/bin/python without
#: activating the venv, so PATH has no choreo-controller).
CLI = str(Path(sys.executable).parent / "choreo-controller")


def start(*args, log):
    command = [CLI, *args, "--log-level=info"]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own CLI


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=20)


async def test_gateway_and_agent_processes(tmp_path, control_plane, build_plane):
    pki = Pki(tmp_path)
    plane_id = f"cli-{uuid.uuid4().hex[:6]}"
    namespace = f"tenant-{plane_id}"
    controllers = CA.new("controllers")
    controllers.write(tmp_path, "controllers")
    controller_pair = write_pair(tmp_path, "controller", *controllers.issue("controller", client=True))
    agent_pair = pki.agent(plane_id)
    ports = {
        "agents": free_port(),
        "internal": free_port(),
        "gw-probes": free_port(),
        "agent-probes": free_port(),
    }
    async with kube.connect(control_plane.kubeconfig) as control:
        await control.create(
            resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        await control.create(resources.BUILD_PLANE, {
            "apiVersion": "openchoreo.dev/v1alpha1", "kind": "BuildPlane",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": {"planeID": plane_id,
                     "clusterAgent": {"clientCA": {"value": cert_pem(pki.plane_ca(plane_id).cert).decode()}}}})  # fmt: skip
        with (
            (tmp_path / "gateway.log").open("wb") as gw_log,
            (tmp_path / "agent.log").open("wb") as agent_log,
        ):
            gateway = start(
                "gateway", f"--tls-cert={pki.server[0]}", f"--tls-key={pki.server[1]}",
                f"--listen=127.0.0.1:{ports['agents']}", f"--kubeconfig={control_plane.kubeconfig}",
                f"--internal-client-ca={tmp_path / 'controllers.crt'}", f"--internal-listen=127.0.0.1:{ports['internal']}",
                f"--probe-listen=127.0.0.1:{ports['gw-probes']}", log=gw_log,
            )  # fmt: skip
            agent = start(
                "agent", f"--gateway-url=wss://localhost:{ports['agents']}/v1/agent",
                f"--gateway-ca={pki.gateway_ca_file}", f"--tls-cert={agent_pair[0]}", f"--tls-key={agent_pair[1]}",
                f"--kubeconfig={build_plane.kubeconfig}", f"--probe-listen=127.0.0.1:{ports['agent-probes']}",
                "--name=cli-agent", log=agent_log,
            )  # fmt: skip
            codes = {}
            try:

                async def connected():
                    obj = await control.get(resources.BUILD_PLANE, "default", namespace)
                    return ((obj.get("status") or {}).get("agentConnection") or {}).get("connected")

                assert await async_wait_for("the agent to connect", connected, within=60)
                ctx = agent_context(pki.gateway_ca_file, *controller_pair)
                ref = PlaneRef("BuildPlane", namespace, "default")
                transport = RemoteRelayTransport(
                    f"https://localhost:{ports['internal']}", plane_id, ctx, plane=ref
                )
                async with KubeClient(transport) as api:
                    build_ns = f"openchoreo-ci-{plane_id}"
                    created = await api.create(resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace",
                                                                     "metadata": {"name": build_ns}})  # fmt: skip
                    assert build_ns == (await api.get(resources.NAMESPACE, build_ns))["metadata"]["name"]
                    assert created["metadata"]["uid"]
            finally:
                codes["agent"] = await asyncio.to_thread(stop, agent)
                codes["gateway"] = await asyncio.to_thread(stop, gateway)
        await control.delete(resources.NAMESPACE, namespace)
    logs = (tmp_path / "gateway.log").read_text() + (tmp_path / "agent.log").read_text()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {"agent": 0, "gateway": 0} == codes
    assert {"agent connected", "relay connected", "gateway stopping", "agent stopping"} <= {
        line["event"] for line in lines
    }
    await asyncio.to_thread(
        build_plane.kubectl, "delete", "namespace", f"openchoreo-ci-{plane_id}", "--wait=false"
    )
