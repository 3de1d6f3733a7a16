"""KubeClient over ApiClientTransport against the real control plane (client-certificate TLS, real Status
bodies): every verb, pagination, server-side apply, preconditions, and each error the apiserver can send."""

import uuid

import pytest
from waiting import async_wait_for

from choreo_controller import kube
from choreo_controller.api import resources
from choreo_controller.contracts import AlreadyExists, Conflict, Forbidden, Gone, NotFound, TooManyRequests
from choreo_controller.kube import client as kube_client

pytestmark = pytest.mark.cluster
CM = resources.CONFIG_MAP


def config_map(namespace, name, data=None):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {},
    }


@pytest.fixture
async def api(control_plane):
    async with kube.connect(control_plane.kubeconfig, qps=50, burst=100) as client:
        yield client


@pytest.fixture
async def namespace(api):
    name = f"client-{uuid.uuid4().hex[:8]}"
    await api.create(
        resources.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    await api.delete(resources.NAMESPACE, name)


async def test_verbs_round_trip(api, namespace):
    created = await api.create(CM, config_map(namespace, "a", {"k": "1"}))
    patched = await api.merge_patch(CM, "a", {"data": {"k": "2", "extra": "x"}}, namespace=namespace)
    applied = await api.apply(CM, config_map(namespace, "a", {"k": "3"}), field_manager="choreo-test")
    replaced = await api.replace(CM, {**applied, "data": {"k": "4"}})
    fetched = await api.get(CM, "a", namespace)
    assert ["1", "2", "3", "4", "4"] == [
        o["data"]["k"] for o in (created, patched, applied, replaced, fetched)
    ]
    assert "choreo-test" in {m["manager"] for m in applied["metadata"]["managedFields"]}
    await api.delete(CM, "a", namespace=namespace, uid=fetched["metadata"]["uid"])
    with pytest.raises(NotFound, match='configmaps "a" not found'):
        await api.get(CM, "a", namespace)


async def test_list_pages_through_everything(api, namespace):
    for i in range(5):
        await api.create(CM, config_map(namespace, f"cm-{i}", {"i": str(i)}))
    client = kube.KubeClient(api.transport, page_size=2)
    listed = await client.list(CM, namespace, label_selector="!missing")
    names = sorted(o["metadata"]["name"] for o in listed.items if o["metadata"]["name"].startswith("cm-"))
    assert [f"cm-{i}" for i in range(5)] == names
    assert {"ConfigMap"} == {o["kind"] for o in listed.items}
    assert listed.resource_version.isdigit()


@pytest.mark.parametrize(
    ("make_call", "expected_type", "expected_fragment"),
    [
        pytest.param(
            lambda api, obj: api.create(CM, config_map(obj["metadata"]["namespace"], "dup")),
            AlreadyExists,
            "already exists",
            id="already-exists",
        ),
        pytest.param(
            lambda api, obj: api.replace(
                CM, {**obj, "metadata": {**obj["metadata"], "resourceVersion": "1"}}
            ),
            Conflict,
            "the object has been modified",
            id="stale-resource-version",
        ),
        pytest.param(
            lambda api, obj: api.delete(CM, "dup", namespace=obj["metadata"]["namespace"], uid="not-the-uid"),
            Conflict,
            "precondition",
            id="uid-precondition",
        ),
        pytest.param(
            lambda api, obj: api.get(CM, "nope", obj["metadata"]["namespace"]),
            NotFound,
            "not found",
            id="not-found",
        ),
    ],
)
async def test_apiserver_errors_are_mapped(api, namespace, make_call, expected_type, expected_fragment):
    obj = await api.create(CM, config_map(namespace, "dup"))
    with pytest.raises(expected_type) as caught:
        await make_call(api, obj)
    assert expected_type is type(caught.value)
    assert expected_fragment in caught.value.message


async def test_watch_sees_changes_and_old_resource_version_is_gone(api, namespace):
    listed = await api.list(CM, namespace)
    events = api.watch(CM, namespace, resource_version=listed.resource_version, timeout_seconds=30)
    await api.create(CM, config_map(namespace, "watched"))
    seen = await anext(events)
    await events.aclose()
    assert ("ADDED", "watched") == (seen.type, seen.object["metadata"]["name"])

    # The WorkflowRun watch cache started when its CRD was established, long after resourceVersion 1.
    # Until that cache is initialised (a loaded machine, a fresh plane) the apiserver answers 429.
    async def gone_or_none():
        try:
            await anext(api.watch(resources.WORKFLOW_RUN, namespace, resource_version="1", timeout_seconds=5))
        except TooManyRequests:
            return None
        except Gone as gone:
            return gone
        return "a watch from resourceVersion 1 delivered an event"

    answer = await async_wait_for("the WorkflowRun watch cache", gone_or_none, within=60, interval=0.5)
    assert isinstance(answer, Gone)
    assert "too old resource version" in str(answer)


async def test_unprivileged_user_is_forbidden(control_plane, namespace):
    kubeconfig = control_plane.user_kubeconfig(f"nobody-{namespace}")
    async with kube.connect(kubeconfig) as nobody:
        with pytest.raises(Forbidden, match="cannot get resource"):
            await nobody.get(CM, "x", namespace)


async def test_a_custom_resource_list_requests_each_next_page_before_decoding_the_page(
    api, namespace, monkeypatch
):
    """The apiserver encodes a CR list with its metadata last: ``list_pages`` reads the continue token there."""
    for i in range(5):
        run = {"apiVersion": resources.API_VERSION, "kind": "WorkflowRun",
               "metadata": {"name": f"run-{i}", "namespace": namespace},
               "spec": {"workflow": {"name": "docker"}}}  # fmt: skip
        await api.create(resources.WORKFLOW_RUN, run)
    sent = []

    class Recording:
        async def request(self, req):
            sent.append(dict(req.query).get("continue"))
            return await api.transport.request(req)

    decoding, decode = [], kube_client._decode
    monkeypatch.setattr(
        kube_client, "_decode", lambda req, body: decoding.append(len(sent)) or decode(req, body)
    )
    pages = [
        p
        async for p in kube.KubeClient(Recording(), page_size=2).list_pages(resources.WORKFLOW_RUN, namespace)
    ]

    assert [["run-0", "run-1"], ["run-2", "run-3"], ["run-4"]] == [
        [o["metadata"]["name"] for o in p.items] for p in pages
    ]
    assert ([2, 3, 3], 3) == (decoding, len(sent))  # each next request out before its page was decoded
    assert None not in sent[1:]


@pytest.mark.parametrize("res", [resources.WORKFLOW_RUN, CM])
async def test_a_list_without_managed_fields_as_the_apiserver_encodes_it(api, namespace, monkeypatch, res):
    """A custom resource's list comes encoded so that its managedFields are cut before decoding; a
    built-in kind's (in field order) is decoded whole. Either way the items are the list's without them."""
    for i in range(3):
        obj = ({"apiVersion": resources.API_VERSION, "kind": "WorkflowRun",
                "metadata": {"name": f"obj-{i}", "namespace": namespace},
                "spec": {"workflow": {"name": "docker"}}}
               if res is resources.WORKFLOW_RUN else config_map(namespace, f"obj-{i}", {"k": "v"}))  # fmt: skip
        await api.create(res, obj)
        labels = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                  "metadata": {"name": f"obj-{i}", "namespace": namespace, "labels": {"l": "x"}}}  # fmt: skip
        await api.apply(res, labels, field_manager="choreo-test")
    whole = (await api.list(res, namespace, label_selector="l=x")).items  # not kube-root-ca.crt
    decoded, decode = [], kube_client._decode
    monkeypatch.setattr(kube_client, "_decode", lambda req, body: decoded.append(body) or decode(req, body))
    pages = kube.KubeClient(api.transport, page_size=2).list_pages(
        res, namespace, label_selector="l=x", managed_fields=False
    )
    items = [o async for p in pages for o in p.items]

    assert all(len(o["metadata"]["managedFields"]) == 2 for o in whole)  # two managers: create and apply
    for o in whole:
        del o["metadata"]["managedFields"]
    assert whole == items
    assert 2 == len(decoded)
    assert (res is CM) == all(b"fieldsV1" in body for body in decoded)


async def test_a_run_whose_parameters_look_like_managed_fields_is_listed_all_the_same(api, namespace):
    """Bad input: parameters shaped like a managedFields list with no ``name`` after it - cut, the page
    would not be JSON - are listed as stored: the page is decoded whole instead (before, the list raised,
    and with it every informer of runs in the controller)."""
    look_alike = {"managedFields": [{"apiVersion": "x"}]}
    for i, parameters in enumerate((look_alike, {"a": 1})):
        run = {"apiVersion": resources.API_VERSION, "kind": "WorkflowRun",
               "metadata": {"name": f"run-{i}", "namespace": namespace},
               "spec": {"workflow": {"name": "docker", "parameters": parameters}}}  # fmt: skip
        await api.create(resources.WORKFLOW_RUN, run)
    whole = (await api.list(resources.WORKFLOW_RUN, namespace)).items
    pages = kube.KubeClient(api.transport).list_pages(resources.WORKFLOW_RUN, namespace, managed_fields=False)
    items = [o async for p in pages for o in p.items]

    for o in whole:
        del o["metadata"]["managedFields"]
    assert whole == items
    assert look_alike == items[0]["spec"]["workflow"]["parameters"]
