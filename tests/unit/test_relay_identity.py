"""Certificate -> plane identity: the URI SAN names the plane, the plane object's own clientCA must issue it."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives import serialization
from localcluster.pki import CA, cert_pem
from relayharness import key_identified_ca, lookalike

from choreo_controller.relay.identity import (
    URI_PREFIX,
    IdentityError,
    PlaneRecord,
    PlaneRef,
    authenticate,
    claimed_plane_id,
    load_anchors,
    reauthorize,
    trusted_records,
    verifies,
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
    pytest.param(der(CA_A, client=False, server=True), "lacks the clientAuth", id="server-auth-only"),
    pytest.param(der(CA_A, client=False), "lacks the clientAuth", id="no-eku-extension"),
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


def test_a_certificate_without_any_eku_does_not_verify():
    cert, _ = CA_A.issue("agent", uris=(URI_PREFIX + "plane-a",))  # no EKU extension at all

    assert not verifies(cert, (CA_A.cert,), NOW)


def test_records_of_another_family_never_vouch():
    record = PlaneRecord(
        PlaneRef("FuturePlane", "", "x"), "plane-a", (CA_A.cert,)
    )  # a kind not in PLANE_KINDS

    with pytest.raises(IdentityError, match="no BuildPlane"):
        authenticate(der(CA_A), [record], NOW)


WP = "openchoreo://workflowplane/"
REF_WP = PlaneRef("WorkflowPlane", "team-a", "default")  # the 1.x twin of REF_A: same planeID, same CA
REF_CWP = PlaneRef("ClusterWorkflowPlane", "", "shared")


@pytest.mark.parametrize(
    ("uris", "vouching", "refs"),
    [
        pytest.param(
            (URI_PREFIX + "plane-a",), [REF_A, REF_WP], {REF_A}, id="buildplane-cert-buildplane-only"
        ),
        pytest.param((WP + "plane-a",), [REF_A, REF_WP, REF_CWP], {REF_WP, REF_CWP}, id="workflowplane-cert"),
    ],
)
def test_a_certificate_is_bound_to_the_plane_kinds_its_uri_names(uris, vouching, refs):
    records = [PlaneRecord(ref, "plane-a", (CA_A.cert,)) for ref in vouching]
    identity = authenticate(der(CA_A, uris=uris), records, NOW)
    assert (frozenset(refs), uris[0].split("/")[2]) == (identity.refs, identity.family)


def test_a_workflowplane_certificate_is_refused_by_buildplanes_alone():
    with pytest.raises(IdentityError, match="no WorkflowPlane or ClusterWorkflowPlane has planeID 'plane-a'"):
        authenticate(der(CA_A, uris=(WP + "plane-a",)), RECORDS, NOW)


def test_two_plane_uris_of_different_families_are_refused():
    with pytest.raises(IdentityError, match="exactly one plane URI"):
        authenticate(der(CA_A, uris=(URI_PREFIX + "plane-a", WP + "plane-a")), RECORDS, NOW)


V_CA = key_identified_ca("plane-ca")
LOOKALIKE = lookalike(V_CA)  # same subject and key identifier, another key
SUBJECT_ONLY = lookalike(V_CA, copy_key_id=False)  # same subject, its own key identifier
VICTIM_CBP = PlaneRecord(
    PlaneRef("ClusterBuildPlane", "", "shared"), "victim", (V_CA.cert,), created="2026-02-01T00:00:00Z"
)
VICTIM_BP = PlaneRecord(
    PlaneRef("BuildPlane", "team-v", "p"), "victim", (V_CA.cert,), created="2026-01-01T00:00:00Z"
)
VICTIM_PLATFORM = PlaneRecord(
    PlaneRef("BuildPlane", "openchoreo-control-plane", "p"),
    "victim",
    (V_CA.cert,),
    created="2026-03-01T00:00:00Z",
)
ATTACKER = PlaneRecord(
    PlaneRef("BuildPlane", "aaa-evil", "p"), "evil", (LOOKALIKE.cert,), created="2026-02-01T00:00:00Z"
)
SQUATTER = PlaneRecord(
    PlaneRef("BuildPlane", "aaa-evil", "p"), "victim", (LOOKALIKE.cert,), created="2026-02-01T00:00:00Z"
)
OLD_ATTACKER = PlaneRecord(
    PlaneRef("BuildPlane", "aaa-evil", "p"), "evil", (LOOKALIKE.cert,), created="2025-01-01T00:00:00Z"
)
DISTINCT = PlaneRecord(
    PlaneRef("BuildPlane", "aaa-evil", "p"), "evil", (SUBJECT_ONLY.cert,), created="2025-01-01T00:00:00Z"
)
TRUST_CASES = [
    pytest.param([ATTACKER, VICTIM_CBP], {"aaa-evil"}, id="cluster-plane-beats-tenant"),
    pytest.param([ATTACKER, VICTIM_BP], {"aaa-evil"}, id="older-tenant-plane-beats-newer"),
    pytest.param([OLD_ATTACKER, VICTIM_PLATFORM], {"aaa-evil"}, id="platform-namespace-beats-older-tenant"),
    pytest.param([SQUATTER, VICTIM_BP], {"aaa-evil"}, id="planeid-squatter"),
    pytest.param([DISTINCT, VICTIM_BP], set(), id="own-key-identifier-no-collision"),
    pytest.param([VICTIM_BP, PlaneRecord(PlaneRef("BuildPlane", "team-w", "p"), "w", (V_CA.cert,))], set(),
                 id="the-same-ca-twice-is-no-collision"),
]  # fmt: skip


@pytest.mark.parametrize(("records", "shadowed"), TRUST_CASES)
def test_trusted_records_shadow_the_less_trusted_of_colliding_cas(records, shadowed):
    judged = trusted_records(records, {"openchoreo-control-plane"})

    assert shadowed == {r.ref.namespace for r in judged if r.problem}
    assert all("collides with a more trusted plane's CA" in r.problem for r in judged if r.problem)
    assert judged == trusted_records(judged, {"openchoreo-control-plane"})  # idempotent
