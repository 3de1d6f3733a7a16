"""Child processes with log files, readiness probes and reliable teardown.

Children get PR_SET_PDEATHSIG=SIGKILL so a killed test run never leaves apiservers behind, and their own
session so a Ctrl-C in the terminal reaches only the parent, which then stops them in order.

Linux fires the death signal when the *thread* that spawned the child exits, not the process. So every
child is spawned by one module-level spawner thread that lives as long as the process: callers may start
and restart processes from any thread (``asyncio.to_thread`` included) without their children dying when
that thread ends.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_PR_SET_PDEATHSIG = 1
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="localcluster-spawner")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_HANDED_OUT: set[int] = set()
_PORTS_LOCK = threading.Lock()


def free_port() -> int:
    """A free loopback port, never one this process handed out before: the kernel may offer a port again as
    soon as the probing socket closes, so two calls in a row (etcd's client and peer ports) could collide."""
    with _PORTS_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


class Proc:
    """One named child process writing to ``<logdir>/<name>.log``; restartable with the same arguments."""

    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = logdir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        out.write(f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(self.argv)}\n".encode())
        out.flush()
        self.popen = _SPAWNER.submit(self._spawn, out).result()
        out.close()
        return self

    def _spawn(self, out: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv,
            stdout=out,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
        )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        self.popen = None

    def kill(self) -> None:
        self.stop(timeout=5.0, sig=signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.popen is not None and self.popen.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.popen.returncode}; last log lines:\n{self.tail()}"
            )


def wait_until(
    what: str,
    probe: Callable[[], bool],
    *,
    timeout: float,
    procs: tuple[Proc, ...] = (),
    interval: float = 0.2,
) -> None:
    """Poll ``probe`` until it is true; fail early with the log tail if a watched process died."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            proc.check_alive()
        try:
            if probe():
                return
        except (OSError, urllib.error.URLError, ssl.SSLError):
            pass
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}:\n{p.tail()}" for p in procs)
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{tails}")
        time.sleep(interval)


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=context) as resp:  # noqa: S310 - loopback URLs only
        return bool(resp.status == 200)
