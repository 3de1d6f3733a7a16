from datetime import UTC, datetime

import pytest

from choreo_controller.api import conditions
from choreo_controller.contracts import ApiResource, ObjectKey, Result

WORKFLOWS = ApiResource("argoproj.io", "v1alpha1", "workflows", "Workflow")
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", namespaced=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ns/name", ObjectKey("ns", "name"), id="namespaced"),
        pytest.param("cluster-thing", ObjectKey("", "cluster-thing"), id="cluster-scoped"),
    ],
)
def test_object_key_parse_roundtrip(text, expected):
    assert expected == ObjectKey.parse(text)
    assert text == str(expected)


@pytest.mark.parametrize("text", ["/name", "ns/", "a/b/c"])
def test_object_key_parse_rejects(text):
    with pytest.raises(ValueError, match="not an object key"):
        ObjectKey.parse(text)


@pytest.mark.parametrize(
    ("res", "args", "expected"),
    [
        pytest.param(
            WORKFLOWS, ("ns", None), "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows", id="collection"
        ),
        pytest.param(WORKFLOWS, (None, None), "/apis/argoproj.io/v1alpha1/workflows", id="all-namespaces"),
        pytest.param(
            WORKFLOWS,
            ("ns", "w", "status"),
            "/apis/argoproj.io/v1alpha1/namespaces/ns/workflows/w/status",
            id="sub",
        ),
        pytest.param(NAMESPACES, (None, "x"), "/api/v1/namespaces/x", id="core-cluster-scoped"),
    ],
)
def test_resource_paths(res, args, expected):
    assert expected == res.path(*args)


@pytest.mark.parametrize("name", ["..", ".", "a/b", ""])
def test_resource_path_rejects_traversal(name):
    with pytest.raises(ValueError, match="invalid path segment"):
        WORKFLOWS.path("ns", name)


def test_result_sooner_picks_earliest():
    assert Result(2.0) == Result.sooner(Result(), Result(5.0), Result(2.0))
    assert Result() == Result.sooner(Result(), Result())


def test_set_condition_keeps_transition_time_when_status_unchanged():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    t1 = datetime(2026, 1, 2, tzinfo=UTC)
    first = conditions.set_condition([], "Ready", "True", "Valid", "ok", observed_generation=1, now=t0)
    second = conditions.set_condition(
        first, "Ready", "True", "Valid", "still ok", observed_generation=2, now=t1
    )
    flipped = conditions.set_condition(
        second, "Ready", "False", "InvalidSchema", "bad", observed_generation=3, now=t1
    )
    assert "2026-01-01T00:00:00Z" == second[0]["lastTransitionTime"]
    assert "still ok" == second[0]["message"]
    assert "2026-01-02T00:00:00Z" == flipped[0]["lastTransitionTime"]
