"""Who an agent is: the plane ID its certificate names, bound to the plane objects whose clientCA issued it.

The choice (documented in THREAT_MODEL.md): an agent certificate names its plane in exactly one URI SAN
``openchoreo://buildplane/<planeID>``; there is **no CN fallback**. A URI SAN is unambiguous (a CN is free
text that many CAs fill with host names), and the verifier below requires a SAN anyway.

Two layers check a certificate (SPEC section 7):

* TLS (OpenSSL, ``tls.server_context``): the chain must verify against *some* plane's clientCA - the union
  of all of them - with a valid date and the ``clientAuth`` EKU. No system roots are ever loaded.
* Application (``authenticate``, before the websocket upgrade): the chain must verify - again, with
  ``cryptography``'s RFC 5280 client verifier - against the clientCA of a BuildPlane/ClusterBuildPlane whose
  ``spec.planeID`` equals the planeID the certificate claims. A certificate from plane A's CA claiming plane B
  is refused here. The result is bound to *objects*, not just a planeID: ``AgentIdentity.refs`` lists the
  plane objects whose CA verified it, and the relay routes an object's traffic only to agents that verified
  against that object's CA, so a second object squatting on a planeID with its own CA cannot attract the
  first object's traffic.

The leaf alone is verified (Python 3.11 exposes no peer chain), so a clientCA must contain the CA that
issued the agent certificates directly; every certificate in a clientCA bundle is a trust anchor.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence

URI_PREFIX = "openchoreo://buildplane/"
PLANE_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PlaneKind = Literal["BuildPlane", "ClusterBuildPlane"]


class IdentityError(Exception):
    """The agent is not who it must be; the message is safe to log (no key material)."""


@dataclass(frozen=True, slots=True, order=True)
class PlaneRef:
    """One BuildPlane (namespaced) or ClusterBuildPlane (``namespace=""``) object."""

    kind: PlaneKind
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class PlaneRecord:
    """What the gateway knows of one plane object: its planeID and the CAs its agents chain to."""

    ref: PlaneRef
    plane_id: str
    anchors: tuple[x509.Certificate, ...]
    problem: str = ""  # why anchors is empty (clientCA missing, Secret unreadable...), for status


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An authenticated agent: its plane, the plane objects that vouch for it, and its certificate."""

    plane_id: str
    refs: frozenset[PlaneRef]
    certificate: x509.Certificate
    subject: str
    serial: str
    fingerprint: str

    @property
    def not_after(self) -> dt.datetime:
        """When the certificate expires; the gateway closes the session then."""
        return self.certificate.not_valid_after_utc


def claimed_plane_id(cert: x509.Certificate) -> str:
    """The planeID of the one ``openchoreo://buildplane/<id>`` URI SAN; ``IdentityError`` otherwise."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subjectAltName naming a plane") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(URI_PREFIX)]
    if len(uris) != 1:
        raise IdentityError(f"certificate must name exactly one plane URI ({URI_PREFIX}<planeID>)")
    plane_id = uris[0][len(URI_PREFIX) :]
    if not PLANE_ID.fullmatch(plane_id):
        raise IdentityError("certificate names an invalid planeID")
    return plane_id


def verifies(cert: x509.Certificate, anchors: Sequence[x509.Certificate], now: dt.datetime) -> bool:
    """True if ``cert`` is a valid client certificate (dates, clientAuth EKU, SAN) issued by an anchor."""
    if not anchors:
        return False
    verifier = PolicyBuilder().store(Store(list(anchors))).time(now).build_client_verifier()
    try:
        verifier.verify(cert, [])
    except (VerificationError, ValueError):
        return False
    return True


def authenticate(der: bytes | None, records: Iterable[PlaneRecord], now: dt.datetime) -> AgentIdentity:
    """Bind a peer certificate (DER) to its plane; ``IdentityError`` says why it cannot be."""
    if not der:
        raise IdentityError("no client certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise IdentityError("client certificate does not parse") from None
    plane_id = claimed_plane_id(cert)
    candidates = [r for r in records if r.plane_id == plane_id]
    if not candidates:
        raise IdentityError(f"no BuildPlane or ClusterBuildPlane has planeID {plane_id!r}")
    refs = frozenset(r.ref for r in candidates if verifies(cert, r.anchors, now))
    if not refs:
        raise IdentityError(
            f"certificate is not issued by the clientCA of any plane with planeID {plane_id!r}"
        )
    return AgentIdentity(
        plane_id=plane_id,
        refs=refs,
        certificate=cert,
        subject=cert.subject.rfc4514_string()[:200],
        serial=format(cert.serial_number, "x"),
        fingerprint=hashlib.sha256(der).hexdigest(),
    )


def reauthorize(identity: AgentIdentity, records: Iterable[PlaneRecord], now: dt.datetime) -> AgentIdentity:
    """The identity re-checked against changed plane objects; ``refs`` may shrink to empty."""
    refs = frozenset(
        r.ref
        for r in records
        if r.plane_id == identity.plane_id and verifies(identity.certificate, r.anchors, now)
    )
    return AgentIdentity(
        identity.plane_id, refs, identity.certificate, identity.subject, identity.serial, identity.fingerprint
    )


def load_anchors(pem: str | bytes) -> tuple[x509.Certificate, ...]:
    """CA certificates of a PEM bundle (non-CA certificates are skipped); ``ValueError`` if none parse."""
    data = pem.encode() if isinstance(pem, str) else pem
    certs = x509.load_pem_x509_certificates(data)
    anchors = tuple(c for c in certs if _is_ca(c))
    if not anchors:
        raise ValueError("no CA certificate in the bundle")
    return anchors


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def pem_of(cert: x509.Certificate) -> str:
    """PEM text of one certificate (for loading into an ``ssl.SSLContext``)."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
