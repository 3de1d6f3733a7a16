"""The auto-build receiver over real HTTP on 127.0.0.1 against the real control plane.

Deliveries are built like GitHub's, GitLab's and Bitbucket Cloud's push webhooks (tests/gitpayloads.py) and
signed as each provider signs. A valid push builds exactly the Components it affects (repository, branch
and app path filters); every refusal answers its documented status and creates no WorkflowRun.
"""

import asyncio
import base64
import io
import pathlib
import uuid

import aiohttp
import pytest
import yaml
from gitpayloads import (
    COMMIT,
    bitbucket_push,
    body_of,
    github_push,
    gitlab_push,
    signed_bitbucket,
    signed_github,
    signed_gitlab,
)

from choreo_controller.api import resources as r
from choreo_controller.app_autobuild import PATH, AutoBuildServer
from choreo_controller.kube.config import connect  # imports kubernetes_asyncio at collection, not on the loop
from choreo_controller.reconcilers.autobuild import CachedSource
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.informer import Informer

pytestmark = pytest.mark.cluster
SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples" / "component"
SECRETS = {"github-secret": "gh-s3cret", "gitlab-secret": "gl-t0ken", "bitbucket-secret": "bb-s3cret"}


@pytest.fixture
async def api(control_plane):
    async with connect(control_plane.kubeconfig, qps=50, burst=100) as client:
        yield client


def component(namespace, name, url, *, branch="main", app_path="svc", auto_build=True):
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "owner": {"projectName": "shop"},
            "componentType": "deployment/service",
            "autoBuild": auto_build,
            "workflow": {
                "name": "component-docker",
                "parameters": {
                    "repository": {"url": url, "revision": {"branch": branch}, "appPath": app_path}
                },
            },
        },
    }


def components(owner):
    github = f"https://github.com/{owner}/shop"
    return [
        ("gh-svc", github, {}),
        ("gh-ssh-svc", f"git@github.com:{owner.upper()}/Shop.git", {}),  # same repository, another spelling
        ("gh-docs", github, {"app_path": "docs"}),
        ("gh-dev", github, {"branch": "dev"}),
        ("gh-off", github, {"auto_build": False}),
        ("gl-svc", f"https://gitlab.com/{owner}/shop.git", {}),
        ("bb-svc", f"https://bitbucket.org/{owner}/shop", {}),
    ]


@pytest.fixture
def owner():
    """Repositories unique to each test: the receiver looks at Components cluster-wide."""
    return f"acme-{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def namespace(api, owner):
    name = f"ab-{uuid.uuid4().hex[:8]}"
    await api.create(r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    workflow = yaml.safe_load((SAMPLES / "workflow-component-docker.yaml").read_text())
    workflow["metadata"]["namespace"] = name
    await api.create(r.WORKFLOW, workflow)
    for comp_name, url, options in components(owner):
        await api.create(r.COMPONENT, component(name, comp_name, url, **options))
    data = {k: base64.b64encode(v.encode()).decode() for k, v in SECRETS.items()}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-webhook-secrets", "namespace": name},
    }
    await api.create(r.SECRET, {**secret, "data": data})
    yield name
    await api.delete(r.NAMESPACE, name)


class Receiver:
    def __init__(self, server, session):
        self.server, self.session = server, session

    async def post(self, body, headers, params=None):
        url = f"http://127.0.0.1:{self.server.port}{PATH}"
        async with self.session.post(url, data=io.BytesIO(body), headers=headers, params=params) as resp:
            return resp.status, await resp.json()

    async def post_chunked(self, chunks, headers):
        async def stream():
            for chunk in chunks:
                yield chunk

        url = f"http://127.0.0.1:{self.server.port}{PATH}"
        async with self.session.post(url, data=stream(), headers=headers) as resp:
            return resp.status, await resp.json()


async def _serve(api, secret_namespace):
    server = AutoBuildServer.create(api, host="127.0.0.1", port=0, secret_namespace=secret_namespace)
    task = asyncio.create_task(server.run(), name="autobuild-server")
    await asyncio.wait_for(server.wait_started(), 10)
    return server, task


@pytest.fixture
async def receiver(api, namespace):
    server, task = await _serve(api, namespace)
    async with aiohttp.ClientSession() as session:
        yield Receiver(server, session)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def runs_in(api, namespace):
    return sorted(
        (
            run["metadata"]["labels"]["openchoreo.dev/component"],
            run["spec"]["workflow"]["parameters"]["repository"]["revision"].get("commit"),
        )
        for run in (await api.list(r.WORKFLOW_RUN, namespace)).items
    )


def gh(owner, *, secret=SECRETS["github-secret"], event="push", delivery=None, **push):
    body = body_of(github_push(owner, "shop", **push))
    return body, signed_github(body, secret, event=event, delivery=delivery)


def gl(owner, *, token=SECRETS["gitlab-secret"], **push):
    return body_of(gitlab_push(owner, "shop", **push)), signed_gitlab(token)


def bb(owner, *, secret=SECRETS["bitbucket-secret"], event="repo:push"):
    body = body_of(bitbucket_push(owner, "shop"))
    return body, signed_bitbucket(body, secret, event=event)


@pytest.mark.parametrize(
    ("delivery", "expected_components"),
    [
        pytest.param(gh, ["gh-ssh-svc", "gh-svc"], id="github-main-svc"),
        pytest.param(lambda o: gh(o, modified=("docs/guide.md",)), ["gh-docs"], id="github-path-filter"),
        pytest.param(
            lambda o: gh(o, branch="dev", modified=("svc/x",)),
            ["gh-dev"],
            id="github-branch-filter",
        ),
        pytest.param(gl, ["gl-svc"], id="gitlab"),
        pytest.param(bb, ["bb-svc"], id="bitbucket-paths-unknown-builds-the-repo"),
    ],
)
async def test_a_valid_push_builds_exactly_the_matching_components(
    api, owner, namespace, receiver, delivery, expected_components
):
    body, headers = delivery(owner)

    status, answer = await receiver.post(body, headers)

    assert (200, True) == (status, answer["success"])
    assert [f"{namespace}/{c}" for c in expected_components] == sorted(answer["affectedComponents"])
    assert len(expected_components) == answer["triggeredBuilds"]
    assert [(c, COMMIT) for c in expected_components] == await runs_in(api, namespace)


async def test_the_run_is_a_component_run_with_the_pushed_commit(api, owner, namespace, receiver):
    body, headers = gh(owner, modified=("docs/a.md",))
    _, answer = await receiver.post(body, headers)
    run_ns, run_name = answer["workflowRuns"][0].split("/")

    run = await api.get(r.WORKFLOW_RUN, run_name, run_ns)

    assert run_name.startswith("gh-docs-run-")
    assert len(run_name) == len("gh-docs-run-") + 8
    assert {"openchoreo.dev/project": "shop", "openchoreo.dev/component": "gh-docs"} == run["metadata"][
        "labels"
    ]
    assert {
        "kind": "Workflow",
        "name": "component-docker",
        "parameters": {
            "repository": {
                "url": f"https://github.com/{owner}/shop",
                "revision": {"branch": "main", "commit": COMMIT},
                "appPath": "docs",
            }
        },
    } == run["spec"]["workflow"]


def _oversize(owner):
    payload = github_push(owner, "shop")
    payload["padding"] = "x" * (1024 * 1024)
    body = body_of(payload)
    return body, signed_github(body, SECRETS["github-secret"])


def _malformed(owner):
    del owner
    body = b'{"ref": "refs/heads/main", "repository": '
    return body, signed_github(body, SECRETS["github-secret"])


@pytest.mark.parametrize(
    ("delivery", "expected_status", "expected_message"),
    [
        pytest.param(
            lambda o: gh(o, secret="wrong"),
            401,
            "the github webhook signature or token is invalid",
            id="github-bad-signature",
        ),
        pytest.param(
            lambda o: gl(o, token="wrong"),
            401,
            "the gitlab webhook signature or token is invalid",
            id="gitlab-bad-token",
        ),
        pytest.param(
            lambda o: bb(o, secret="wrong"),
            401,
            "the bitbucket webhook signature or token is invalid",
            id="bitbucket-bad-signature",
        ),
        pytest.param(
            lambda o: (body_of(github_push(o, "shop")), {"X-GitHub-Event": "push"}),
            401,
            "the github webhook signature or token is invalid",
            id="github-unsigned",
        ),
        pytest.param(
            lambda o: gl(o, host="github.com"),
            200,
            "0 build(s) triggered for 0 component(s)",
            id="wrong-provider-for-the-repository-host",
        ),
        pytest.param(_oversize, 413, "the body is larger than 1048576 bytes", id="oversize-body"),
        pytest.param(_malformed, 400, "the body is not valid JSON", id="malformed-json"),
        pytest.param(
            lambda o: gh(o, event="pull_request"),
            200,
            "event 'pull_request' ignored: only push events build",
            id="non-push",
        ),
        pytest.param(lambda o: gh(o, event="ping"), 200, "pong", id="github-ping"),
        pytest.param(lambda o: bb(o, event="diagnostics:ping"), 200, "pong", id="bitbucket-ping"),
        pytest.param(
            lambda _: (b"{}", {"Content-Type": "application/json"}),
            400,
            "unknown Git provider: expected X-Hub-Signature-256, X-Gitlab-Token or X-Event-Key",
            id="no-provider",
        ),
    ],
)
async def test_refusals_create_nothing(
    api, owner, namespace, receiver, delivery, expected_status, expected_message
):
    body, headers = delivery(owner)

    status, answer = await receiver.post(body, headers)

    assert (expected_status, expected_message, 0) == (status, answer["message"], answer["triggeredBuilds"])
    assert [] == await runs_in(api, namespace)


async def test_a_missing_secret_fails_closed(api, owner, namespace):
    server, task = await _serve(api, "kube-public")  # no git-webhook-secrets there
    try:
        async with aiohttp.ClientSession() as session:
            status, answer = await Receiver(server, session).post(*gh(owner))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert 401 == status
    assert answer["message"].startswith("no github webhook secret is configured")
    assert [] == await runs_in(api, namespace)


async def test_a_replayed_delivery_creates_nothing_new(api, owner, namespace, receiver):
    body, headers = gh(owner, delivery="7c1e2a9e-aaaa-4bbb-8ccc-123456789abc")

    first = await receiver.post(body, headers)
    replay = await receiver.post(body, headers)
    server, task = await _serve(api, namespace)  # a fresh process: the run names still collide
    try:
        async with aiohttp.ClientSession() as session:
            restarted = await Receiver(server, session).post(body, headers)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert [(200, 2), (200, 0), (200, 0)] == [
        (s, a["triggeredBuilds"]) for s, a in (first, replay, restarted)
    ]
    assert "this push was already handled; nothing created" == replay[1]["message"]
    assert sorted(restarted[1]["affectedComponents"]) == sorted(first[1]["affectedComponents"])
    assert [("gh-ssh-svc", COMMIT), ("gh-svc", COMMIT)] == await runs_in(api, namespace)


async def test_a_chunked_body_is_cut_at_the_cap(api, owner, namespace, receiver):
    body, headers = _oversize(owner)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    status, answer = await receiver.post_chunked(chunks, headers)

    assert (413, "the body is larger than 1048576 bytes") == (status, answer["message"])
    assert [] == await runs_in(api, namespace)


async def test_the_controllers_caches_as_source(api, owner, namespace):
    clock = RealClock()
    informers = [Informer(api, res, clock=clock) for res in (r.COMPONENT, r.WORKFLOW, r.CLUSTER_WORKFLOW)]
    source = CachedSource(*(i.store for i in informers))
    server = AutoBuildServer.create(api, host="127.0.0.1", port=0, secret_namespace=namespace, source=source)
    tasks = [asyncio.create_task(server.run(), name="autobuild-server")]
    try:
        await asyncio.wait_for(server.wait_started(), 10)
        async with aiohttp.ClientSession() as session:
            receiver = Receiver(server, session)
            body, headers = gh(owner)
            before_sync = await receiver.post(body, headers)
            tasks += [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in informers]
            await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in informers)), 30)
            after_sync = await receiver.post(body, headers)  # same delivery: the 503 was not remembered
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    assert (503, "Components are not loaded yet; redeliver to retry") == (
        before_sync[0],
        before_sync[1]["message"],
    )
    assert (200, 2) == (after_sync[0], after_sync[1]["triggeredBuilds"])
    assert [("gh-ssh-svc", COMMIT), ("gh-svc", COMMIT)] == await runs_in(api, namespace)


@pytest.mark.parametrize(
    "replayed_id",
    [pytest.param("another-delivery-id", id="new-delivery-id"), pytest.param(None, id="no-delivery-id")],
)
async def test_a_replay_with_a_new_or_no_delivery_id_creates_no_second_run(
    api, owner, namespace, receiver, replayed_id
):
    """Relay-review finding 8: the dedup key is what the signature covers, not the unsigned header."""
    body, headers = gh(owner, delivery="original-id")
    first = await receiver.post(body, headers)
    replayed = {k: v for k, v in headers.items() if k != "X-GitHub-Delivery"}
    if replayed_id is not None:
        replayed["X-GitHub-Delivery"] = replayed_id
    server, task = await _serve(api, namespace)  # a fresh process, which remembers nothing
    try:
        async with aiohttp.ClientSession() as session:
            again = await Receiver(server, session).post(body, replayed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert [(200, 2), (200, 0)] == [(s, a["triggeredBuilds"]) for s, a in (first, again)]
    assert [("gh-ssh-svc", COMMIT), ("gh-svc", COMMIT)] == await runs_in(api, namespace)


INJECTION = "$(id>&2;echo${IFS}PWNED>&2)"


async def test_an_injection_branch_is_refused_and_builds_nothing(api, owner, namespace):
    """Relay-review finding 2: the git-valid branch name never reaches a run, even for "any branch"."""
    await api.create(
        r.COMPONENT, component(namespace, "gh-any", f"https://github.com/{owner}/shop", branch="")
    )
    server, task = await _serve(api, namespace)
    try:
        async with aiohttp.ClientSession() as session:
            status, answer = await Receiver(server, session).post(*gh(owner, branch=INJECTION))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert 400 == status
    assert answer["message"].startswith("not a github push payload: ref name")
    assert "may only contain letters" in answer["message"]
    assert [] == await runs_in(api, namespace)


async def _scoped_secrets(api, namespace, data):
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    await api.merge_patch(r.SECRET, "git-webhook-secrets", {"data": encoded}, namespace=namespace)


async def test_scoped_secrets_build_only_their_own_components(api, owner, namespace):
    """Relay-review finding 7: a team with a key of its own cannot be triggered with the shared secret."""
    await _scoped_secrets(
        api,
        namespace,
        {f"{namespace}.gh-svc.github-secret": "svc-only", f"{namespace}.github-secret": "team"},
    )
    server, task = await _serve(api, namespace)
    try:
        async with aiohttp.ClientSession() as session:
            receiver = Receiver(server, session)
            shared = await receiver.post(*gh(owner))
            team = await receiver.post(*gh(owner, secret="team"), params={"namespace": namespace})
            own = await receiver.post(
                *gh(owner, secret="svc-only"), params={"namespace": namespace, "component": "gh-svc"}
            )
            forged = await receiver.post(
                *gh(owner, secret=SECRETS["github-secret"]),
                params={"namespace": namespace, "component": "gh-svc"},
            )
            bad_scope = await receiver.post(*gh(owner), params={"component": "gh-svc"})
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert (200, 0) == (shared[0], shared[1]["triggeredBuilds"])  # no Component of the namespace is "shared"
    assert (200, [f"{namespace}/gh-ssh-svc"]) == (team[0], team[1]["affectedComponents"])
    assert (200, [f"{namespace}/gh-svc"]) == (own[0], own[1]["affectedComponents"])
    assert (401, "the github webhook signature or token is invalid") == (forged[0], forged[1]["message"])
    assert (400, "bad webhook scope: ?component= needs ?namespace=") == (
        bad_scope[0],
        bad_scope[1]["message"],
    )
    assert [("gh-ssh-svc", COMMIT), ("gh-svc", COMMIT)] == await runs_in(api, namespace)
