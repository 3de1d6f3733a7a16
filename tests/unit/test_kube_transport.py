"""ApiClientTransport and connect() against a real aiohttp server on loopback (no apiserver needed)."""

import asyncio
import base64
import contextlib
import gc
import json
import socket
import ssl
import sys
import threading
import warnings

import aiohttp
import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration
from localcluster.pki import CA, cert_pem, write_pair

from choreo_controller.api import resources
from choreo_controller.contracts import ApiRequest, ApiResponse, Forbidden, Unavailable, WatchEvent
from choreo_controller.kube import connect
from choreo_controller.kube.transport import NewestFirstConnector

TOKEN = "t0ken-not-real"


class FakeApiserver:
    """A few routes that behave like an apiserver; records what the client sent."""

    def __init__(self):
        self.seen = []
        self.on_request = lambda _request: None
        self.stream_ended = asyncio.Event()
        self.never = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/api/v1/namespaces/{name}", self.namespace)
        app.router.add_get("/redirect", self.redirect)
        app.router.add_get("/slow", self.slow)
        app.router.add_get("/apis/openchoreo.dev/v1alpha1/namespaces/ns/workflowruns", self.watch)
        self.runner = web.AppRunner(app)

    async def start(self):
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    def record(self, request, body):
        self.seen.append(
            (
                request.method,
                request.path_qs,
                request.headers.get("Authorization"),
                request.headers.get("Content-Type"),
                body,
            )
        )

    async def namespace(self, request):
        self.on_request(request)
        self.record(request, await request.read())
        name = request.match_info["name"]
        if name == "missing":
            status = {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": 'namespaces "missing" not found',
            }
            return web.json_response(status, status=404)
        return web.json_response({"kind": "Namespace", "metadata": {"name": name}})

    async def redirect(self, _request):
        raise web.HTTPFound("http://example.invalid/")

    async def slow(self, _request):
        await self.never.wait()
        return web.Response()

    async def watch(self, request):
        self.record(request, b"")
        if request.query.get("resourceVersion") == "forbidden":
            status = {"kind": "Status", "code": 403, "reason": "Forbidden", "message": "watch is forbidden"}
            return web.json_response(status, status=403)
        resp = web.StreamResponse()
        await resp.prepare(request)
        events = b"".join(
            json.dumps({"type": "ADDED", "object": {"metadata": {"name": f"r{i}"}}}).encode() + b"\n"
            for i in range(3)
        )
        try:
            # Split mid-line on purpose: the client must reassemble lines across chunks.
            for chunk in (events[:10], events[10:70], events[70:]):
                await resp.write(chunk)
            if request.query.get("resourceVersion") == "endless":
                while True:
                    await resp.write(b"\n")
                    await asyncio.sleep(0.01)
            await resp.write(b'{"type":"DELETED","object":{"metadata":{"name":"last"}}}')
        finally:
            self.stream_ended.set()
        return resp


@pytest.fixture
async def server():
    fake = FakeApiserver()
    port = await fake.start()
    fake.port = port
    yield fake
    fake.never.set()
    await fake.runner.cleanup()


@pytest.fixture
def kubeconfig(tmp_path, server):
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "other",
                "clusters": [
                    {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.port}"}},
                    {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:1"}},
                ],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "u"}},
                    {"name": "other", "context": {"cluster": "nowhere", "user": "u"}},
                ],
            }
        )
    )
    return path


async def test_request_returns_any_status_with_auth_and_content_type(server, kubeconfig):
    default_before = Configuration._default
    async with connect(kubeconfig, "fake") as api:
        transport = api.transport
        found = await transport.request(
            ApiRequest("GET", "/api/v1/namespaces/a", (("labelSelector", "x in (a,b)"),))
        )
        missing = await transport.request(
            ApiRequest(
                "PATCH", "/api/v1/namespaces/missing", body=b"{}", content_type="application/merge-patch+json"
            )
        )
    assert 200 == found.status
    assert {"kind": "Namespace", "metadata": {"name": "a"}} == json.loads(found.body)
    assert 404 == missing.status
    assert [
        ("GET", "/api/v1/namespaces/a?labelSelector=x+in+%28a%2Cb%29", f"Bearer {TOKEN}", None, b""),
        ("PATCH", "/api/v1/namespaces/missing", f"Bearer {TOKEN}", "application/merge-patch+json", b"{}"),
    ] == server.seen
    assert default_before is Configuration._default


async def test_client_over_transport_maps_and_watches(server, kubeconfig):
    async with connect(kubeconfig, "fake") as api:
        assert "a" == (await api.get(resources.NAMESPACE, "a"))["metadata"]["name"]
        events = [e async for e in api.watch(resources.WORKFLOW_RUN, "ns", resource_version="1")]
        with pytest.raises(Forbidden, match="watch is forbidden"):
            async for _ in api.watch(resources.WORKFLOW_RUN, "ns", resource_version="forbidden"):
                pass
    expected = [WatchEvent("ADDED", {"metadata": {"name": f"r{i}"}}) for i in range(3)]
    assert [*expected, WatchEvent("DELETED", {"metadata": {"name": "last"}})] == events


async def test_abandoned_watch_closes_the_connection(server, kubeconfig):
    async with connect(kubeconfig, "fake") as api:
        events = api.watch(resources.WORKFLOW_RUN, "ns", resource_version="endless")
        assert "r0" == (await anext(events)).object["metadata"]["name"]
        await events.aclose()
        async with asyncio.timeout(5):
            await server.stream_ended.wait()


@pytest.mark.parametrize(
    ("context", "path", "limit", "expected_status"),
    [
        pytest.param("other", "/api/v1/namespaces/a", None, None, id="connection-refused"),
        pytest.param("fake", "/slow", 0.2, None, id="timeout"),
        pytest.param("fake", "/redirect", None, 302, id="redirect-not-followed"),
    ],
)
async def test_unreachable_is_unavailable(server, kubeconfig, context, path, limit, expected_status):
    async with connect(kubeconfig, context) as api:
        req = ApiRequest("GET", path, timeout=limit)
        if expected_status is None:
            with pytest.raises(Unavailable):
                await api.transport.request(req)
        else:
            resp = await api.transport.request(req)
            assert expected_status == resp.status


@pytest.mark.parametrize(("compression", "expected"), [(True, "gzip"), (False, "identity")])
async def test_compressed_responses_can_be_declined(server, kubeconfig, compression, expected):
    """``compression=False`` (the controller's): no gzip asked for, by the transport and its siblings."""
    asked = []
    server.on_request = lambda request: asked.append(request.headers.get("Accept-Encoding", ""))
    async with connect(kubeconfig, "fake", compression=compression) as api:
        await api.transport.request(ApiRequest("GET", "/api/v1/namespaces/a"))
        sibling = api.transport.unthrottled()
        await sibling.request(ApiRequest("GET", "/api/v1/namespaces/b"))
    assert [expected in value for value in asked] == [True, True], asked


async def test_rate_limited_transport_and_unthrottled_sibling(server, kubeconfig):
    async with connect(kubeconfig, "fake", qps=1000, burst=1) as api:
        sibling = api.transport.unthrottled()
        resp = await sibling.request(ApiRequest("GET", "/api/v1/namespaces/b"))
        await sibling.close()  # a sibling does not own the session
        again = await api.transport.request(ApiRequest("GET", "/api/v1/namespaces/c"))
    assert [200, 200] == [resp.status, again.status]
    assert isinstance(resp, ApiResponse)


def test_closed_port_is_really_closed():
    # Guards the connection-refused case above: port 1 must not be listening on this machine.
    with socket.socket() as sock:
        assert 0 != sock.connect_ex(("127.0.0.1", 1))


@pytest.mark.parametrize(
    ("env_at_connect", "env_after_connect", "via_proxy"),
    [
        pytest.param({"HTTP_PROXY": "proxy"}, {}, True, id="environment-proxy-read-at-connect"),
        pytest.param({"HTTP_PROXY": "proxy", "NO_PROXY": "127.0.0.1"}, {}, False, id="no-proxy-bypasses-it"),
        pytest.param({}, {"HTTP_PROXY": "proxy"}, False, id="environment-not-read-per-request"),
    ],
)
async def test_proxy_from_the_environment_is_read_once(
    server, kubeconfig, monkeypatch, env_at_connect, env_after_connect, via_proxy
):
    proxy = FakeApiserver()  # answers absolute-form requests like the apiserver: a forwarding stand-in
    proxy_port = await proxy.start()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def apply(env):
        for name, value in env.items():
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}" if value == "proxy" else value)

    apply(env_at_connect)
    try:
        async with connect(kubeconfig, "fake") as api:
            apply(env_after_connect)
            resp = await api.transport.request(ApiRequest("GET", "/api/v1/namespaces/a"))
            trusts_env = api.transport._session.trust_env
    finally:
        await proxy.runner.cleanup()
    assert (200, False) == (resp.status, trusts_env)
    assert (via_proxy, not via_proxy) == (bool(proxy.seen), bool(server.seen))


@pytest.mark.parametrize(("pool_size", "expected"), [(None, 100), (336, 336)])
async def test_the_connection_pool_can_be_sized_for_many_watches(kubeconfig, pool_size, expected):
    """Relay-review finding 9: 256 watches on the library's 100-connection pool starved plain GETs; the
    agent now connects with room for all its watches plus its requests (``cli.agent``)."""
    async with connect(kubeconfig, "fake", pool_size=pool_size) as api:
        assert expected == api.transport._session.connector.limit


class PeerCounter:
    """A loopback server that holds requests to ``/hold`` until ``held`` of them are in, and names each
    request's client port: how many connections a client opened and which one each request used."""

    def __init__(self, held):
        self.held = held
        self.arrived = 0
        self.all_in = asyncio.Event()
        app = web.Application()
        app.router.add_get("/hold", self.hold)
        app.router.add_get("/peer", self.peer)
        self.runner = web.AppRunner(app)

    async def hold(self, request):
        self.arrived += 1
        if self.arrived == self.held:
            self.all_in.set()
        await self.all_in.wait()
        return await self.peer(request)

    async def peer(self, request):
        return web.Response(text=str(request.transport.get_extra_info("peername")[1]))

    def open_connections(self):
        return len(self.runner.server.connections)


@pytest.mark.parametrize(
    ("connector_class", "left_open"), [(aiohttp.TCPConnector, 4), (NewestFirstConnector, 1)]
)
async def test_the_pool_shrinks_back_after_a_busy_moment_under_steady_traffic(connector_class, left_open):
    """aiohttp reuses the oldest idle connection first, so under steady traffic no connection is ever idle
    for the keep-alive timeout and the pool keeps its busiest size (the plain connector's case shows that
    our subclass is still needed); reusing the newest lets the surplus idle out."""
    server = PeerCounter(held=4)
    await server.runner.setup()
    site = web.TCPSite(server.runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    keepalive = 1.0
    try:
        async with aiohttp.ClientSession(connector=connector_class(keepalive_timeout=keepalive)) as http:

            async def get(path):
                async with http.get(base + path) as resp:
                    return await resp.text()

            busy = await asyncio.gather(*(get("/hold") for _ in range(4)))
            assert 4 == len(set(busy)) == server.open_connections()
            loop = asyncio.get_running_loop()
            steady_until = loop.time() + 2.5 * keepalive
            used = []
            for _ in range(1000):  # bounded: a request every 20 ms for 2.5 keep-alive timeouts
                used.append(await get("/peer"))
                if loop.time() > steady_until:
                    break
                await asyncio.sleep(0.02)
            assert left_open == len(set(used[-20:])) == server.open_connections()
    finally:
        await server.runner.cleanup()


LIGHT_PROCESS = """
import asyncio, json, sys
from choreo_controller import kube
from choreo_controller.api import resources

async def main():
    async with kube.connect(sys.argv[1], "fake") as api:
        name = (await api.get(resources.NAMESPACE, "a"))["metadata"]["name"]
    loaded = sorted(m for m in sys.modules if m.startswith("kubernetes_asyncio"))
    print(json.dumps({"name": name, "loaded": loaded}))

asyncio.run(main())
"""


async def test_a_fresh_process_connects_without_the_generated_client(server, kubeconfig):
    # This test process imported the real package above; kube.library's light path shows in a new one.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LIGHT_PROCESS, str(kubeconfig), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    result = json.loads(out)
    assert (0, "a") == (proc.returncode, result["name"])
    assert "kubernetes_asyncio.config.kube_config" in result["loaded"]
    generated = [
        m
        for m in result["loaded"]
        if m.startswith(("kubernetes_asyncio.client.api", "kubernetes_asyncio.client.models"))
    ]
    assert [] == generated
    assert len(result["loaded"]) < 20


class SilentTlsServer:
    """A TLS apiserver in a thread that answers a watch with one event and then neither writes nor reads:
    a client's TLS goodbye is never answered."""

    def __init__(self, directory):
        ca = CA.new("test-ca")
        cert, key = ca.issue("apiserver", ips=("127.0.0.1",), server=True)
        crt, pem = write_pair(directory, "apiserver", cert, key)
        self.ca_pem = cert_pem(ca.cert)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(crt, pem)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        with self._listener, contextlib.suppress(OSError):
            raw, _ = self._listener.accept()
            with self._context.wrap_socket(raw, server_side=True) as conn:
                while b"\r\n\r\n" not in conn.recv(65536):
                    pass
                line = json.dumps({"type": "ADDED", "object": {"metadata": {"name": "r0"}}}).encode() + b"\n"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(line):x}\r\n".encode() + line + b"\r\n")  # fmt: skip
                self._done.wait(30)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join(5)


def test_an_abandoned_tls_watch_leaves_no_socket_when_the_loop_ends(tmp_path):
    """A watch given up just before its event loop ends (a CLI's run, a test) is aborted, not closed: a TLS
    close waits for the server's goodbye in the background, and the loop's end left that socket open."""
    with SilentTlsServer(tmp_path) as server:
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "tls",
            "clusters": [{"name": "tls", "cluster": {
                "server": f"https://127.0.0.1:{server.port}",
                "certificate-authority-data": base64.b64encode(server.ca_pem).decode()}}],
            "users": [{"name": "u", "user": {"token": TOKEN}}],
            "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "u"}}],
        }))  # fmt: skip

        async def abandon_a_watch():
            async with connect(path, "tls") as api:
                events = api.watch(resources.WORKFLOW_RUN, "ns", resource_version="1")
                assert "r0" == (await anext(events)).object["metadata"]["name"]
                await events.aclose()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            asyncio.run(abandon_a_watch())
            gc.collect()
    assert [] == [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
