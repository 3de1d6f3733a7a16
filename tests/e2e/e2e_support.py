"""End-to-end helpers: the real controller process on the two session planes, and a per-test ``World``.

* ``controller`` - ``choreo-controller controller`` started through the CLI as a child process
  (``localcluster.Proc``: restartable, killable with SIGKILL), debug logs to a file, ``/metrics`` and
  ``/readyz`` on a free port; one per mode for the session (``direct`` here, ``relay`` in ``e2e_relay``).
  ``reconciles(key)`` counts the reconciles of one run from its log (the controller logs exactly one
  outcome line per reconcile), so tests can prove there is no hot loop.
* ``e2e_templates`` (session) - kwok-friendly ClusterWorkflowTemplates in the build plane standing in for
  the sample's three steps (checkout, build, publish): same names with an ``e2e-`` prefix, no output
  parameters (kwok runs no executor, so Argo would wait forever for outputs) and two inputs, ``delay``
  (how long kwok keeps the pod running) and ``fail`` (``"true"``: the step's main container exits 1).
* ``world`` (function) - clients for both planes and a fresh namespace; helpers to create the sample
  Workflow (``docker_workflow``), runs, and to wait on conditions. Tests share the planes and the
  controller; each one works in its own namespace.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from localcluster.inventory import labelled_with, objects_in
from localcluster.process import Proc, free_port, wait_until

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import NotFound
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import EventHandler
from choreo_controller.runtime.informer import Informer

REPO = Path(__file__).resolve().parents[2]
MODES = ("direct", "relay")
#: Run a test (module: ``pytestmark``) in both build-plane modes; ids ``[direct]`` and ``[relay]``.
BOTH_MODES = pytest.mark.parametrize("controller", MODES, indirect=True)
SAMPLE_WORKFLOW = REPO / "manifests" / "samples" / "workflow-docker.yaml"
OUTCOMES = ('"event": "reconciled"', '"event": "reconcile failed', '"event": "reconcile crashed"')
STEP_INPUTS = {"checkout-source": [], "docker": ["git-revision"], "publish-image": ["image-digest"]}
CWT = """
apiVersion: argoproj.io/v1alpha1
kind: ClusterWorkflowTemplate
metadata: {{name: e2e-{name}}}
spec:
  templates:
  - name: {template}
    inputs:
      parameters: [{inputs}{{name: delay, value: "1s"}}, {{name: fail, value: "false"}}]
    metadata:
      annotations:
        pod-complete.stage.kwok.x-k8s.io/delay: "{{{{inputs.parameters.delay}}}}"
        kwok.choreo.dev/fail: "{{{{inputs.parameters.fail}}}}"
    container: {{image: "{image}", command: [sh, -c, "echo {template} {{{{workflow.parameters.git-repo}}}}"]}}
"""
TEMPLATES = {
    "checkout-source": ("checkout", "alpine/git:2.45.2"),
    "docker": ("build-image", "quay.io/buildah/stable:v1.37"),
    "publish-image": ("publish-image", "quay.io/skopeo/stable:v1.16"),
}


class Controller:
    """The controller under test, as a child process; direct mode unless ``build_planes`` says otherwise."""

    mode = "direct"
    client_ca = "unused-in-direct-mode"  # what the tests' BuildPlanes carry as spec.clusterAgent.clientCA

    def __init__(
        self,
        control_plane,
        build_plane,
        logdir: Path,
        *,
        build_planes: list[str] | None = None,
        kubeconfig: Path | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        argv = [
            str(Path(sys.executable).parent / "choreo-controller"), "controller",
            f"--kubeconfig={kubeconfig or control_plane.kubeconfig}",
            *(build_planes or [f"--build-plane-kubeconfig={build_plane.kubeconfig}"]),
            f"--metrics-bind-address=127.0.0.1:{self.port}", "--health-probe-bind-address=0",
            "--log-level=debug", "--workers=4", "--sweep-interval=20", "--sweep-min-age=2", *extra,
        ]  # fmt: skip
        self.proc = Proc("choreo-controller", argv, logdir, env={"PYTHONUNBUFFERED": "1"})
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc.running

    def tails(self, lines: int = 60) -> list[tuple[str, str]]:
        """Log tails for a failure report."""
        return [("controller log (tail)", self.proc.tail(lines))]

    @property
    def log(self) -> Path:
        return self.proc.log

    def start(self, *, wait: bool = True) -> None:
        self.proc.start()
        self.starts += 1
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"
        wait_until(
            "controller /readyz", lambda: http_ok(url), timeout=timeout, procs=(self.proc,), interval=0.1
        )

    def kill(self) -> None:
        """SIGKILL: no graceful anything."""
        self.proc.kill()

    def stop(self) -> None:
        self.proc.stop()

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def logged(self, event: str) -> int:
        """How many log lines (all process lifetimes) carry the event ``event``."""
        with self.log.open(errors="replace") as lines:
            return sum(f'"event": "{event}"' in line for line in lines)

    def reconciles(self, namespace: str, name: str) -> int:
        """How many WorkflowRun reconciles of ``namespace/name`` the log shows (all process lifetimes)."""
        key = f'"key": "{namespace}/{name}"'
        with self.log.open(errors="replace") as lines:
            return sum(
                1
                for line in lines
                if key in line and '"controller": "workflowrun"' in line and any(o in line for o in OUTCOMES)
            )

    async def restarted(self, within: float = 60.0) -> None:
        """Start again without blocking the event loop; return once ``/readyz`` answers 200."""
        self.start(wait=False)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.proc.check_alive()
            if await asyncio.to_thread(http_ok, f"http://127.0.0.1:{self.port}/readyz"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"controller not ready {within:.0f}s after a restart")

    def http(self, path: str) -> str:
        """GET ``/metrics``, ``/readyz`` or ``/healthz``; raises ``OSError`` (``HTTPError``) if not 200."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            return resp.read().decode()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            return bool(resp.status == 200)
    except OSError:
        return False


def docker_workflow(
    namespace: str,
    *,
    steps: dict[str, dict[str, str]] | None = None,
    ttl: str | None = None,
    concurrency: dict[str, str] | None = None,
):
    """The sample Docker Workflow, unchanged except that its three steps run the kwok-friendly templates.

    ``steps`` sets step inputs by step name, e.g. ``{"build-image": {"fail": "true"}}``. Step arguments that
    read the previous step's outputs get a fixed value (kwok produces no outputs). ``concurrency``: its
    ``spec.concurrency``.
    """
    wf = yaml.safe_load(SAMPLE_WORKFLOW.read_text())
    wf["metadata"]["namespace"] = namespace
    if ttl is not None:
        wf["spec"]["ttlAfterCompletion"] = ttl
    if concurrency is not None:
        wf["spec"]["concurrency"] = concurrency
    for group in wf["spec"]["runTemplate"]["spec"]["templates"][0]["steps"]:
        for step in group:
            step["templateRef"]["name"] = "e2e-" + step["templateRef"]["name"]
            params = [
                {"name": p["name"], "value": "kwok"}
                for p in (step.get("arguments") or {}).get("parameters", [])
            ]
            params += [{"name": k, "value": v} for k, v in (steps or {}).get(step["name"], {}).items()]
            step["arguments"] = {"parameters": params}
    return wf


def with_resource(namespace: str, template: dict, **kw) -> dict:
    """``docker_workflow`` with one more extra resource (``id: extra``) rendered from ``template``."""
    wf = docker_workflow(namespace, **kw)
    wf["spec"].setdefault("resources", []).append({"id": "extra", "template": template})
    return wf


#: An extra resource of a kind besides Argo's and ESO's: a ConfigMap per run.
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${metadata.workflowRunName}-settings"},
             "data": {"branch": "${parameters.repository.revision.branch}"}}  # fmt: skip
#: Run parameters without ``secretRef``: the sample renders no ExternalSecret then.
NO_SECRET = {"repository": {"url": "https://github.com/acme/payments", "revision": {"branch": "main"},
                            "appPath": "services/payments"}}  # fmt: skip


async def inventory(build_plane, world, uids: set[str]) -> list[tuple[str, str, str]]:
    """``(kind, namespace/name, uid)`` of objects of *any* kind the build plane serves (not only the engine's
    table) in the world's build namespace, labelled with one of ``uids`` and not being deleted."""
    found = await asyncio.to_thread(objects_in, build_plane, (world.build_namespace,))
    return labelled_with(found, uids)


def run_object(
    namespace: str, name: str, *, workflow: str = "docker", parameters=None, ttl=None, annotations=None
):
    params = parameters if parameters is not None else {
        "repository": {"url": "https://github.com/acme/payments", "revision": {"branch": "main"},
                       "appPath": "services/payments", "secretRef": "git"},
    }  # fmt: skip
    obj = {
        "apiVersion": r.API_VERSION,
        "kind": "WorkflowRun",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"workflow": {"name": workflow, "parameters": params}},
    }
    if ttl is not None:
        obj["spec"]["ttlAfterCompletion"] = ttl
    return obj


def completed(run) -> tuple[str, str] | None:
    """``(status, reason)`` of WorkflowCompleted."""
    cond = c.find((run.get("status") or {}).get("conditions"), c.COMPLETED)
    return None if cond is None else (cond["status"], cond["reason"])


async def watch_reasons(world, name, until_completed=True, within=90.0):
    """The sequence of distinct WorkflowCompleted reasons a watch on the run observes."""
    listed = await world.cp.list(r.WORKFLOW_RUN, world.namespace, field_selector=f"metadata.name={name}")
    seen: list[str] = []
    last = None

    async def follow():
        nonlocal last
        rv = listed.resource_version
        while True:
            watch = world.cp.watch(
                r.WORKFLOW_RUN, world.namespace, resource_version=rv, field_selector=f"metadata.name={name}"
            )
            # aclosing: a return closes the stream now, not when the generator is collected
            async with contextlib.aclosing(watch):
                async for event in watch:
                    if event.type == "BOOKMARK":
                        continue
                    rv = event.object["metadata"]["resourceVersion"]
                    last = event.object
                    state = completed(event.object)
                    if state is not None and (not seen or seen[-1] != state[1]):
                        seen.append(state[1])
                    if until_completed and state is not None and state[0] == "True":
                        return

    return follow, seen, lambda: last


class World:
    """One test's view: both planes, its own namespace, helpers that wait with deadlines."""

    def __init__(self, cp, bp, namespace: str, *, client_ca: str = Controller.client_ca) -> None:
        self.cp, self.bp, self.namespace = cp, bp, namespace
        self.build_namespace = f"openchoreo-ci-{namespace}"
        self.client_ca = client_ca  # the agents' CA in relay mode

    async def setup(
        self, *, build_plane: bool = True, secret_reference: bool = True, store: str = "openbao"
    ) -> None:
        await self.cp.create(
            r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        )
        if build_plane:
            await self.create_build_plane(store)
        if secret_reference:
            await self.cp.create(r.SECRET_REFERENCE, {
                "apiVersion": r.API_VERSION, "kind": "SecretReference",
                "metadata": {"name": "git", "namespace": self.namespace},
                "spec": {"template": {"type": "kubernetes.io/basic-auth"}, "data": [
                    {"secretKey": "username", "remoteRef": {"key": "git/acme", "property": "username"}},
                    {"secretKey": "password", "remoteRef": {"key": "git/acme", "property": "token"}}]},
            })  # fmt: skip

    async def create_build_plane(self, store: str = "openbao") -> None:
        await self.cp.create(r.BUILD_PLANE, {
            "apiVersion": r.API_VERSION, "kind": "BuildPlane", "metadata": {"name": "default", "namespace": self.namespace},
            "spec": {"planeID": "default", "clusterAgent": {"clientCA": {"value": self.client_ca}},
                     "secretStoreRef": {"name": store}},
        })  # fmt: skip

    async def workflow(self, **kw) -> dict:
        """Create the sample Workflow and wait for its ``Ready`` condition: the controller's cache holds it.

        Without the wait, a run created right after could be reconciled before the Workflow reaches the
        controller's cache (two watches, no order between them): it would fail ``WorkflowResolutionFailed``
        and be revived a moment later - correct, but not the sequence a lifecycle test asserts.
        """
        return await self.ready(
            r.WORKFLOW, await self.cp.create(r.WORKFLOW, docker_workflow(self.namespace, **kw))
        )

    async def ready(self, resource, created: dict) -> dict:
        """Wait for ``created`` (a Workflow or ClusterWorkflow) to have its ``Ready`` condition."""
        name, namespace = created["metadata"]["name"], created["metadata"].get("namespace")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            wf = await self.cp.get(resource, name, namespace)
            if c.find((wf.get("status") or {}).get("conditions"), c.READY) is not None:
                return wf
            await _sleep(0.05)
        raise AssertionError(f"{resource.kind} {namespace}/{name} has no Ready condition after 30s")

    async def submit(self, name: str, **kw) -> dict:
        return await self.cp.create(r.WORKFLOW_RUN, run_object(self.namespace, name, **kw))

    async def get_run(self, name: str) -> dict | None:
        try:
            return await self.cp.get(r.WORKFLOW_RUN, name, self.namespace)
        except NotFound:
            return None

    async def wait_run(
        self, name: str, what: str, probe, within: float = 60.0, interval: float = 0.1
    ) -> dict:
        deadline = time.monotonic() + within
        last = None
        while time.monotonic() < deadline:
            last = await self.get_run(name)
            if last is not None and probe(last):
                return last
            await _sleep(interval)
        raise AssertionError(
            f"run {self.namespace}/{name}: timed out after {within:.0f}s waiting for {what}; "
            f"last status: {json.dumps((last or {}).get('status'), indent=1)[:3000]}"
        )

    async def wait_completed(self, name: str, within: float = 60.0) -> dict:
        return await self.wait_run(
            name, "WorkflowCompleted=True", lambda o: (completed(o) or ("", ""))[0] == "True", within
        )

    async def wait_reason(self, name: str, reason: str, status: str = "True", within: float = 60.0) -> dict:
        return await self.wait_run(
            name, f"WorkflowCompleted={status}/{reason}", lambda o: completed(o) == (status, reason), within
        )

    async def wait_gone(self, name: str, within: float = 60.0) -> float:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self.get_run(name) is None:
                return time.monotonic()
            await _sleep(0.1)
        raise AssertionError(f"run {self.namespace}/{name} still exists after {within:.0f}s")

    async def argo(self, name: str) -> dict | None:
        try:
            return await self.bp.get(r.ARGO_WORKFLOW, name, self.build_namespace)
        except NotFound:
            return None

    async def build_objects(self, build_namespace: str | None = None) -> list[tuple[str, str]]:
        """``(kind, name)`` of every Argo Workflow and ExternalSecret in the (0.17) build namespace."""
        out = []
        for res in (r.ARGO_WORKFLOW, r.EXTERNAL_SECRET):
            try:
                listed = await self.bp.list(res, build_namespace or self.build_namespace)
            except NotFound:
                continue
            out += [
                (res.kind, o["metadata"]["name"])
                for o in listed.items
                if not o["metadata"].get("deletionTimestamp")
            ]
        return sorted(out)


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


# Plane processes die with the thread that started them (PR_SET_PDEATHSIG): restart them from a thread
# that lives as long as the session, never from a per-test executor.
_PLANE_THREAD = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="e2e-plane")


async def in_plane_thread(func) -> None:
    """Run a blocking plane operation (``stop``/``start``) without blocking the event loop."""
    await asyncio.get_running_loop().run_in_executor(_PLANE_THREAD, func)


class Holders:
    """Watches the namespace's runs: the order in which runs first held their concurrency group, the most
    holding at once (``most``, or per group text: ``most_in``), and the ``WorkflowCompleted`` reasons each run
    went through.

    A run holds its group from its admission (``status.concurrency.admittedAt``) or submission
    (``status.runReference``) until it completes; every watch event is looked at, none missed.
    """

    def __init__(self, world) -> None:
        self.order: list[str] = []
        self.most = 0
        self.most_in: dict[str, int] = {}
        self.reasons: dict[str, list[str]] = {}
        self._now: dict[str, tuple[str, bool]] = {}
        self._informer = Informer(world.cp, r.WORKFLOW_RUN, clock=RealClock(), namespace=world.namespace)
        self._informer.add_handler(EventHandler(self._see, lambda _old, new: self._see(new)))

    def _see(self, run: dict) -> None:
        name, st = run["metadata"]["name"], run.get("status") or {}
        group = str((st.get("concurrency") or {}).get("group") or "")
        holding = bool((st.get("concurrency") or {}).get("admittedAt") or st.get("runReference"))
        if holding and name not in self.order:
            self.order.append(name)
        state = completed(run) or ("", "")
        seen = self.reasons.setdefault(name, [])
        if state[1] and (not seen or seen[-1] != state[1]):
            seen.append(state[1])
        self._now[name] = (group, holding and state[0] != "True")
        self.most = max(self.most, sum(held for _, held in self._now.values()))
        held_in = sum(held for g, held in self._now.values() if g == group)
        self.most_in[group] = max(self.most_in.get(group, 0), held_in)

    async def __aenter__(self):
        self._task = asyncio.create_task(self._informer.run(), name="holders-informer")
        await asyncio.wait_for(self._informer.wait_synced(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
