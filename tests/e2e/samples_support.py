"""Helpers for running OpenChoreo's own samples end to end (``test_openchoreo_sample_runs*.py``).

Sample objects are applied as they are; ``placed`` only moves a namespaced one into the test's namespace.
``cluster_templates`` puts a sample's ClusterWorkflowTemplates into the build plane for a module and puts
back whatever had those names before (the project's own samples use some of the same names).
``follow_component_run`` creates a component build's run and follows it to completion while
``argo_outputs.StepOutputs`` reports the outputs the samples' steps declare (kwok runs no executor).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import TYPE_CHECKING

import yaml
from argo_outputs import StepOutputs
from localcluster.buildplane import seed_secret_store
from waiting import async_wait_for

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.contracts import ApiResource, NotFound

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

CI_STEPS = ["checkout-source", "build-image", "publish-image", "generate-workload-cr"]
REVISION = "9f4c2a1e"  # what the checkout step reports
PVC = ApiResource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
GIT_CREDENTIALS = {"username": "x-access-token", "password": "ghp_not_a_real_token"}


def docs(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def one(path: Path, kind: str) -> dict:
    (found,) = [doc for doc in docs(path) if doc["kind"] == kind]
    return found


def placed(obj: dict, namespace: str) -> dict:
    """``obj`` in ``namespace`` (the only change made to a sample object)."""
    return {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}


def cluster_templates(build_plane, files: list[Path]) -> Iterator[list[str]]:
    """For a module fixture: the ClusterWorkflowTemplates in ``files`` (other documents there are control-plane
    objects) applied to the build plane; afterwards, what had those names before."""
    templates = [doc for path in files for doc in docs(path) if doc["kind"] == "ClusterWorkflowTemplate"]
    names = [doc["metadata"]["name"] for doc in templates]
    saved = {}
    for name in names:
        out = build_plane.kubectl("get", "clusterworkflowtemplate", name, "-o", "json", check=False)
        if out.returncode == 0:
            obj = json.loads(out.stdout)
            saved[name] = {k: obj[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {"name": name}}
    build_plane.apply(stdin=yaml.safe_dump_all(templates))
    yield names
    for name in names:
        if name in saved:
            build_plane.apply(stdin=json.dumps(saved[name]))
        else:
            build_plane.kubectl("delete", "clusterworkflowtemplate", name)


async def create_all(world, *objs: tuple[ApiResource, dict]) -> None:
    for resource, obj in objs:
        await world.cp.create(resource, placed(obj, world.namespace) if resource.namespaced else obj)


async def wait_ready(world, resource: ApiResource, name: str) -> None:
    """The controller's cache holds the (Cluster)Workflow (its Ready condition), so a run never races it."""

    async def probe():
        wf = await world.cp.get(resource, name, world.namespace if resource.namespaced else None)
        return c.find((wf.get("status") or {}).get("conditions"), c.READY)

    await async_wait_for(f"{resource.kind} {name} Ready", probe, within=30)


def component_run(component: dict, name: str) -> dict:
    """The run a build of ``component`` creates: its workflow and parameters, its project/component labels."""
    return {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "WorkflowRun",
        "metadata": {"name": name, "labels": {"openchoreo.dev/project": component["spec"]["owner"]["projectName"],
                                              "openchoreo.dev/component": component["metadata"]["name"]}},
        "spec": {"workflow": component["spec"]["workflow"]},
    }  # fmt: skip


def ci_outputs(project: str, component: str) -> dict:
    """The outputs the samples' CI steps declare, as their scripts would write them for this component."""

    def workload(inputs):
        return {
            "workload-cr": yaml.safe_dump(
                {
                    "apiVersion": "openchoreo.dev/v1alpha1",
                    "kind": "Workload",
                    "metadata": {"name": f"{component}-workload"},
                    "spec": {
                        "owner": {"projectName": project, "componentName": component},
                        "containers": {"main": {"image": inputs["image"]}},
                    },
                }
            )
        }

    def image(inputs):
        return {"image": f"ttl.sh/openchoreo-builds/{project}-{component}:v1-{inputs['git-revision']}"}

    return {
        "checkout-source": {"git-revision": REVISION},
        "publish-image": image,
        "generate-workload-cr": workload,
    }


async def follow_component_run(world, run: dict) -> dict:
    """Create a component build's ``run`` and return it completed; the steps' outputs reported meanwhile."""
    labels = run["metadata"]["labels"]
    outputs = ci_outputs(labels["openchoreo.dev/project"], labels["openchoreo.dev/component"])
    async with StepOutputs(world.bp, world.build_namespace, outputs) as harness:
        await create_all(world, (r.WORKFLOW_RUN, run))
        done = await world.wait_completed(run["metadata"]["name"], within=120)
    assert [] == harness.errors
    return done


def assert_succeeded_with(run: dict, steps: list[str]) -> None:
    """The run succeeded, every step's task in its status, in order."""
    completed = c.find(run["status"]["conditions"], c.COMPLETED)
    assert ("True", c.R_SUCCEEDED) == (completed["status"], completed["reason"])
    assert [(name, "Succeeded") for name in steps] == [
        (t["name"], t["phase"]) for t in run["status"]["tasks"]
    ]


async def exists(api, resource: ApiResource, name: str, namespace: str | None) -> bool:
    try:
        await api.get(resource, name, namespace)
    except NotFound:
        return False
    return True


async def missing(api, resource: ApiResource, name: str, namespace: str) -> bool | None:
    return (not await exists(api, resource, name, namespace)) or None


async def bound_claim(world, name: str) -> dict | None:
    try:
        claim = await world.bp.get(PVC, name, world.build_namespace)
    except NotFound:
        return None
    return claim if (claim.get("status") or {}).get("phase") == "Bound" else None


async def step_pod(world, workflow: str, step: str) -> dict:
    """The pod of ``step`` in Argo Workflow ``workflow`` of the test's build namespace."""
    selector = f"workflows.argoproj.io/workflow={workflow}"
    listed = await world.bp.list(r.POD, world.build_namespace, label_selector=selector)
    node = "workflows.argoproj.io/node-name"
    (pod,) = [p for p in listed.items if p["metadata"]["annotations"][node].endswith(f".{step}")]
    return pod


async def git_secret_reference(world, build_plane, name: str) -> None:
    """A private repository's SecretReference as OpenChoreo's docs write it (basic-auth; the token under
    ``password``), its remote key a fresh Secret of the build plane's store holding ``GIT_CREDENTIALS``."""
    store_key = f"{name}-{uuid.uuid4().hex[:6]}"
    entry = {"username": GIT_CREDENTIALS["username"], "token": GIT_CREDENTIALS["password"]}
    await asyncio.to_thread(seed_secret_store, build_plane, store_key, entry)
    await world.cp.create(r.SECRET_REFERENCE, {
        "apiVersion": "openchoreo.dev/v1alpha1", "kind": "SecretReference",
        "metadata": {"name": name, "namespace": world.namespace},
        "spec": {"template": {"type": "kubernetes.io/basic-auth"}, "refreshInterval": "1h", "data": [
            {"secretKey": "username", "remoteRef": {"key": store_key, "property": "username"}},
            {"secretKey": "password", "remoteRef": {"key": store_key, "property": "token"}}]},
    })  # fmt: skip


async def assert_credentials_through_eso_gone_with_the_run(world, run: dict) -> None:
    """A succeeded CI run's Git and registry credentials: ExternalSecrets the run created, Secrets ESO made
    of them in the build namespace (the Git one with the store's values, mounted by the checkout step);
    deleting the run removes all four and the Argo Workflow."""
    name, ns = run["metadata"]["name"], world.build_namespace
    git, registry = f"{name}-git-secret", f"{name}-registry-push-secret"
    assert [git, registry] == [ref["name"] for ref in run["status"]["resources"]]
    secret = await world.bp.get(r.SECRET, git, ns)
    assert "kubernetes.io/basic-auth" == secret["type"]
    assert GIT_CREDENTIALS == {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert ["ExternalSecret"] == [o["kind"] for o in secret["metadata"]["ownerReferences"]]
    pushing = await world.bp.get(r.SECRET, registry, ns)
    assert "kubernetes.io/dockerconfigjson" == pushing["type"]
    checkout = await step_pod(world, name, "checkout-source")
    assert f"secret/{git}" in json.loads(checkout["metadata"]["annotations"]["kwok.choreo.dev/resolved"])

    await world.cp.delete(r.WORKFLOW_RUN, name, namespace=world.namespace)
    await world.wait_gone(name)
    owned = [(kind, n) for kind in (r.EXTERNAL_SECRET, r.SECRET) for n in (git, registry)]

    async def gone():
        return [(k.kind, n) for k, n in owned if await exists(world.bp, k, n, ns)] == [] or None

    await async_wait_for("the run's ExternalSecrets and their Secrets gone", gone, within=60)
    assert await world.argo(name) is None
