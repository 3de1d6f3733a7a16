"""``runs logs``: a run's step logs, read from its build plane (through the relay, or directly).

The run (control plane) names its run object (``status.runReference``) and its engine; the engine says which
pods ran which steps and which containers hold a step's own output (``Engine.pod_selector``,
``Engine.step_pods``). Steps are printed in the order ``status.tasks`` lists them, each line prefixed
``[step]`` (coloured on a terminal).

* Without ``--follow``: what the logs hold now, once.
* With ``--follow``: a finished step's log is read once; a running step's log is followed until its pod
  finishes, then read again from the last line printed (by its timestamp: requested always, printed only with
  ``--timestamps``), so no line is lost or doubled when a follow ends early or never ends; a step not
  started yet is waited for. It ends when the run completes.
* A step whose pod is gone (deleted, garbage-collected) is said on stderr; so is a run object that is gone.

Exit: 1 when a step's log could not be read (its pod or the run object gone), else with ``--follow`` the
run's outcome (0 succeeded), else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TextIO

from choreo_controller.api.resources import EVENT, POD, WORKFLOW_RUN
from choreo_controller.cli.runsview import outcome, warning_events
from choreo_controller.contracts import BadRequest, LogOptions, NotFound
from choreo_controller.engines import engine_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from choreo_controller.contracts import JsonObj, KubeApi
    from choreo_controller.engines import Engine, StepPod

WARNINGS: Final = 5  # Warning events shown per step pod
POLL: Final = 1.0  # seconds between looks at a followed run's pods (a CLI's follow loop, not a test)
FINISHED_PODS: Final = frozenset({"Succeeded", "Failed"})
FINAL_STEPS: Final = frozenset({"Succeeded", "Failed", "Error", "Skipped", "Omitted"})
_COLOURS: Final = ("36", "33", "35", "32", "34", "31")
Container = tuple[str, str, str]  # namespace, pod, container
Instant = tuple[str, int]  # see ``instant``


@dataclass(frozen=True)
class Request:
    """What ``runs logs`` was asked for."""

    task: str | None = None
    follow: bool = False
    since_seconds: int | None = None
    tail: int | None = None
    timestamps: bool = False


@dataclass
class Printer:
    """Writes ``[step] line`` to ``out``, notes to ``err``; remembers how far each container was printed."""

    out: TextIO
    err: TextIO
    timestamps: bool = False
    colour: bool = False
    printed: dict[Container, tuple[Instant, int]] = field(default_factory=dict)  # last instant, lines at it
    _steps: list[str] = field(default_factory=list)

    def line(self, step: str, key: Container, stamp: str, text: str) -> None:
        """Print one line and note it as the container's last."""
        when = instant(stamp)
        last = self.printed.get(key)
        self.printed[key] = (when, last[1] + 1 if last is not None and last[0] == when else 1)
        if step not in self._steps:
            self._steps.append(step)
        prefix = f"[{step}]"
        if self.colour:
            prefix = f"\033[{_COLOURS[self._steps.index(step) % len(_COLOURS)]}m{prefix}\033[0m"
        self.out.write(f"{prefix} {stamp + ' ' if self.timestamps else ''}{text}\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """A line about the logs (not of them), on stderr."""
        self.err.write(text + "\n")
        self.err.flush()


def instant(stamp: str) -> Instant:
    """An RFC 3339 (nano) timestamp as ``(seconds part, nanoseconds)``: comparable, trailing zeros or not."""
    seconds, _, fraction = stamp.rstrip("Z").partition(".")
    digits = fraction if fraction.isdigit() else ""
    return seconds, int((digits + "0" * 9)[:9])


def add_plane_arguments(parser: argparse.ArgumentParser) -> None:
    """How to reach the run's build plane (``runs logs``; ``runs get`` for its steps' Warning events)."""
    plane = parser.add_argument_group("the run's build plane (one of)")
    plane.add_argument(
        "--gateway-url",
        metavar="URL",
        help="a gateway's internal API (a standalone gateway's, or an embedded one's: controller "
        "--gateway-internal-client-ca), e.g. https://gw:8444",
    )
    plane.add_argument("--gateway-ca", metavar="FILE", help="the only CA trusted for the gateway (pinned)")
    plane.add_argument("--gateway-client-cert", metavar="FILE", help="a client certificate it accepts")
    plane.add_argument("--gateway-client-key", metavar="FILE", help="its private key (PEM)")
    plane.add_argument("--build-plane-kubeconfig", metavar="FILE", help="reach the build plane directly")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``runs logs`` (besides RUN and the control plane's)."""
    parser.add_argument("--task", metavar="STEP", help="only this step")
    parser.add_argument("-f", "--follow", action="store_true", help="follow until the run completes")
    parser.add_argument(
        "--since", type=duration, metavar="DUR", help="only lines newer than this (30s, 5m, 2h)"
    )
    parser.add_argument("--tail", type=count, metavar="N", help="only the last N lines of each step")
    parser.add_argument("--timestamps", action="store_true", help="print each line's time")
    add_plane_arguments(parser)


async def command(control: KubeApi, args: argparse.Namespace, run: JsonObj) -> int:
    """``runs logs`` of ``run`` as ``args`` ask."""
    request = Request(args.task, args.follow, args.since, args.tail, args.timestamps)
    printer = Printer(sys.stdout, sys.stderr, args.timestamps, colour=sys.stdout.isatty())
    async with build_plane(args, run) as plane:
        return await show(control, plane, run, request, printer)


async def print_warnings(args: argparse.Namespace, run: JsonObj) -> None:
    """``runs get`` with a build plane named: its unfinished steps' Warning events."""
    if args.gateway_url or args.build_plane_kubeconfig:
        async with build_plane(args, run) as plane:
            sys.stdout.write(warning_events(await warnings(plane, run)))


class Usage(Exception):
    """Flags that do not name a build plane; the message says which are needed."""


class Gone(Exception):
    """What was asked for no longer exists in the build plane (or never did); the message says what."""


async def show(control: KubeApi, plane: KubeApi, run: JsonObj, req: Request, printer: Printer) -> int:
    """Print the run's step logs as ``req`` asks; the exit code (module docstring)."""
    meta = run["metadata"]
    missing: list[str] = []
    done: set[str] = set()
    while True:
        ref = (run.get("status") or {}).get("runReference") or {}
        finished = outcome(run).done
        complete = False
        if ref.get("name"):
            steps = [s for s in await _steps(plane, ref) if req.task in {None, s.name}]
            if req.task and not steps and finished:
                raise Gone(f"run {meta['namespace']}/{meta['name']} has no step {req.task!r}")
            for step in (s for s in steps if s.name not in done):
                state = await _step(plane, step, req, printer, ref, finished=finished)
                if state == "wait":
                    break
                done.add(step.name)
                if state == "gone":
                    missing.append(step.name)
                    printer.note(
                        f"step {step.name}: its pod is gone (deleted or garbage-collected); no log lines"
                    )
            complete = finished and all(s.name in done for s in steps)
        elif finished:
            raise Gone(f"run {meta['namespace']}/{meta['name']} completed without creating a run object")
        if not req.follow or complete:
            break
        await asyncio.sleep(POLL)
        run = await control.get(WORKFLOW_RUN, meta["name"], meta["namespace"])
    if missing:
        return 1
    return 0 if not req.follow or outcome(run).succeeded else 1


async def _steps(plane: KubeApi, ref: dict[str, Any]) -> list[StepPod]:
    found = engine_for(ref.get("apiVersion"), ref.get("kind"))
    if found is None:
        raise Gone(f"the run object's kind {ref.get('apiVersion')} {ref.get('kind')} is no engine's")
    engine, resource = found
    namespace, name = str(ref.get("namespace") or ""), str(ref["name"])
    try:
        obj = await plane.get(resource, name, namespace)
    except NotFound:
        raise Gone(
            f"{engine.title} {namespace}/{name} is gone (deleted, or cleaned up after the run's TTL), its "
            "pods and their logs with it; a failed run's message keeps its failed steps' last log lines"
        ) from None
    return await _with_pods(plane, engine, obj)


async def _with_pods(plane: KubeApi, engine: Engine, obj: JsonObj) -> list[StepPod]:
    namespace = str(obj["metadata"].get("namespace") or "")
    selector = engine.pod_selector(obj)  # the engine labels its children as it labels its pods
    children: dict[str, JsonObj] = {}
    for resource in {resource for resource, _ in engine.children(obj)}:  # listed: the agent serves no get
        listed = await plane.list(resource, namespace, label_selector=selector)
        children.update({str(child["metadata"]["name"]): child for child in listed.items})
    pods = await plane.list(POD, namespace, label_selector=selector)
    return engine.step_pods(obj, children, pods.items)


async def warnings(plane: KubeApi, run: JsonObj, last: int = WARNINGS) -> list[list[str]]:
    """``[step, reason, count, message]``: the last Warning events of each unfinished step's pod."""
    ref = (run.get("status") or {}).get("runReference") or {}
    if not ref.get("name"):
        return []
    rows: list[list[str]] = []
    for step in await _steps(plane, ref):
        pod = step.pod
        if pod is None or (pod.get("status") or {}).get("phase") == "Succeeded":
            continue
        meta = pod["metadata"]
        selector = f"involvedObject.name={meta['name']},type=Warning"
        events = (await plane.list(EVENT, meta["namespace"], field_selector=selector)).items
        events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        rows += [
            [step.name, str(e.get("reason") or ""), str(e.get("count") or 1), str(e.get("message") or "")]
            for e in events[-last:]
        ]
    return rows


async def _step(
    plane: KubeApi, step: StepPod, req: Request, printer: Printer, ref: dict[str, Any], *, finished: bool
) -> str:
    """``"done"``, ``"gone"`` (no pod any more) or ``"wait"`` (not started: look again later)."""
    if step.pod is None:
        if step.phase in FINAL_STEPS or finished:
            return "done" if step.phase in {"Skipped", "Omitted"} else "gone"
        return "wait" if req.follow else "done"
    pod_meta = step.pod["metadata"]
    phase = (step.pod.get("status") or {}).get("phase")
    if req.follow and phase == "Pending":
        return "wait"
    for container in step.containers:
        key = (str(pod_meta["namespace"]), str(pod_meta["name"]), container)
        if req.follow and phase not in FINISHED_PODS:
            await _follow(plane, step, key, req, printer, ref)
        await _read(plane, step, key, req, printer, follow=False)
    return "done"


async def _read(
    plane: KubeApi, step: StepPod, key: Container, req: Request, printer: Printer, *, follow: bool
) -> None:
    """Read (or follow) one container's log; again after a first read, only what was not printed yet."""
    resume = printer.printed.get(key)
    since: dict[str, Any] = {"since_seconds": req.since_seconds, "tail_lines": req.tail}
    if resume is not None:  # from the second of the last line printed (sinceTime is read to the second)
        since = {"since_time": resume[0][0] + "Z"}
    options = LogOptions(key[2], follow=follow, timestamps=True, **since)
    again = 0  # lines at the resume instant, which were printed up to resume[1]
    try:
        async for raw in plane.log(key[0], key[1], options):
            stamp, _, text = raw.decode("utf-8", errors="replace").rstrip("\r").partition(" ")
            if resume is not None and instant(stamp) <= resume[0]:
                again += instant(stamp) == resume[0]
                if instant(stamp) < resume[0] or again <= resume[1]:
                    continue
            printer.line(step.name, key, stamp, text)
    except NotFound:
        return  # the pod went away meanwhile: what was printed stays
    except BadRequest as error:  # e.g. the container is waiting to start
        printer.note(f"step {step.name}: {error.message}")


async def _follow(
    plane: KubeApi, step: StepPod, key: Container, req: Request, printer: Printer, ref: dict[str, Any]
) -> None:
    """Follow until the stream ends or the step's pod has finished (a follow may outlive its container)."""
    stream = asyncio.create_task(_read(plane, step, key, req, printer, follow=True))
    try:
        while not stream.done():
            await asyncio.wait({stream}, timeout=POLL)
            if not stream.done() and await _pod_finished(plane, ref, step.name, key[1]):
                break
    finally:
        stream.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream


async def _pod_finished(plane: KubeApi, ref: dict[str, Any], step: str, pod: str) -> bool:
    try:
        steps = await _steps(plane, ref)
    except Gone:
        return True
    match = next((s for s in steps if s.name == step and s.pod is not None), None)
    if match is None or match.pod is None or match.pod["metadata"]["name"] != pod:
        return True
    return (match.pod.get("status") or {}).get("phase") in FINISHED_PODS


@contextlib.asynccontextmanager
async def build_plane(args: argparse.Namespace, run: JsonObj) -> AsyncIterator[KubeApi]:
    """The run's build plane: through a gateway's internal API (the plane the run recorded), or direct."""
    from choreo_controller.cli import preflight  # noqa: PLC0415 - heavy imports only when the command runs
    from choreo_controller.kube import KubeClient  # noqa: PLC0415
    from choreo_controller.kube.config import connect  # noqa: PLC0415
    from choreo_controller.reconcilers.workflowrun.resolve import recorded_target  # noqa: PLC0415
    from choreo_controller.relay.identity import PLANE_KINDS, PlaneRef  # noqa: PLC0415
    from choreo_controller.relay.remote import RemoteRelayTransport  # noqa: PLC0415
    from choreo_controller.relay.tls import agent_context  # noqa: PLC0415

    if args.build_plane_kubeconfig:
        preflight.kubeconfig("--build-plane-kubeconfig", args.build_plane_kubeconfig)
        async with connect(args.build_plane_kubeconfig, request_timeout=30.0) as direct:
            yield direct
        return
    files = (args.gateway_ca, args.gateway_client_cert, args.gateway_client_key)
    if not args.gateway_url or not all(files):
        raise Usage(
            "runs logs needs --gateway-url with --gateway-ca, --gateway-client-cert and "
            "--gateway-client-key, or --build-plane-kubeconfig"
        )
    preflight.pem("--gateway-ca", args.gateway_ca, "CERTIFICATE")
    preflight.key_pair(
        "--gateway-client-cert", args.gateway_client_cert, "--gateway-client-key", args.gateway_client_key
    )
    target = recorded_target(run)
    if target is None:
        raise Gone(f"workflowrun {args.namespace}/{args.run} has no build plane yet")
    if target.kind not in PLANE_KINDS:
        raise Gone(
            f"workflowrun {args.namespace}/{args.run} ran without the relay: use --build-plane-kubeconfig"
        )
    ref = PlaneRef(target.kind, target.namespace, target.name)
    transport = RemoteRelayTransport(args.gateway_url, target.plane_id, agent_context(*files), plane=ref)
    async with KubeClient(transport) as relayed:
        yield relayed


def duration(text: str) -> int:
    """``30s``, ``5m``, ``2h`` (or a sum: ``1h30m``) as seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise argparse.ArgumentTypeError(f"want a duration like 30s, 5m, 2h or 1h30m, got {text!r}")
    hours, minutes, seconds = (int(x or 0) for x in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def count(text: str) -> int:
    """A whole number (``--tail``)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"want a whole number, got {text!r}")
    return int(text)
