"""Certificate -> plane identity: the URI SAN names the plane, the plane object's own clientCA must issue it."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from localcluster.pki import CA, cert_pem

from choreo_controller.relay.identity import (
    URI_PREFIX,
    IdentityError,
    PlaneRecord,
    PlaneRef,
    authenticate,
    claimed_plane_id,
    load_anchors,
    reauthorize,
)

NOW = dt.datetime.now(dt.UTC)
CA_A, CA_B, CA_OTHER = CA.new("a-ca"), CA.new("b-ca"), CA.new("other-ca")
REF_A = PlaneRef("BuildPlane", "team-a", "default")
REF_B = PlaneRef("ClusterBuildPlane", "", "shared")
REF_SQUAT = PlaneRef("BuildPlane", "team-evil", "default")
RECORDS = [PlaneRecord(REF_A, "plane-a", (CA_A.cert,)), PlaneRecord(REF_B, "plane-b", (CA_B.cert,))]


def der(ca, *, uris=(URI_PREFIX + "plane-a",), client=True, server=False, **kw):
    cert, _ = ca.issue("agent", uris=tuple(uris), client=client, server=server, **kw)
    return cert.public_bytes(serialization.Encoding.DER)


CLAIMS = [
    pytest.param((URI_PREFIX + "plane-a",), "plane-a", id="one-uri"),
    pytest.param(("spiffe://x/y", URI_PREFIX + "p-1"), "p-1", id="other-uris-ignored"),
]
BAD_CLAIMS = [
    pytest.param((), "no subjectAltName", id="no-san"),
    pytest.param(("spiffe://x/y",), "exactly one", id="no-plane-uri"),
    pytest.param((URI_PREFIX + "a", URI_PREFIX + "b"), "exactly one", id="two-planes"),
    pytest.param((URI_PREFIX + "Plane-A",), "invalid planeID", id="uppercase"),
    pytest.param((URI_PREFIX + "a/../b",), "invalid planeID", id="path-tricks"),
    pytest.param((URI_PREFIX,), "invalid planeID", id="empty"),
    pytest.param(("OPENCHOREO://buildplane/a",), "exactly one", id="scheme-case"),
]


@pytest.mark.parametrize(("uris", "expected"), CLAIMS)
def test_claimed_plane_id(uris, expected):
    cert, _ = CA_A.issue("agent", uris=uris, client=True)
    assert expected == claimed_plane_id(cert)


@pytest.mark.parametrize(("uris", "reason"), BAD_CLAIMS)
def test_bad_plane_claims(uris, reason):
    cert, _ = CA_A.issue("agent", uris=uris, client=True)
    with pytest.raises(IdentityError, match=reason):
        claimed_plane_id(cert)


REJECTED = [
    pytest.param(None, "no client certificate", id="no-certificate"),
    pytest.param(b"garbage", "does not parse", id="garbage"),
    pytest.param(der(CA_OTHER), "not issued by the clientCA", id="unknown-ca"),
    pytest.param(der(CA_A, uris=(URI_PREFIX + "plane-b",)), "not issued by the clientCA", id="a-claims-b"),
    pytest.param(der(CA_A, uris=(URI_PREFIX + "plane-z",)), "no BuildPlane", id="unknown-plane"),
    pytest.param(der(CA_A, not_after=NOW - dt.timedelta(hours=1), not_before=NOW - dt.timedelta(days=2)),
                 "not issued by the clientCA", id="expired"),
    pytest.param(der(CA_A, not_before=NOW + dt.timedelta(hours=1)), "not issued by the clientCA", id="not-yet-valid"),
    pytest.param(der(CA_A, client=False, server=True), "not issued by the clientCA", id="server-auth-only"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejected(raw, reason):
    with pytest.raises(IdentityError, match=reason):
        authenticate(raw, RECORDS, NOW)


def test_accepted_agent_is_bound_to_the_objects_whose_ca_issued_it():
    squatter = PlaneRecord(REF_SQUAT, "plane-a", (CA_OTHER.cert,))
    identity = authenticate(der(CA_A), [*RECORDS, squatter], NOW)
    assert ("plane-a", frozenset({REF_A}), "CN=agent") == (identity.plane_id, identity.refs, identity.subject)


def test_reauthorize_drops_objects_that_no_longer_trust_the_ca():
    identity = authenticate(der(CA_A), RECORDS, NOW)
    rotated = [PlaneRecord(REF_A, "plane-a", (CA_OTHER.cert,)), RECORDS[1]]
    assert frozenset() == reauthorize(identity, rotated, NOW).refs


def test_load_anchors_keeps_ca_certificates_only():
    leaf, _ = CA_A.issue("leaf", client=True)
    bundle = cert_pem(leaf) + cert_pem(CA_A.cert) + cert_pem(CA_B.cert)
    anchors = load_anchors(bundle.decode())
    assert [CA_A.cert, CA_B.cert] == list(anchors)
    with pytest.raises(ValueError, match="no CA"):
        load_anchors(cert_pem(leaf))
    with pytest.raises(ValueError):
        load_anchors("not pem")
