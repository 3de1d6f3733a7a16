"""Run parameters: defaulting (recursive, never overwriting) and validation with every violation listed."""

import copy
import time

import pytest

from choreo_controller.schema import MAX_VIOLATIONS, InvalidParameters, InvalidSchema, resolve_parameters

DOCKER = {
    "spec": {
        "schema": {
            "types": {
                "Revision": {
                    "$default": {},
                    "branch": "string | default=main",
                    "commit": 'string | default=""',
                }
            },
            "parameters": {
                "repository": {
                    "url": "string",
                    "revision": "Revision",
                    "appPath": "string | default=.",
                    "secretRef": 'string | default=""',
                },
                "docker": {
                    "$default": {},
                    "context": "string | default=.",
                    "filePath": "string | default=./Dockerfile",
                    "platforms": '[]string | default=["linux/amd64"] minItems=1',
                },
                "env": "map<string> | default={}",
                "level": "string | enum=debug,info default=info",
                "replicas": "integer | default=1 minimum=1 maximum=10",
                "push": "boolean | default=true",
                "steps": "[]Step | default=[]",
            },
        }
    }
}
DOCKER["spec"]["schema"]["types"]["Step"] = {"name": "string", "timeout": "integer | default=60"}


def violations(workflow, params):
    with pytest.raises(InvalidParameters) as caught:
        resolve_parameters(workflow, params)
    return list(caught.value.violations)


def test_defaults_fill_nested_objects_created_from_default_empty_map():
    expected = {
        "repository": {
            "url": "https://x",
            "revision": {"branch": "main", "commit": ""},
            "appPath": ".",
            "secretRef": "",
        },
        "docker": {"context": ".", "filePath": "./Dockerfile", "platforms": ["linux/amd64"]},
        "env": {},
        "level": "info",
        "replicas": 1,
        "push": True,
        "steps": [],
    }
    assert expected == resolve_parameters(DOCKER, {"repository": {"url": "https://x"}}).values


@pytest.mark.parametrize(
    ("given", "path", "expected"),
    [
        pytest.param({"push": False}, ("push",), False, id="false-kept"),
        pytest.param({"replicas": 3}, ("replicas",), 3, id="number-kept"),
        pytest.param(
            {"repository": {"url": "u", "appPath": ""}}, ("repository", "appPath"), "", id="empty-string-kept"
        ),
        pytest.param(
            {"docker": {"context": "sub"}},
            ("docker",),
            {"context": "sub", "filePath": "./Dockerfile", "platforms": ["linux/amd64"]},
            id="object-merged-with-field-defaults",
        ),
        pytest.param(
            {"repository": {"url": "u", "revision": {"commit": "abc"}}},
            ("repository", "revision"),
            {"branch": "main", "commit": "abc"},
            id="type-object-given",
        ),
        pytest.param(
            {"steps": [{"name": "a"}, {"name": "b", "timeout": 5}]},
            ("steps",),
            [{"name": "a", "timeout": 60}, {"name": "b", "timeout": 5}],
            id="defaults-inside-array-items",
        ),
        pytest.param({"env": {"A": "1"}}, ("env",), {"A": "1"}, id="map-kept"),
    ],
)
def test_given_values_are_never_overwritten(given, path, expected):
    params = {"repository": {"url": "u"}} | given
    resolved = resolve_parameters(DOCKER, params).values
    for key in path:
        resolved = resolved[key]
    assert expected == resolved


def test_input_is_not_modified():
    params = {"repository": {"url": "u"}}
    before = copy.deepcopy(params)
    resolve_parameters(DOCKER, params)
    assert before == params


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, ["parameters.repository: 'repository' is a required property"], id="missing-object"),
        pytest.param(
            {"repository": {}},
            ["parameters.repository.url: 'url' is a required property"],
            id="missing-field-path-names-it",
        ),
        pytest.param(
            {"repository": {"url": "u", "revision": {"branch": 42}}},
            ["parameters.repository.revision.branch: 42 is not of type 'string'"],
            id="wrong-type-spec-example",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "level": "trace"},
            ["parameters.level: 'trace' is not one of ['debug', 'info']"],
            id="enum-miss",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "replicas": 0},
            ["parameters.replicas: 0 is less than the minimum of 1"],
            id="minimum",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "replicas": 11},
            ["parameters.replicas: 11 is greater than the maximum of 10"],
            id="maximum",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "docker": {"platforms": []}},
            ["parameters.docker.platforms: [] should be non-empty"],
            id="min-items",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "env": {"A": 1}},
            ["parameters.env.A: 1 is not of type 'string'"],
            id="map-value-type",
        ),
        pytest.param(
            {"repository": {"url": "u"}, "steps": [{"timeout": 1}]},
            ["parameters.steps[0].name: 'name' is a required property"],
            id="array-item-path",
        ),
        pytest.param(
            {"repository": {"url": None}},
            ["parameters.repository.url: null is not of type 'string'"],
            id="null-without-default-is-a-value",
        ),
        pytest.param(
            {"repository": {"url": 1, "x": 2}, "level": 3, "y": 4},
            [
                "parameters.level: 3 is not of type 'string'",
                "parameters.level: 3 is not one of ['debug', 'info']",
                "parameters.repository.url: 1 is not of type 'string'",
            ],
            id="every-violation-in-path-order",
        ),
    ],
)
def test_violations(params, expected):
    assert expected == violations(DOCKER, params)


@pytest.mark.parametrize(
    ("params", "unknown"),
    [
        pytest.param({"repository": {"url": "u"}, "colour": "blue"}, ("parameters.colour",), id="top-level"),
        pytest.param(
            {"repository": {"url": "u", "token": "t"}}, ("parameters.repository.token",), id="nested"
        ),
        pytest.param(
            {"repository": {"url": "u", "x": 2}, "y": 4, "env": {"Z": "1"}},
            ("parameters.repository.x", "parameters.y"),
            id="every-one-in-path-order",
        ),
    ],
)
def test_unknown_parameters_are_kept_and_named(params, unknown):
    resolved = resolve_parameters(DOCKER, params)
    assert unknown == resolved.unknown
    assert all(resolved.values.get(key) == value for key, value in params.items() if key != "repository")
    assert f"not in the Workflow's schema, rendered as given: {', '.join(unknown)}" == resolved.warning()


def test_null_takes_the_default_as_kubernetes_defaulting_does():
    assert True is resolve_parameters(DOCKER, {"repository": {"url": "u"}, "push": None}).values["push"]


def test_number_parameters_are_doubles_integer_parameters_stay_integers():
    workflow = {
        "spec": {
            "schema": {
                "parameters": {
                    "n": "number",
                    "i": "integer",
                    "ns": "[]number",
                    "m": "map<number>",
                    "d": "number | default=2",
                }
            }
        }
    }
    params = {"n": 2, "i": 3, "ns": [1, 2.5], "m": {"a": 4}}
    values = resolve_parameters(workflow, params).values
    assert (2.0, float, 3, int) == (values["n"], type(values["n"]), values["i"], type(values["i"]))
    assert [float, float, float, float] == [type(v) for v in (*values["ns"], values["m"]["a"], values["d"])]


def test_violations_are_capped_at_twenty_and_counted():
    workflow = {"spec": {"schema": {"parameters": {"a": "map<string>"}}}}
    params = {"a": {f"k{i:02d}": i for i in range(30)}}
    with pytest.raises(InvalidParameters) as caught:
        resolve_parameters(workflow, params)
    assert MAX_VIOLATIONS == len(caught.value.violations)
    assert 30 == caught.value.total
    assert caught.value.message.endswith("; and 10 more")
    assert "InvalidParameters" == caught.value.reason


def test_long_values_are_clipped_in_messages():
    workflow = {"spec": {"schema": {"parameters": {"a": "integer"}}}}
    (line,) = violations(workflow, {"a": "x" * 5000})
    assert len(line) < 200


def test_pattern_is_linear_time():
    workflow = {"spec": {"schema": {"parameters": {"a": "string | pattern=^(a+)+$"}}}}
    start = time.monotonic()
    (line,) = violations(workflow, {"a": "a" * 50_000 + "!"})
    assert time.monotonic() - start < 1.0
    assert line.startswith("parameters.a: 'aaaa")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(None, {}, id="absent-is-empty"),
        pytest.param({"anything": [1, {"x": True}]}, {"anything": [1, {"x": True}]}, id="passed-through"),
    ],
)
def test_workflow_without_schema_takes_parameters_as_given(params, expected):
    assert expected == resolve_parameters({"spec": {}}, params).values


def test_parameters_must_be_a_map():
    assert ["parameters: list is not of type 'object'"] == violations({"spec": {}}, [1])


def test_broken_schema_is_invalid_schema_not_invalid_parameters():
    with pytest.raises(InvalidSchema) as caught:
        resolve_parameters({"spec": {"schema": {"parameters": {"a": "strng"}}}}, {})
    assert "InvalidSchema" == caught.value.reason
