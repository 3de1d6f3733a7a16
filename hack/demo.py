"""The quickstart: two real planes on this machine, the controller, and a WorkflowRun going to Succeeded.

    make demo                       (or: .venv/bin/python hack/demo.py [--workdir .demo] [--exit])
    make demo-stop                  (or: .venv/bin/python hack/demo.py --stop), from another terminal

Steps, each with its elapsed time:
 1. build or reuse the pinned Kubernetes/etcd/kwok/Argo binaries (hack/build-binaries.sh, its progress shown;
    a no-op after the first build);
 2. start a control plane (etcd, kube-apiserver, kube-controller-manager, our CRDs) and a build plane (the
    same plus kube-scheduler, kwok with a fake node, Argo's workflow-controller, a volume provisioner with a
    default StorageClass, External Secrets with the ClusterSecretStore `default`) as local processes, in
    parallel;
 3. install the demo: ClusterWorkflowTemplates and the Git credentials (in the secret store) in the build
    plane; the namespace, a BuildPlane, the SecretReference `demo-git` and the Workflow `demo-build` in the
    control plane (manifests/samples/demo/);
 4. start `choreo-controller` (see MODES below) and wait until it is ready;
 5. create the WorkflowRun `demo/demo-build-1` and follow it with `choreo-controller runs watch` until it
    succeeds: steps checkout -> build -> publish with their phases and durations, on a workspace volume
    claimed for the run, checkout with the Git credentials External Secrets synced for it;
 6. print how to reach everything, then keep it all running until Ctrl-C, SIGTERM or `make demo-stop`
    (which stop every process; the state under --workdir is deleted on the next start).

MODES: the relay path (controller -> gateway -> agent -> build plane, certificates from hack/gen-certs.py)
when this checkout's controller can reach a build plane through a gateway; otherwise direct mode (the
controller talks to the build plane's apiserver with a kubeconfig). The banner says which one runs.

--exit stops everything once the run has completed (for CI and timing); the exit code is the run's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml
from demolib import Stage, Stopwatch, demo_mode, mint_certificates, start_processes
from localcluster import BinariesMissing, Plane, bin_dir, start_build_plane, start_control_plane
from localcluster.buildplane import RESOLVED, seed_secret_store
from localcluster.process import Proc, free_port

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "manifests" / "samples" / "demo"
CLI = Path(sys.executable).parent / "choreo-controller"
RUN, NAMESPACE, PLANE_ID = "demo-build-1", "demo", "demo"
GIT_CREDENTIALS = {"username": "demo-bot", "token": "demo-token-not-a-real-one"}  # secretreference.yaml


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workdir", type=Path, default=REPO / ".demo", help="state, logs, kubeconfigs (.demo)"
    )
    parser.add_argument("--exit", action="store_true", help="stop everything once the run has completed")
    parser.add_argument("--direct", action="store_true", help="direct mode even if the relay is available")
    parser.add_argument("--stop", action="store_true", help="stop the demo running under --workdir")
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    if args.stop:
        return stop_running(workdir)
    if not CLI.exists():
        print(f"demo: {CLI} not found; run `make install` first", file=sys.stderr)
        return 1
    clock = Stopwatch()
    try:
        with Stage(clock, "1/5 binaries: build or reuse (hack/build-binaries.sh)", heartbeat=False):
            subprocess.run([str(REPO / "hack" / "build-binaries.sh")], check=True)
        return run_demo(args, workdir, clock)
    except (BinariesMissing, subprocess.CalledProcessError, RuntimeError, TimeoutError) as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return 1


def run_demo(args: argparse.Namespace, workdir: Path, clock: Stopwatch) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    pid_file = workdir / "demo.pid"
    pid_file.write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM (make demo-stop) acts like Ctrl-C
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="plane-boot")
    planes: list[Plane] = []
    procs: list[Proc] = []
    code = 130  # interrupted before the run completed
    try:
        with Stage(clock, "2/5 control plane + build plane, as local processes"):
            futures = [
                pool.submit(start_control_plane, workdir / "control-plane"),
                pool.submit(start_build_plane, workdir / "build-plane"),
            ]
            planes.extend(future.result() for future in futures)
        cp, bp = planes
        mode = demo_mode(CLI, direct_only=args.direct)
        with Stage(
            clock,
            "3/5 demo: ClusterWorkflowTemplates, Git credentials in the secret store (build plane); "
            "Workflow, SecretReference, BuildPlane (control plane)",
        ):
            bp.apply(SAMPLES / "cluster-workflow-templates.yaml")
            seed_secret_store(bp, "demo-git-credentials", GIT_CREDENTIALS)
            cp.apply(SAMPLES / "namespace.yaml", SAMPLES / "secretreference.yaml", SAMPLES / "workflow.yaml")
            plane = yaml.safe_load((SAMPLES / "buildplane.yaml").read_text())
            if mode.relay:
                plane["spec"]["clusterAgent"]["clientCA"]["value"] = mint_certificates(
                    workdir / "pki", PLANE_ID
                )
            cp.apply(stdin=yaml.safe_dump(plane))
        metrics_port = _port(18080)
        what = "gateway + agent + controller (relay mode)" if mode.relay else "controller (direct mode)"
        with Stage(clock, f"4/5 choreo-controller: {what}"):
            procs = start_processes(mode, CLI, cp, bp, workdir, metrics_port, PLANE_ID)
        with Stage(
            clock,
            f"5/5 WorkflowRun {NAMESPACE}/{RUN}: created, followed live",
            heartbeat=False,
            closing=False,
        ):
            cp.apply(SAMPLES / "workflowrun.yaml")
            code = follow(cp, procs)
        verdict = "succeeded" if code == 0 else "did NOT succeed"
        print(f"\nThe demo run {verdict}; {clock.total()} from the start.\n")
        print(banner(mode.name, cp, bp, workdir, metrics_port, procs), flush=True)
        if not args.exit:
            print(
                "\nEverything keeps running. Stop it: Ctrl-C here, or `make demo-stop` from another terminal."
            )
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        for proc in reversed(procs):
            proc.stop()
        for plane in reversed(planes):
            plane.stop()
        pool.shutdown(cancel_futures=True)
        pid_file.unlink(missing_ok=True)
        print("stopped.", flush=True)
    return code


def follow(cp: Plane, procs: list[Proc]) -> int:
    """Run ``choreo-controller runs watch`` on this terminal; fail fast if one of our processes dies."""
    argv = [str(CLI), "runs", "watch", RUN, "-n", NAMESPACE, f"--kubeconfig={cp.kubeconfig}", "--timeout=180"]
    watch = subprocess.Popen(argv)
    try:
        while watch.poll() is None:
            dead = [proc for proc in procs if not proc.running]
            if dead:
                raise RuntimeError(f"{dead[0].name} exited; last log lines:\n{dead[0].tail(15)}")
            time.sleep(0.2)
    finally:
        if watch.poll() is None:
            watch.terminate()
            watch.wait(10)
    return watch.returncode


def _short(path: Path) -> str:
    relative = os.path.relpath(path, Path.cwd())
    return str(path) if relative.startswith("..") else relative


def banner(mode: str, cp: Plane, bp: Plane, workdir: Path, metrics_port: int, procs: list[Proc]) -> str:
    cli, kube = _short(CLI), f"--kubeconfig={_short(cp.kubeconfig)}"
    build_ns = f"openchoreo-ci-{NAMESPACE}"
    git_secret = _git_secret(bp, build_ns)
    ours = ", ".join(f"{p.name}.log" for p in procs)
    return "\n".join([
        f"mode:           {mode}",
        f"control plane:  {cp.server}   kubeconfig {cp.kubeconfig}",
        f"build plane:    {bp.server}   kubeconfig {bp.kubeconfig}",
        f"kubectl:        {bin_dir() / 'kubectl'} --kubeconfig=...",
        f"metrics:        http://127.0.0.1:{metrics_port}/metrics",
        f"workspace:      PVC {build_ns}/{RUN}-workspace (the run's volumeClaimTemplates), provisioned",
        "                by rancher.io/local-path (default StorageClass), deleted by Argo when the run ended",
        f"git secret:     SecretReference {NAMESPACE}/demo-git -> ExternalSecret {build_ns}/{RUN}-git",
        f"                -> Secret {build_ns}/{RUN}-git, synced by External Secrets from the",
        f"                ClusterSecretStore default (build plane namespace secret-store); {git_secret}",
        f"logs:           {workdir / 'logs'} ({ours}); {cp.logdir}; {bp.logdir}",
        "try:",
        f"  {cli} runs list -n {NAMESPACE} {kube}",
        f"  {cli} runs get {RUN} -n {NAMESPACE} {kube}",
        f"  {cli} runs logs {RUN} -n {NAMESPACE} {_plane_flags(procs)} {kube}",
        f"  {cli} runs rerun {RUN} -n {NAMESPACE} --set stepSeconds=5 --set publish=false --watch {kube}",
        f"  {cli} runs cancel RUN -n {NAMESPACE} {kube}",
    ])  # fmt: skip


def _plane_flags(procs: list[Proc]) -> str:
    """How the CLI reaches the build plane for logs: the controller's gateway flags, or its kubeconfig."""
    controller = next(p for p in procs if p.name == "choreo-controller")
    flags = [a for a in controller.argv if a.startswith(("--gateway-", "--build-plane-kubeconfig="))]
    return " ".join(f"{flag}={_short(Path(value))}" if flag != "--gateway-url" else f"{flag}={value}"
                    for flag, value in (a.split("=", 1) for a in flags))  # fmt: skip


def _git_secret(bp: Plane, build_ns: str) -> str:
    """What became of the run's Git Secret: its type, and whether the checkout pod mounted it."""
    found = bp.kubectl("get", "secret", f"{RUN}-git", "-n", build_ns, "-o", "jsonpath={.type}", check=False)
    if found.returncode != 0:
        return "the Secret was NOT found"
    pods = bp.kubectl(
        "get",
        "pods",
        "-n",
        build_ns,
        "-l",
        f"workflows.argoproj.io/workflow={RUN}",
        "-o",
        "json",
        check=False,
    )
    mounted = [
        json.loads(pod["metadata"]["annotations"].get(RESOLVED, "[]"))
        for pod in (json.loads(pods.stdout).get("items", []) if pods.returncode == 0 else [])
        if pod["metadata"]["annotations"].get("workflows.argoproj.io/node-name", "").endswith(".checkout")
    ]
    used = (
        "mounted by the checkout step"
        if [f"secret/{RUN}-git" in m for m in mounted] == [True]
        else "NOT mounted"
    )
    return f"{found.stdout.strip()}, {used}"


def _port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def stop_running(workdir: Path) -> int:
    pid_file = workdir / "demo.pid"
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        print(f"no demo running (no live {pid_file})")
        return 0
    if b"demo.py" not in cmdline:
        print(f"stale {pid_file}: pid {pid} is something else; removed")
        pid_file.unlink()
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    print(f"demo (pid {pid}) stopped")
    return 0


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent (make, a shell, a test) to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
