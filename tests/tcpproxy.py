"""A TCP forwarder a test can cut or freeze, in front of a real apiserver.

* ``close()`` refuses new connections and drops open ones, ``open()`` resumes: the apiserver becomes
  unreachable for a process under test without stopping it.
* ``freeze()`` holds back what the server sends on the connections open *now*, for as long as their client
  sends nothing; ``thaw()`` delivers it all. New connections pass untouched, and a client that sends a new
  request on a frozen connection gets it thawed first. A watch stream is such a connection - the client
  sends nothing after its request - so a frozen process keeps a *stale cache* (its watches deliver
  nothing) while its other requests (leader election, live reads) are answered: a cache behind the
  apiserver, made on demand, without touching the process.

TLS passes through untouched (the serving certificate names 127.0.0.1, whatever the port). Threads, not
asyncio, so it works the same from sync and async tests and never shows up as a leftover task.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class _Link:
    """One proxied connection: its two sockets, and what the server sent while it was frozen."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client, self.upstream = client, upstream
        self.lock = threading.Lock()
        self.frozen = False
        self.held = bytearray()

    def to_client(self, data: bytes) -> None:
        with self.lock:
            if self.frozen:
                self.held += data
            else:
                self.client.sendall(data)

    def to_upstream(self, data: bytes) -> None:
        self.thaw()  # the client speaks again: whatever it waits for must reach it first
        self.upstream.sendall(data)

    def thaw(self) -> None:
        with self.lock:
            held, self.held, self.frozen = bytes(self.held), bytearray(), False
            if held:
                self.client.sendall(held)


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._links: set[_Link] = set()
        self._lock = threading.Lock()

    def open(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="tcpproxy-accept").start()
        return self

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            for sock in (link.client, link.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def freeze(self) -> int:
        """Hold back the server's data on every connection open now; returns how many there are."""
        with self._lock:
            links = list(self._links)
        for link in links:
            with link.lock:
                link.frozen = True
        return len(links)

    def thaw(self) -> None:
        """Deliver everything held back, and stop holding."""
        with self._lock:
            links = list(self._links)
        for link in links:
            with contextlib.suppress(OSError):
                link.thaw()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            for src, forward in ((client, link.to_upstream), (upstream, link.to_client)):
                threading.Thread(
                    target=self._pump, args=(link, src, forward), daemon=True, name="tcpproxy-pump"
                ).start()

    def _pump(self, link: _Link, src: socket.socket, forward: Callable[[bytes], None]) -> None:
        try:
            while data := src.recv(65536):
                forward(data)
        except OSError:
            pass
        finally:
            for sock in (link.client, link.upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._links.discard(link)
            src.close()  # the other pump closes the other socket
