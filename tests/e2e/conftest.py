"""End-to-end fixtures (see ``e2e_support`` for what they hold): the controller, the templates, a world."""

from __future__ import annotations

import secrets

import pytest
from e2e_support import CWT, STEP_INPUTS, TEMPLATES, Controller, World

from choreo_controller.kube import connect


@pytest.fixture(scope="session")
def e2e_templates(build_plane):
    docs = []
    for name, (template, image) in TEMPLATES.items():
        inputs = "".join(f'{{name: {i}, value: "none"}}, ' for i in STEP_INPUTS[name])
        docs.append(CWT.format(name=name, template=template, image=image, inputs=inputs))
    build_plane.apply(stdin="---".join(docs))
    return sorted(f"e2e-{n}" for n in TEMPLATES)


@pytest.fixture(scope="session")
def controller(control_plane, build_plane, e2e_templates, tmp_path_factory):
    ctl = Controller(control_plane, build_plane, tmp_path_factory.mktemp("controller"))
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and "controller" in getattr(item, "fixturenames", ()):
        ctl = item.funcargs.get("controller")
        if ctl is not None:
            report.sections.append(("controller log (tail)", ctl.proc.tail(60)))
    return report


@pytest.fixture
async def world(request, control_plane, build_plane, controller):
    controller.ensure_running()
    namespace = f"e2e-{request.node.name[5:25].strip('_-').replace('_', '-').lower()}-{secrets.token_hex(3)}"
    namespace = "".join(ch for ch in namespace if ch.isalnum() or ch == "-").strip("-")
    async with connect(control_plane.kubeconfig) as cp, connect(build_plane.kubeconfig) as bp:
        yield World(cp, bp, namespace)
