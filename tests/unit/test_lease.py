"""The leader-election record <-> Lease conversion (client-go resourcelock/leaselock.go)."""

from datetime import UTC, datetime

import pytest

from choreo_controller.runtime.lease import LeaseRecord, lease_object, micro_time, record_of

T0 = datetime(2026, 11, 27, 9, 12, 13, 45, tzinfo=UTC)
T1 = datetime(2026, 11, 27, 9, 12, 15, tzinfo=UTC)


def test_micro_time_is_the_apiserver_format():
    assert "2026-11-27T09:12:13.000045Z" == micro_time(T0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {
                "holderIdentity": "a",
                "leaseDurationSeconds": 15,
                "acquireTime": "t0",
                "renewTime": "t1",
                "leaseTransitions": 3,
            },
            LeaseRecord("a", 15, "t0", "t1", 3),
            id="full",
        ),
        pytest.param({}, LeaseRecord("", 0, "", "", 0), id="empty-spec"),
        pytest.param(None, LeaseRecord("", 0, "", "", 0), id="no-spec"),
    ],
)
def test_record_of(spec, expected):
    assert expected == record_of({"metadata": {"name": "l"}, "spec": spec})


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda prev: LeaseRecord.at("me", 15, T1).renewing(prev),
            LeaseRecord("me", 15, micro_time(T0), micro_time(T1), 2),
            id="renewal-keeps-acquisition-and-transitions",
        ),
        pytest.param(
            lambda prev: LeaseRecord.at("me", 15, T1).taking_over(prev),
            LeaseRecord("me", 15, micro_time(T1), micro_time(T1), 3),
            id="takeover-counts-a-transition",
        ),
    ],
)
def test_renewing_and_taking_over(make, expected):
    previous = LeaseRecord.at("someone", 15, T0, transitions=2)
    assert expected == make(previous)


def test_lease_object_keeps_metadata_and_replaces_the_spec():
    base = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "namespace": "ns", "resourceVersion": "42", "managedFields": [{}]},
        "spec": {"holderIdentity": "old"},
    }
    record = LeaseRecord.at("me", 15, T1)

    updated = lease_object(base, record)
    created = lease_object(None, record, name="l", namespace="ns")

    assert {"name": "l", "namespace": "ns", "resourceVersion": "42"} == updated["metadata"]
    assert ({"name": "l", "namespace": "ns"}, record) == (created["metadata"], record_of(created))
    assert "old" == base["spec"]["holderIdentity"]  # the base is not modified
