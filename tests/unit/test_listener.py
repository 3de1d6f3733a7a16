"""``runtime.listener``: caps, per-source limits and the head deadline, over real sockets on 127.0.0.1.

Slow-loris (relay-review finding 6): a socket that never completes a request head - or never starts TLS -
is reset by the head deadline; here it is shortened, the production default (10 s) is covered by the
integration test on the real listeners.
"""

import asyncio
import contextlib
import ssl
import time

import aiohttp
import pytest
from localcluster.pki import CA, write_pair
from relayharness import Pki, running_gateway
from waiting import async_wait_for

from choreo_controller.relay.identity import PlaneRef
from choreo_controller.relay.planes import PlaneDirectory
from choreo_controller.runtime.listener import Listener, ListenerLimits


async def hello(_request):
    return aiohttp.web.Response(text="hi")


class Served:
    def __init__(self, limits, ssl_context=None):
        self.listener = Listener(limits, ssl_context=ssl_context)
        app = aiohttp.web.Application(middlewares=[self.listener.middleware])
        app.router.add_get("/", hello)
        self.runner = aiohttp.web.AppRunner(app, keepalive_timeout=limits.idle_timeout)
        self.port = 0

    async def __aenter__(self):
        await self.runner.setup()
        self.port = await self.listener.start(self.runner, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc):
        await self.listener.stop()
        await self.runner.cleanup()


async def closed_within(reader, seconds):
    """Seconds until the server closed the socket (EOF or reset)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(1024):
                pass
    except ConnectionError:
        pass
    return time.monotonic() - started


async def test_a_slow_loris_head_is_cut_at_the_deadline():
    async with Served(ListenerLimits(header_timeout=0.5)) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        took = await closed_within(reader, 5)
        writer.close()
        assert 0.4 < took < 3
        assert 1 == served.listener.expired
        await async_wait_for("the slot is free again", lambda: _zero(served.listener), 5)


async def _zero(listener):
    return listener.open == 0


async def test_a_silent_tls_socket_is_cut_at_the_deadline(tmp_path):
    ca = CA.new("srv-ca")
    ca_file, _ = ca.write(tmp_path, "srv-ca")
    cert, key = write_pair(tmp_path, "srv", *ca.issue("srv", ips=("127.0.0.1",), server=True))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    async with Served(ListenerLimits(header_timeout=0.5), ctx) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)  # no ClientHello ever
        took = await closed_within(reader, 5)
        writer.close()
        assert took < 3
        await async_wait_for("the slot is free again", lambda: _zero(served.listener), 5)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.load_verify_locations(cafile=str(ca_file))
        url = f"https://127.0.0.1:{served.port}/"  # a prompt client is served over the same TLS path
        async with aiohttp.ClientSession() as http, http.get(url, ssl=client) as resp:
            assert "hi" == await resp.text()


async def test_kept_alive_requests_are_served_and_idle_ones_closed():
    async with Served(ListenerLimits(header_timeout=0.3, idle_timeout=0.3)) as served:
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.get(f"http://127.0.0.1:{served.port}/") as resp:
                    assert "hi" == await resp.text()
        assert 0 == served.listener.expired


async def test_connections_per_source_are_capped():
    async with Served(ListenerLimits(per_source=3, reserved=0)) as served:
        sockets = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(3)]
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        took = await closed_within(reader, 2)
        assert took < 1
        assert (3, 1) == (served.listener.open, served.listener.refused)
        for _, w in [*sockets, (reader, writer)]:
            w.close()


async def test_the_reserve_is_kept_for_sources_that_authenticated_before():
    limits = ListenerLimits(max_connections=4, per_source=100, reserved=2)
    async with Served(limits) as served:
        held = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        assert await closed_within(reader, 2) < 1  # a stranger does not get the reserved places
        served.listener._known["127.0.0.1"] = None  # as ``promote`` records an authenticated agent
        known = await asyncio.open_connection("127.0.0.1", served.port)
        known[1].write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"hi" in await asyncio.wait_for(known[0].read(), 5)
        for _, w in [*held, (reader, writer), known]:
            w.close()


async def test_a_flood_from_one_source_gets_429_before_any_work():
    async with Served(ListenerLimits(rate=1.0, burst=5)) as served, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(20):
            async with http.get(f"http://127.0.0.1:{served.port}/") as resp:
                statuses.append(resp.status)
    assert statuses.count(200) <= 6
    assert statuses.count(429) >= 14


@pytest.mark.parametrize("field", ["header_timeout", "idle_timeout", "body_timeout"])
def test_defaults_close_slow_clients_within_a_minute(field):
    assert getattr(ListenerLimits(), field) <= 60


async def test_slow_loris_on_the_real_gateway_is_closed_within_a_minute(tmp_path):
    """Relay-review finding 6 with the production limits: a socket that completes TLS and then trickles a
    request head, and one that never starts TLS, are both reset by the gateway's head deadline (10 s)."""
    pki = Pki(tmp_path)
    directory = PlaneDirectory([pki.record("p1", PlaneRef("BuildPlane", "a", "p1"))])
    async with running_gateway(pki, directory) as gateway:
        started = time.monotonic()
        silent = await asyncio.open_connection("127.0.0.1", gateway.port)
        ctx = pki.context(pki.agent("p1"))
        ctx.check_hostname = False
        trickle = await asyncio.open_connection("127.0.0.1", gateway.port, ssl=ctx)

        async def drip():
            with contextlib.suppress(ConnectionError):
                for byte in b"GET /v1/agent HTTP/1.1\r\nHost: x\r\n":
                    trickle[1].write(bytes([byte]))
                    await trickle[1].drain()
                    await asyncio.sleep(1)

        dripping = asyncio.create_task(drip())
        closed = await asyncio.gather(closed_within(silent[0], 60), closed_within(trickle[0], 60))
        dripping.cancel()
        for _, writer in (silent, trickle):
            writer.close()
        expired = gateway._listener.expired
    assert max(closed) < 60
    assert time.monotonic() - started < 60
    assert 2 == expired
