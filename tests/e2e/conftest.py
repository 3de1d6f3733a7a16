"""End-to-end fixtures (see ``e2e_support``): the controller in either build-plane mode, the templates, a world.

Modes: ``direct`` (``--build-plane-kubeconfig``), ``relay`` (``e2e_relay``: embedded gateway + agent, no
build-plane credentials in the controller) and ``remote`` (a standalone gateway process). A test picks its
modes by parametrizing the ``controller`` fixture indirectly (``e2e_support.BOTH_MODES``); unparametrized
tests get ``direct``. The controllers share the session planes but never run at once - each would reconcile
every run - so ``Engines`` stops one before starting another, and the collection hook below orders the
tests by mode (direct, relay, remote): one switch per mode per session.
"""

from __future__ import annotations

import secrets

import pytest
from component_support import component_templates, component_world  # noqa: F401 - fixtures, for every e2e file
from demo_support import demo, demo_templates  # noqa: F401 - fixtures, for every e2e file
from e2e_relay import RelayController, StandaloneRelayController
from e2e_support import CWT, STEP_INPUTS, TEMPLATES, Controller, World
from localcluster.buildplane import seed_secret_store

from choreo_controller.kube import connect

ORDER = {"direct": 0, "relay": 1, "remote": 2}


def pytest_collection_modifyitems(items):
    def mode(item) -> int:
        callspec = getattr(item, "callspec", None)
        return ORDER.get(callspec.params.get("controller", "direct") if callspec else "direct", 0)

    items.sort(key=mode)  # stable: the order within each mode is kept


class Engines:
    """At most one controller running: the direct one or the relay one, made on first use."""

    def __init__(self, control_plane, build_plane, tmp_path_factory) -> None:
        self._args = (control_plane, build_plane)
        self._tmp = tmp_path_factory
        self._made: dict[str, Controller] = {}

    def use(self, mode: str) -> Controller:
        for other, engine in self._made.items():
            if other != mode and engine.running:
                engine.stop()
        if mode not in self._made:
            kind = {"relay": RelayController, "remote": StandaloneRelayController}.get(mode, Controller)
            self._made[mode] = kind(*self._args, self._tmp.mktemp(f"controller-{mode}"))
        engine = self._made[mode]
        engine.ensure_running()
        return engine

    def stop(self) -> None:
        for engine in self._made.values():
            engine.stop()


@pytest.fixture(scope="session")
def e2e_templates(build_plane):
    docs = []
    for name, (template, image) in TEMPLATES.items():
        inputs = "".join(f'{{name: {i}, value: "none"}}, ' for i in STEP_INPUTS[name])
        docs.append(CWT.format(name=name, template=template, image=image, inputs=inputs))
    build_plane.apply(stdin="---".join(docs))
    return sorted(f"e2e-{n}" for n in TEMPLATES)


@pytest.fixture(scope="session")
def registry_push_secret(build_plane):
    """What OpenChoreo's CI samples' ``registry-push-secret`` ExternalSecrets read from the secret store: key
    ``registry-push-secret`` (1.x: property ``value``; 0.17: no property, the JSON of the whole entry)."""
    seed_secret_store(build_plane, "registry-push-secret", {"value": '{"auths": {}}'})


@pytest.fixture(scope="session")
def engines(control_plane, build_plane, e2e_templates, tmp_path_factory):
    made = Engines(control_plane, build_plane, tmp_path_factory)
    yield made
    made.stop()


@pytest.fixture
def controller(request, engines):
    """The running controller of this test's mode (``request.param``; default ``direct``)."""
    return engines.use(getattr(request, "param", "direct"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and "controller" in getattr(item, "fixturenames", ()):
        ctl = item.funcargs.get("controller")
        if ctl is not None:
            report.sections.extend(ctl.tails(60))
    return report


@pytest.fixture
async def world(request, control_plane, build_plane, controller):
    controller.ensure_running()
    prefix = "e2e" if controller.mode == "direct" else "e2er"
    test = request.node.name[5:25].strip("_-").replace("_", "-").lower()
    namespace = f"{prefix}-{test}-{secrets.token_hex(3)}"
    namespace = "".join(ch for ch in namespace if ch.isalnum() or ch == "-").strip("-")
    async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
        yield World(cp, bp, namespace, client_ca=controller.client_ca)
