"""TLS contexts for both ends of the relay. Neither ever trusts the system's root store.

* ``server_context`` (gateway): TLS 1.2+, a client certificate is *required*; the trust store starts empty
  and ``ClientCATrust`` adds the clientCA certificates of the known planes as they appear. OpenSSL checks
  dates, the chain and - because this is a server context - the ``clientAuth`` purpose. Certificates can
  only be added to a live ``SSLContext``; a CA that disappears stays trusted at the TLS layer until the
  process restarts, which is safe because ``identity.authenticate`` binds every connection to a *current*
  plane object's CA (and the gateway closes sessions whose plane objects no longer vouch for them).
* The internal API's listener (``relay.internal``) uses the same server context with one CA file, the
  controllers' CA; a controller's ``RemoteRelayTransport`` dials it with ``agent_context`` (pinned CA too).
* ``agent_context`` (agent): the gateway CA file is the only trust anchor (pinned; CVE-2024-22030 was an
  agent that fell back to system roots), the host name is verified, the agent presents its certificate.

Contexts are built with ``ssl.SSLContext`` rather than ``ssl.create_default_context``, which would load
the system roots when no CA is given and honours ``SSLKEYLOGFILE`` (writing session keys to a file).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes

from choreo_controller.relay.identity import pem_of

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from cryptography import x509


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


class ClientCATrust:
    """Adds CA certificates to a server context's trust store, each once."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        self._added: set[bytes] = set()

    def add(self, anchors: Iterable[x509.Certificate]) -> int:
        """Trust ``anchors`` for new handshakes; returns how many were new."""
        added = 0
        for cert in anchors:
            fingerprint = cert.fingerprint(hashes.SHA256())
            if fingerprint in self._added:
                continue
            self._ctx.load_verify_locations(cadata=pem_of(cert))
            self._added.add(fingerprint)
            added += 1
        return added
