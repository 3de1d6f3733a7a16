"""The apiserver semantics the engine's correctness rests on, as cases any ``KubeApi`` can be put through.

``tests/unit/test_fakeapi.py`` runs every case on ``fakeapi.FakeApi``; ``tests/integration/
test_fakeapi_parity.py`` runs the same cases on the real control plane. Both compare with the same
expected answers, so the fake the reconciler tests rely on cannot drift from kube-apiserver unnoticed.

A case is ``async (api, namespace) -> answer``; errors are answered by their class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from choreo_controller.api import resources as r
from choreo_controller.contracts import ApiError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from choreo_controller.contracts import KubeApi

Case = "Callable[[KubeApi, str], Awaitable[Any]]"


async def outcome(call: Awaitable[Any]) -> Any:
    """``"ok"`` or the error's class name."""
    try:
        await call
    except ApiError as exc:
        return type(exc).__name__
    return "ok"


def configmap(namespace: str, name: str = "c", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        **fields,
    }


def run(namespace: str, name: str = "w", finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": r.API_VERSION, "kind": "WorkflowRun", "metadata": meta,
            "spec": {"workflow": {"name": "docker", "parameters": {"a": 1}}}}  # fmt: skip


async def missing(api: KubeApi, ns: str) -> Any:
    return [
        await outcome(api.get(r.CONFIG_MAP, "nope", ns)),
        await outcome(api.merge_patch(r.CONFIG_MAP, "nope", {"data": {"a": "b"}}, namespace=ns)),
        await outcome(api.delete(r.CONFIG_MAP, "nope", namespace=ns)),
    ]


async def create_twice(api: KubeApi, ns: str) -> Any:
    await api.create(r.CONFIG_MAP, configmap(ns))
    return await outcome(api.create(r.CONFIG_MAP, configmap(ns)))


async def stale_resource_version(api: KubeApi, ns: str) -> Any:
    first = await api.create(r.CONFIG_MAP, configmap(ns, data={"a": "1"}))
    await api.merge_patch(r.CONFIG_MAP, "c", {"data": {"a": "2"}}, namespace=ns)
    stale = {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}, "data": {"a": "3"}}
    answer = await outcome(api.merge_patch(r.CONFIG_MAP, "c", stale, namespace=ns))
    return answer, (await api.get(r.CONFIG_MAP, "c", ns))["data"]


async def uid_preconditions(api: KubeApi, ns: str) -> Any:
    await api.create(r.CONFIG_MAP, configmap(ns))
    wrong = {"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}, "data": {"a": "b"}}
    return [
        await outcome(api.merge_patch(r.CONFIG_MAP, "c", wrong, namespace=ns)),
        await outcome(
            api.delete(r.CONFIG_MAP, "c", namespace=ns, uid="00000000-0000-0000-0000-000000000000")
        ),
        await outcome(api.get(r.CONFIG_MAP, "c", ns)),
    ]


async def merge_patch_rfc7386(api: KubeApi, ns: str) -> Any:
    await api.create(r.CONFIG_MAP, configmap(ns, data={"keep": "1", "drop": "2"}, metadata={"name": "c", "namespace": ns, "labels": {"a": "1", "b": "2"}}))  # fmt: skip
    patch = {"metadata": {"labels": {"b": None, "c": "3"}}, "data": {"drop": None, "new": "4"}}
    patched = await api.merge_patch(r.CONFIG_MAP, "c", patch, namespace=ns)
    return patched["metadata"]["labels"], patched["data"]


async def status_subresource(api: KubeApi, ns: str) -> Any:
    await api.create(r.WORKFLOW_RUN, run(ns))
    via_object = {"status": {"startedAt": "2026-01-01T00:00:00Z"}, "metadata": {"labels": {"x": "y"}}}
    await api.merge_patch(r.WORKFLOW_RUN, "w", via_object, namespace=ns)
    via_status = {"status": {"completedAt": "2026-01-02T00:00:00Z"}, "spec": {"ttlAfterCompletion": "1h"}}
    after = await api.merge_patch(r.WORKFLOW_RUN, "w", via_status, namespace=ns, subresource="status")
    return after.get("status"), after["metadata"].get("labels"), after["spec"].get("ttlAfterCompletion")


async def generation(api: KubeApi, ns: str) -> Any:
    created = await api.create(r.WORKFLOW_RUN, run(ns))
    seen = [created["metadata"]["generation"]]
    patches = [({"metadata": {"labels": {"x": "y"}}}, None), ({"status": {"startedAt": "2026-01-01T00:00:00Z"}}, "status"),
               ({"spec": {"ttlAfterCompletion": "1h"}}, None)]  # fmt: skip
    for patch, sub in patches:
        seen.append((await api.merge_patch(r.WORKFLOW_RUN, "w", patch, namespace=ns, subresource=sub))["metadata"]["generation"])  # fmt: skip
    return seen


async def finalizers(api: KubeApi, ns: str) -> Any:
    await api.create(r.WORKFLOW_RUN, run(ns, finalizers=["example.com/a"]))
    await api.delete(r.WORKFLOW_RUN, "w", namespace=ns)
    deleting = await api.get(r.WORKFLOW_RUN, "w", ns)
    again = await outcome(api.delete(r.WORKFLOW_RUN, "w", namespace=ns))
    add = {"metadata": {"finalizers": ["example.com/a", "example.com/b"]}}
    added = await outcome(api.merge_patch(r.WORKFLOW_RUN, "w", add, namespace=ns))
    await api.merge_patch(r.WORKFLOW_RUN, "w", {"metadata": {"finalizers": None}}, namespace=ns)
    gone = await outcome(api.get(r.WORKFLOW_RUN, "w", ns))
    return bool(deleting["metadata"].get("deletionTimestamp")), again, added, gone


async def label_selectors(api: KubeApi, ns: str) -> Any:
    for name, labels in (("a", {"k": "1"}), ("b", {"k": "2"}), ("c", {})):
        await api.create(r.CONFIG_MAP, {**configmap(ns, name), "metadata": {"name": name, "namespace": ns, "labels": labels}})  # fmt: skip
    answers = []
    for selector in ("k=1", "k!=1", "k", "!k", "k=1,k", "k in (1,2)", "k notin (1,3)", "k in (2, 3),k!=3"):
        listed = await api.list(r.CONFIG_MAP, ns, label_selector=selector)
        answers.append(sorted(o["metadata"]["name"] for o in listed.items if o["metadata"]["name"] in "abc"))
    return answers


CASES: list[tuple[str, Any, Any]] = [
    ("missing-object", missing, ["NotFound", "NotFound", "NotFound"]),
    ("create-twice", create_twice, "AlreadyExists"),
    ("stale-resource-version", stale_resource_version, ("Conflict", {"a": "2"})),
    ("uid-preconditions", uid_preconditions, ["Invalid", "Conflict", "ok"]),
    ("merge-patch-rfc7386", merge_patch_rfc7386, ({"a": "1", "c": "3"}, {"keep": "1", "new": "4"})),
    ("status-subresource", status_subresource, ({"completedAt": "2026-01-02T00:00:00Z"}, {"x": "y"}, None)),
    ("generation", generation, [1, 1, 1, 2]),
    ("finalizers", finalizers, (True, "ok", "Invalid", "NotFound")),
    (
        "label-selectors",
        label_selectors,
        [["a"], ["b", "c"], ["a", "b"], ["c"], ["a"], ["a", "b"], ["b", "c"], ["b"]],
    ),
]
