"""Who an agent is: the plane ID its certificate names, bound to the plane objects whose clientCA issued it.

The choice (documented in THREAT_MODEL.md): an agent certificate names its plane in exactly one URI SAN
``openchoreo://buildplane/<planeID>`` (an agent of a BuildPlane or ClusterBuildPlane, OpenChoreo 0.17) or
``openchoreo://workflowplane/<planeID>`` (of a WorkflowPlane or ClusterWorkflowPlane, 1.x); there is **no
CN fallback**. A URI SAN is unambiguous (a CN is free
text that many CAs fill with host names), and the verifier below requires a SAN anyway.

Two layers check a certificate (SPEC section 7):

* TLS (OpenSSL, ``tls.server_context``): the chain must verify against *some* plane's clientCA - the union
  of all of them - with a valid date and the ``clientAuth`` EKU. No system roots are ever loaded.
* Application (``authenticate``, before the websocket upgrade): the chain must verify - again, with
  ``cryptography``'s RFC 5280 client verifier - against the clientCA of a plane object of the family the
  certificate names whose ``spec.planeID`` equals the planeID it claims. A certificate from plane A's CA
  claiming plane B is refused here. The result is bound to *objects*, not just a planeID:
  ``AgentIdentity.refs`` lists the plane objects whose CA verified it, and the relay routes an object's
  traffic only to agents that verified against that object's CA, so a second object squatting on a planeID
  with its own CA cannot attract the first object's traffic.

The leaf alone is verified (Python 3.11 exposes no peer chain), so a clientCA must contain the CA that
issued the agent certificates directly; every certificate in a clientCA bundle is a trust anchor. The
application layer also requires the ``clientAuth`` EKU to be *present*: OpenSSL and the RFC 5280 verifier
both treat a certificate without an EKU extension as good for any purpose.

Plane kinds are data (``PLANE_KINDS``, derived from ``api.planes``: the family is the generation's
identity): each kind names the URI SAN family its agents claim (``openchoreo://<family>/<planeID>``) and
whether its objects are cluster-scoped; ``authenticate`` only binds a certificate to records of a kind of
the family it names - a ``workflowplane`` certificate is never vouched for by a BuildPlane, even with the
same planeID and CA. A new kind of plane is a new row of ``api.planes``.

TLS trust per plane (``trusted_records``): OpenSSL finds a certificate's issuer by subject name and key
identifier, so two plane CAs with the same subject (and the same or no key identifier) cannot both be in one
trust store - whichever it finds first decides, and a tenant CA copying another plane's CA subject would lock
that plane's agents out. The TLS layer therefore trusts, of every such colliding set, only the anchor of the
most trusted owner: a cluster-scoped plane, then a plane object in a platform CA namespace, then the oldest
object; the others are marked with a ``problem`` (their agents are refused at TLS; status says why).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from choreo_controller.api import planes

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Collection, Iterable, Sequence

URI_SCHEME = "openchoreo://"
PLANE_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PlaneKind = str  # a key of PLANE_KINDS


@dataclass(frozen=True, slots=True)
class PlaneKindSpec:
    """One kind of plane object: the URI SAN family its agents claim, and whether it is cluster-scoped."""

    family: str
    cluster_scoped: bool


PLANE_KINDS: Final[dict[str, PlaneKindSpec]] = {
    kind.kind: PlaneKindSpec(kind.generation.identity, cluster_scoped=not kind.namespaced)
    for kind in planes.PLANE_KINDS
}
URI_PREFIX = f"{URI_SCHEME}{planes.BUILD_PLANE_ERA.identity}/"  # agent certificates of the 0.17 planes
_FAMILIES: Final = frozenset(spec.family for spec in PLANE_KINDS.values())
_URIS: Final = " or ".join(f"{URI_SCHEME}{family}/<planeID>" for family in sorted(_FAMILIES))


class IdentityError(Exception):
    """The agent is not who it must be; the message is safe to log (no key material)."""


@dataclass(frozen=True, slots=True, order=True)
class PlaneRef:
    """One plane object: a namespaced kind with its namespace, a cluster-scoped one with ``namespace=""``."""

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
    problem: str = ""  # why its agents cannot connect (clientCA missing, unreadable, shadowed...), for status
    created: str = ""  # metadata.creationTimestamp (RFC 3339): the older of two colliding CAs keeps TLS trust


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An authenticated agent: its plane, the plane objects that vouch for it, and its certificate."""

    plane_id: str
    refs: frozenset[PlaneRef]
    certificate: x509.Certificate
    subject: str
    serial: str
    fingerprint: str
    family: str = "buildplane"  # the URI SAN family the certificate claims (see PLANE_KINDS)

    @property
    def not_after(self) -> dt.datetime:
        """When the certificate expires; the gateway closes the session then."""
        return self.certificate.not_valid_after_utc


def claimed_plane(cert: x509.Certificate) -> tuple[str, str]:
    """``(family, planeID)`` of the one ``openchoreo://<family>/<id>`` URI SAN, else ``IdentityError``."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subjectAltName naming a plane") from None
    claims = [
        u[len(URI_SCHEME) :].partition("/")
        for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        if u.startswith(URI_SCHEME)
    ]
    claims = [c for c in claims if c[0] in _FAMILIES]
    if len(claims) != 1:
        raise IdentityError(f"certificate must name exactly one plane URI ({_URIS})")
    family, _, plane_id = claims[0]
    if not PLANE_ID.fullmatch(plane_id):
        raise IdentityError("certificate names an invalid planeID")
    return family, plane_id


def claimed_plane_id(cert: x509.Certificate) -> str:
    """The planeID of the one plane URI SAN; ``IdentityError`` otherwise."""
    return claimed_plane(cert)[1]


def family_of(record: PlaneRecord) -> str:
    """The URI SAN family of a record's kind (``""`` for an unknown kind: it matches no certificate)."""
    spec = PLANE_KINDS.get(record.ref.kind)
    return spec.family if spec is not None else ""


def verifies(cert: x509.Certificate, anchors: Sequence[x509.Certificate], now: dt.datetime) -> bool:
    """True if ``cert`` is a valid client certificate (dates, clientAuth EKU, SAN) issued by an anchor."""
    if not anchors or not has_client_auth(cert):
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
    family, plane_id = claimed_plane(cert)
    if not has_client_auth(cert):
        raise IdentityError("certificate lacks the clientAuth extended key usage")
    candidates = [r for r in records if r.plane_id == plane_id and family_of(r) == family]
    if not candidates:
        kinds = " or ".join(k for k, spec in PLANE_KINDS.items() if spec.family == family)
        raise IdentityError(f"no {kinds} has planeID {plane_id!r}")
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
        family=family,
    )


def reauthorize(identity: AgentIdentity, records: Iterable[PlaneRecord], now: dt.datetime) -> AgentIdentity:
    """The identity re-checked against changed plane objects; ``refs`` may shrink to empty."""
    refs = frozenset(
        r.ref
        for r in records
        if r.plane_id == identity.plane_id
        and family_of(r) == identity.family
        and verifies(identity.certificate, r.anchors, now)
    )
    return AgentIdentity(
        identity.plane_id,
        refs,
        identity.certificate,
        identity.subject,
        identity.serial,
        identity.fingerprint,
        identity.family,
    )


def has_client_auth(cert: x509.Certificate) -> bool:
    """The certificate carries an EKU extension that lists ``clientAuth`` (absent EKU is refused)."""
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.CLIENT_AUTH in usages


def trusted_records(records: Iterable[PlaneRecord], ca_namespaces: Collection[str]) -> list[PlaneRecord]:
    """``records`` with every anchor that collides with a more trusted plane's anchor shadowed.

    A shadowed record keeps its anchors (the application layer may still use them) but gets a ``problem``;
    the TLS layer loads only the anchors of records without a problem. Idempotent.
    """
    ordered = sorted(records, key=lambda r: _rank(r, ca_namespaces))
    kept: dict[bytes, list[x509.Certificate]] = {}  # subject DER -> anchors already trusted
    out: list[PlaneRecord] = []
    for record in ordered:
        clash = next(
            (a for a in record.anchors for b in kept.get(a.subject.public_bytes(), []) if _collide(a, b)),
            None,
        )
        judged = record
        if clash is not None and not record.problem:
            subject = clash.subject.rfc4514_string()[:120]
            judged = replace(
                record,
                problem=f"clientCA {subject!r} collides with a more trusted plane's CA (same subject and "
                "key identifier); its agents are refused at TLS - issue the agents from a CA with a unique "
                "subject",
            )
        if not judged.problem:
            for anchor in judged.anchors:
                kept.setdefault(anchor.subject.public_bytes(), []).append(anchor)
        out.append(judged)
    return out


def _rank(record: PlaneRecord, ca_namespaces: Collection[str]) -> tuple[int, str, str]:
    spec = PLANE_KINDS.get(record.ref.kind)
    tier = (
        0 if spec is not None and spec.cluster_scoped else 1 if record.ref.namespace in ca_namespaces else 2
    )
    return tier, record.created or "~", str(record.ref)  # "~" sorts after every timestamp


def _collide(a: x509.Certificate, b: x509.Certificate) -> bool:
    """OpenSSL could take one for the other: same subject, and the same or a missing key identifier."""
    if a == b:
        return False
    ka, kb = _key_id(a), _key_id(b)
    return ka is None or kb is None or ka == kb


def _key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


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
