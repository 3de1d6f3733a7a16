"""FrameSender: a sender cancelled while the websocket's transport is paused never fails another's send.

A real aiohttp websocket server on 127.0.0.1 and a raw client socket that reads nothing until told to, with
small socket buffers, so the server's transport pauses after the first large frame.
"""

import asyncio
import contextlib
import socket

import pytest
from aiohttp import web

from choreo_controller.relay.sender import FrameSender

FRAME = "x" * (1 << 20)
ON_THE_WIRE = len(FRAME) + 10  # a server frame over 64 KiB: 2 header bytes and a 64-bit length, unmasked
SMALL_BUFFER = 16 * 1024


@contextlib.asynccontextmanager
async def paused_websocket():
    """Yields (the server's websocket, a reader of the client's socket that has read nothing yet)."""
    sockets: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()
    finished = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=0.5)  # a close waits this long for the client's reply
        await ws.prepare(request)
        assert request.transport is not None
        request.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER
        )
        await sockets.put(ws)
        await finished.wait()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    client.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(client, (host, port))
        reader, writer = await asyncio.open_connection(sock=client, limit=SMALL_BUFFER)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        ws = await asyncio.wait_for(sockets.get(), 10)
        yield ws, reader
        finished.set()
        writer.close()
    finally:
        client.close()
        await runner.cleanup()


async def test_a_cancelled_sender_does_not_fail_another_waiting_on_the_paused_transport():
    async with paused_websocket() as (ws, reader):
        sender = FrameSender(ws.send_str)
        first = asyncio.create_task(sender.send(FRAME))
        second = asyncio.create_task(sender.send(FRAME))
        await asyncio.sleep(0.2)
        assert (False, False) == (first.done(), second.done())  # both wait for the paused transport
        first.cancel()
        await asyncio.sleep(0.1)
        assert not second.done()  # aiohttp's shared drain future was not cancelled under it
        await asyncio.wait_for(reader.readexactly(2 * ON_THE_WIRE), 10)  # the client reads both frames
        assert await asyncio.wait_for(second, 10) is None
        assert first.cancelled()


async def test_a_send_after_the_connection_is_gone_raises_to_its_caller():
    async with paused_websocket() as (ws, _):
        sender = FrameSender(ws.send_str)
        await ws.close()
        with pytest.raises((ConnectionError, RuntimeError)):
            await sender.send("late")
