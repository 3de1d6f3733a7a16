"""Bad input, one row each: every case ends in its specific condition within seconds, with no hot loop.

A row is a scenario (what to create, and any follow-up once the first condition shows) and the condition
it must end in. After the end state is reached, the run's reconciles are counted from the controller's
log over a quiet window: a settled run is not reconciled again (at most once, by an unrelated event such as
its Workflow's own status write), and a waiting one only with backoff.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from e2e_support import BOTH_MODES, MODES, completed, docker_workflow, run_object, with_resource

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.contracts import Invalid

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

QUIET = 4.0  # seconds watched after the end state
GRACE = 1.0  # seconds for in-flight work (the last reconcile, the echo of its own write) to finish
MAX_RECONCILES = 40  # to reach the end state, including waits, a step that runs for seconds, restarts
RUN = "case"
BLOB = 300_000  # characters: twice two of them make a rendered Argo Workflow over 1 MiB


@dataclass(frozen=True)
class Case:
    """What to set up, the end state ``(WorkflowCompleted status, reason)``, words its message must hold."""

    setup: Callable[..., Awaitable[None]]
    end: tuple[str, str]
    message: tuple[str, ...] = ()
    then: Callable[..., Awaitable[None]] | None = None  # after the first condition, before the end state
    first: tuple[str, str] | None = None  # a condition to reach before ``then``
    max_quiet_reconciles: int = 1
    extra: dict[str, object] = field(default_factory=dict)


def with_argument(value: str, schema: dict[str, str] | None = None):
    """The sample Workflow with one more Argo argument (``value``) and optional extra parameters."""

    def build(namespace):
        wf = docker_workflow(namespace)
        wf["spec"]["runTemplate"]["spec"]["arguments"]["parameters"].append({"name": "extra", "value": value})
        wf["spec"]["schema"]["parameters"].update(schema or {})
        return wf

    return build


async def standard(world, *, build_plane=True, secret_reference=True, workflow=docker_workflow, **run):
    await world.setup(build_plane=build_plane, secret_reference=secret_reference)
    if workflow is not None:
        await world.cp.create(r.WORKFLOW, workflow(world.namespace))
    await world.submit(RUN, **run)


def params(**repository):
    base = {"url": "https://github.com/acme/payments", "secretRef": "git"}
    return {"repository": {**base, **repository}}


async def no_workflow(world):
    await standard(world, workflow=None)


async def create_workflow(world):
    await world.workflow()


async def slow_build(world):
    await standard(world, workflow=lambda ns: docker_workflow(ns, steps={"build-image": {"delay": "6s"}}))


async def delete_workflow(world):
    await world.cp.delete(r.WORKFLOW, "docker", namespace=world.namespace)


async def wrong_type(world):
    await standard(world, parameters=params(url=42))


async def unknown_parameter(world):
    await standard(world, parameters={**params(), "colour": "red"})


async def missing_parameter(world):
    await standard(world, parameters={"repository": {"secretRef": "git"}})


async def cel_syntax(world):
    await standard(world, workflow=with_argument("${parameters.repository.url +}"))


async def cel_missing_key(world):
    await standard(world, workflow=with_argument("${parameters.repository.nosuch}"))


RANGE = "[" + ", ".join(str(i) for i in range(100)) + "]"


async def cel_bomb(world):
    bomb = f"${{string(size({RANGE}.map(a, {RANGE}.map(b, {RANGE}.map(x, a + b + x)))))}}"
    await standard(world, workflow=with_argument(bomb))


async def huge_object(world):
    def workflow(namespace):
        wf = with_argument("${parameters.blob + parameters.blob}", {"blob": 'string | default=""'})(namespace)
        extra = {"name": "extra2", "value": "${parameters.blob + parameters.blob}"}
        wf["spec"]["runTemplate"]["spec"]["arguments"]["parameters"].append(extra)
        return wf

    await standard(world, workflow=workflow, parameters={**params(), "blob": "b" * BLOB})


async def no_build_plane(world):
    await standard(world, build_plane=False)


async def create_build_plane(world):
    await world.create_build_plane()


async def no_secret_reference(world):
    await standard(world, secret_reference=False)


async def foreign_argo_workflow(world):
    await world.bp.create(
        r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": world.build_namespace}}
    )
    await world.bp.create(r.ARGO_WORKFLOW, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": RUN, "namespace": world.build_namespace},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
    })  # fmt: skip
    await standard(world)


def with_extra(template: dict):
    """The sample Workflow with one more extra resource."""
    return lambda namespace: with_resource(namespace, template)


async def kind_outside_the_table(world):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "${metadata.workflowRunName}-x"}}
    await standard(world, workflow=with_extra(pod))


async def kind_rendered_outside_the_table(world):
    extra = {
        "apiVersion": "v1",
        "kind": "${parameters.kind}",
        "metadata": {"name": "${metadata.workflowRunName}-x"},
    }

    def workflow(namespace):
        wf = with_extra(extra)(namespace)
        wf["spec"]["schema"]["parameters"]["kind"] = "string | default=Service"
        return wf

    await standard(world, workflow=workflow)


async def our_orphan_in_the_way(world):
    """An Argo Workflow of this run's name, left by a run of the same name that is gone (our labels)."""
    gone = labels.run_labels(RUN, world.namespace, "00000000-0000-0000-0000-00000000dead")
    await world.bp.create(
        r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": world.build_namespace}}
    )
    await world.bp.create(r.ARGO_WORKFLOW, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": RUN, "namespace": world.build_namespace, "labels": gone},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
    })  # fmt: skip
    await standard(world)


CASES = [
    pytest.param(
        Case(no_workflow, ("True", c.R_WORKFLOW_RESOLUTION_FAILED), ("neither Workflow 'docker'",)),
        id="missing-workflow",
    ),
    pytest.param(
        Case(
            no_workflow,
            ("True", c.R_SUCCEEDED),
            first=("True", c.R_WORKFLOW_RESOLUTION_FAILED),
            then=create_workflow,
        ),
        id="missing-workflow-then-created",
    ),
    pytest.param(
        Case(slow_build, ("True", c.R_SUCCEEDED), first=("False", c.R_RUNNING), then=delete_workflow),
        id="workflow-deleted-mid-run",
    ),
    pytest.param(
        Case(
            wrong_type,
            ("True", c.R_INVALID_PARAMETERS),
            ("parameters.repository.url: 42 is not of type 'string'",),
        ),
        id="wrong-parameter-type",
    ),
    pytest.param(  # rendered as OpenChoreo renders it; the warning is an UnknownParameters Event
        Case(unknown_parameter, ("True", c.R_SUCCEEDED)), id="unknown-parameter-rendered"
    ),
    pytest.param(
        Case(missing_parameter, ("True", c.R_INVALID_PARAMETERS), ("'url' is a required property",)),
        id="missing-parameter",
    ),
    pytest.param(
        Case(
            cel_syntax, ("True", c.R_INVALID_TEMPLATE), ("runTemplate.spec.arguments.parameters[12].value",)
        ),
        id="cel-syntax-error",
    ),
    pytest.param(
        Case(
            cel_missing_key,
            ("True", c.R_RENDER_FAILED),
            ("runTemplate.spec.arguments.parameters[12].value", "nosuch"),
        ),
        id="cel-missing-key",
    ),
    pytest.param(Case(cel_bomb, ("True", c.R_RENDER_FAILED), ("budget",)), id="cel-bomb"),
    pytest.param(
        Case(huge_object, ("True", c.R_RENDER_FAILED), ("more than 1048576",)), id="rendered-object-over-1mib"
    ),
    pytest.param(
        Case(
            no_build_plane,
            ("True", c.R_SUCCEEDED),
            first=("False", c.R_BUILD_PLANE_NOT_FOUND),
            then=create_build_plane,
            max_quiet_reconciles=1,
            extra={"waiting_reconciles": 12},
        ),
        id="missing-build-plane-then-created",
    ),
    pytest.param(
        Case(no_secret_reference, ("True", c.R_EXTERNAL_REF_NOT_FOUND), ("SecretReference 'git' not found",)),
        id="missing-secret-reference",
    ),
    pytest.param(
        Case(
            foreign_argo_workflow,
            ("True", c.R_NAME_CONFLICT),
            ("Workflow openchoreo-ci-", "never overwritten"),
        ),
        id="foreign-argo-workflow-same-name",
    ),
    pytest.param(
        Case(kind_outside_the_table, ("True", c.R_INVALID_TEMPLATE), ("v1 Pod is not a kind",)),
        id="kind-outside-the-table",
    ),
    pytest.param(
        Case(
            kind_rendered_outside_the_table,
            ("True", c.R_INVALID_TEMPLATE),
            ("resources[1].template.kind: v1 Service is not a kind",),
        ),
        id="rendered-kind-outside-the-table",
    ),
    pytest.param(
        Case(our_orphan_in_the_way, ("True", c.R_SUCCEEDED)), id="our-orphan-in-the-way-is-replaced"
    ),
]


#: The cases that also run with the build plane reached only through the relay: the ones that touch the build
#: plane (a new BuildPlane joining the agent's trust group, a foreign object found through the agent, a run
#: whose Workflow goes away mid-run) and one early failure; the others never reach a build plane.
RELAYED = {
    "missing-workflow-then-created",
    "workflow-deleted-mid-run",
    "wrong-parameter-type",
    "missing-build-plane-then-created",
    "foreign-argo-workflow-same-name",
    "kind-outside-the-table",
    "our-orphan-in-the-way-is-replaced",
}
MODE_CASES = [
    pytest.param(mode, *case.values, id=f"{mode}-{case.id}")
    for case in CASES
    for mode in MODES
    if mode == "direct" or case.id in RELAYED
]


@pytest.mark.parametrize(("controller", "case"), MODE_CASES, indirect=["controller"])
async def test_bad_input_ends_in_its_condition_without_a_hot_loop(world, controller, case: Case):
    await case.setup(world)
    if case.first is not None:
        await world.wait_run(RUN, f"first {case.first}", lambda o: completed(o) == case.first, within=30)
        if "waiting_reconciles" in case.extra:
            await asyncio.sleep(QUIET)
            waited = controller.reconciles(world.namespace, RUN)
            assert waited <= case.extra["waiting_reconciles"], f"{waited} reconciles while waiting: backoff?"
        await case.then(world)
    run = await world.wait_run(RUN, f"end {case.end}", lambda o: completed(o) == case.end, within=45)
    message = c.find(run["status"]["conditions"], c.COMPLETED)["message"]
    assert all(part in message for part in case.message), message
    if case.end[0] == "True" and case.end[1] != c.R_SUCCEEDED:
        assert case.end[1] == c.find(run["status"]["conditions"], c.FAILED)["reason"]

    await asyncio.sleep(GRACE)  # the reconcile that wrote the end state logs its outcome after the write
    settled = controller.reconciles(world.namespace, RUN)
    await asyncio.sleep(QUIET)
    quiet = controller.reconciles(world.namespace, RUN) - settled
    assert settled <= MAX_RECONCILES, f"{settled} reconciles to reach {case.end}"
    assert quiet <= case.max_quiet_reconciles, (
        f"{quiet} reconciles in {QUIET}s after settling (total {settled})"
    )
    assert run == await world.get_run(RUN)  # and nothing was written meanwhile


async def test_cel_syntax_error_also_marks_the_workflow_not_ready(world):
    await cel_syntax(world)
    for _ in range(100):
        wf = await world.cp.get(r.WORKFLOW, "docker", world.namespace)
        ready = c.find((wf.get("status") or {}).get("conditions"), c.READY)
        if ready is not None:
            break
        await asyncio.sleep(0.1)
    assert ("False", c.R_INVALID_TEMPLATE) == (ready["status"], ready["reason"])
    assert (
        "runTemplate.spec.arguments.parameters[12].value: ${parameters.repository.url +}" in ready["message"]
    )


@pytest.mark.parametrize(
    ("name", "ttl", "field"),
    [
        pytest.param("invalid-ttl", "5 minutes", "spec.ttlAfterCompletion", id="invalid-ttl"),
        pytest.param("x" * 64, None, "63 characters", id="name-over-63-characters"),
    ],
)
async def test_admission_rejects(world, name, ttl, field):
    await world.setup()
    with pytest.raises(Invalid) as caught:
        await world.cp.create(r.WORKFLOW_RUN, run_object(world.namespace, name, ttl=ttl))
    assert field in str(caught.value)


@BOTH_MODES
async def test_a_run_recreated_after_ttl_deletion_is_not_touched_by_the_old_ttl(world):
    await world.setup()
    await world.workflow()
    old = await world.submit(RUN, ttl="3s")
    await world.wait_completed(RUN, within=60)
    await world.wait_gone(RUN, within=30)
    new = await world.submit(RUN)  # same name, no TTL: it must stay
    run = await world.wait_reason(RUN, c.R_SUCCEEDED, within=60)
    await asyncio.sleep(4)  # past any of the old run's TTL timers
    still = await world.get_run(RUN)
    argo = await world.argo(RUN)
    assert still is not None
    assert (new["metadata"]["uid"], new["metadata"]["uid"]) == (
        still["metadata"]["uid"],
        argo["metadata"]["labels"][labels.LABEL_WORKFLOWRUN_UID],
    )
    assert old["metadata"]["uid"] != new["metadata"]["uid"]
    assert run["status"]["completedAt"] == still["status"]["completedAt"]
