"""Session fixtures for the real planes (a pytest plugin, loaded from tests/conftest.py).

Both planes start once per test run, in background threads as soon as collection shows a test needs
them, so their ~20-40 s boot overlaps with the unit tests. If the binaries are missing the fixtures raise
``BinariesMissing`` and the tests *error* -- real-cluster tests never skip. Logs live under pytest's
temporary directory and their tails are attached to the report of any failing test that used a plane.
"""

from __future__ import annotations

import concurrent.futures
import tempfile
from pathlib import Path

import pytest
from localcluster import Plane, start_build_plane, start_control_plane

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="plane-boot")
_FUTURES: dict[str, concurrent.futures.Future[Plane]] = {}
_STARTERS = {"control_plane": start_control_plane, "build_plane": start_build_plane}
_BASE = Path(tempfile.mkdtemp(prefix="choreo-planes-"))


def _future(name: str) -> concurrent.futures.Future[Plane]:
    if name not in _FUTURES:
        _FUTURES[name] = _POOL.submit(_STARTERS[name], _BASE / name, name.replace("_", "-"))
    return _FUTURES[name]


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = {n for item in session.items for n in getattr(item, "fixturenames", ()) if n in _STARTERS}
    for name in sorted(wanted):
        _future(name)


def _get(name: str) -> Plane:
    return _future(name).result(timeout=600)


@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Wait for the planes a test uses before its timer (pytest-timeout, setup included) starts: the boot is
    shared by the session and bounded on its own, and under load it would eat the first test's budget."""
    for name in getattr(item, "fixturenames", ()):
        if name in _STARTERS:
            concurrent.futures.wait([_future(name)], timeout=600)  # a failed boot errors in the fixture
    return (yield)


@pytest.fixture(scope="session")
def control_plane() -> Plane:
    """A real control plane (etcd, kube-apiserver, kube-controller-manager) with our CRDs."""
    return _get("control_plane")


@pytest.fixture(scope="session")
def build_plane() -> Plane:
    """A real build plane (plus scheduler, kwok, Argo workflow-controller) with Argo and ESO CRDs."""
    return _get("build_plane")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for future in _FUTURES.values():
        if future.done() and future.exception() is None:
            future.result().stop()
        else:
            future.cancel()
    _POOL.shutdown(wait=True, cancel_futures=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed and any(n in _STARTERS for n in getattr(item, "fixturenames", ())):
        for future in _FUTURES.values():
            if future.done() and future.exception() is None:
                plane = future.result()
                report.sections.append((f"logs of {plane.name} ({plane.logdir})", plane.logs_tail(25)))
    return report
