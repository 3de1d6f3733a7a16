"""TLS contexts for both ends of the relay. Neither ever trusts the system's root store.

* ``PlaneTrust`` (gateway's agent listener): TLS 1.2+, a client certificate is *required*. The listening
  context's ``sni_callback`` (called for every ClientHello, with or without SNI) hands each handshake the
  *current* context, which is rebuilt from the plane records on every change: it trusts exactly the anchors
  ``identity.trusted_records`` keeps - so a removed CA stops being trusted at once, and a CA that copies
  another plane's CA subject (which would make OpenSSL pick the wrong issuer and lock that plane's agents
  out) is never loaded next to it. OpenSSL checks dates, the chain and the ``clientAuth`` purpose;
  ``identity.authenticate`` then binds the certificate to the plane objects whose own CA issued it.
  Rebuilding also re-reads the server certificate files, so a rotated server certificate applies to new
  handshakes without a restart.
* ``server_context``: the internal API's listener (``relay.internal``) with one CA file, the controllers'
  CA; a controller's ``RemoteRelayTransport`` dials it with ``agent_context`` (pinned CA too).
* ``agent_context`` (agent): the gateway CA file is the only trust anchor (pinned; CVE-2024-22030 was an
  agent that fell back to system roots), the host name is verified, the agent presents its certificate.

Contexts are built with ``ssl.SSLContext`` rather than ``ssl.create_default_context``, which would load
the system roots when no CA is given and honours ``SSLKEYLOGFILE`` (writing session keys to a file).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from choreo_controller.relay.identity import pem_of, trusted_records

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from pathlib import Path

    from choreo_controller.relay.identity import PlaneRecord


def server_context(
    cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path | None = None
) -> ssl.SSLContext:
    """A listener context with mTLS required; trusts ``client_ca_file`` only (none: nothing yet)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert_file), str(key_file))
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(client_ca_file))
    return ctx


def agent_context(
    ca_file: str | Path, cert_file: str | Path, key_file: str | Path, *, check_hostname: bool = True
) -> ssl.SSLContext:
    """The agent's context: only ``ca_file`` is trusted, the gateway's host name is checked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    ctx.load_verify_locations(cafile=str(ca_file))
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx


class PlaneTrust:
    """The agent listener's TLS trust: the current plane anchors, collision-free, swapped in per handshake."""

    def __init__(self, cert_file: str | Path, key_file: str | Path, ca_namespaces: Collection[str]) -> None:
        self._cert_file, self._key_file = cert_file, key_file
        self._ca_namespaces = ca_namespaces
        self._current = server_context(cert_file, key_file)
        self.listener = server_context(cert_file, key_file)
        self.listener.sni_callback = self._select
        self.anchors = 0  # anchors the current context trusts (observability, tests)

    def update(self, records: Iterable[PlaneRecord]) -> list[PlaneRecord]:
        """Trust the anchors of ``records`` from the next handshake on; returns the records as judged."""
        judged = trusted_records(records, self._ca_namespaces)
        ctx = server_context(self._cert_file, self._key_file)
        seen: set[str] = set()
        for record in judged:
            for anchor in record.anchors if not record.problem else ():
                pem = pem_of(anchor)
                if pem not in seen:
                    ctx.load_verify_locations(cadata=pem)
                    seen.add(pem)
        self._current, self.anchors = ctx, len(seen)
        return judged

    @property
    def current(self) -> ssl.SSLContext:
        """The context new handshakes get."""
        return self._current

    def _select(self, conn: ssl.SSLObject, server_name: str | None, listener: ssl.SSLContext) -> None:
        del server_name, listener  # every handshake gets the current context, whatever name it asked for
        conn.context = self._current
