"""The openAPIV3Schema form: OpenAPI 3.0 touches, local $ref/$defs, defaults through refs, errors."""

import pytest

from choreo_controller.schema import (
    InvalidParameters,
    InvalidSchema,
    compile_workflow_schema,
    resolve_parameters,
)


def workflow(schema):
    return {"spec": {"parameters": {"openAPIV3Schema": schema}}}


REPO = workflow(
    {
        "type": "object",
        "required": ["repository"],
        "$defs": {
            "revision": {
                "type": "object",
                "default": {},
                "properties": {
                    "branch": {"type": "string", "default": "main"},
                    "depth": {"type": "integer", "default": 1},
                },
            }
        },
        "properties": {
            "repository": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "pattern": "^https://"},
                    "revision": {"$ref": "#/$defs/revision"},
                },
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
            "tag": {"type": "string", "nullable": True},
            "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1},
            "extra": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"a": {"type": "string"}},
            },
        },
    }
)


def test_defaults_travel_through_local_refs():
    expected = {"repository": {"url": "https://x", "revision": {"branch": "main", "depth": 1}}, "labels": {}}
    assert expected == resolve_parameters(REPO, {"repository": {"url": "https://x"}}).values


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"repository": {"url": "http://x"}},
            ["parameters.repository.url: 'http://x' does not match '^https://'"],
            id="pattern",
        ),
        pytest.param(
            {"repository": {"url": "https://x", "revision": {"depth": "1"}}},
            ["parameters.repository.revision.depth: '1' is not of type 'integer'"],
            id="ref-validates",
        ),
        pytest.param(
            {"repository": {"url": "https://x"}, "ratio": 0},
            ["parameters.ratio: 0 is less than or equal to the minimum of 0"],
            id="exclusive-minimum-boolean",
        ),
        pytest.param(
            {"repository": {"url": "https://x"}, "labels": {"a": 1}},
            ["parameters.labels.a: 1 is not of type 'string'"],
            id="map",
        ),
    ],
)
def test_violations(params, expected):
    with pytest.raises(InvalidParameters) as caught:
        resolve_parameters(REPO, params)
    assert expected == list(caught.value.violations)


def test_properties_close_the_object_unknown_fields_are_named():
    assert ("parameters.nope",) == resolve_parameters(
        REPO, {"repository": {"url": "https://x"}, "nope": 1}
    ).unknown


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("tag", None, id="nullable"),
        pytest.param("extra", {"zz": 1}, id="preserve-unknown-fields"),
    ],
)
def test_accepted(key, value):
    assert value == resolve_parameters(REPO, {"repository": {"url": "https://x"}, key: value}).values[key]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {"properties": {"a": {"$ref": "http://example.com/s.json"}}},
            "parameters: only local $ref ('#/...') is supported, got 'http://example.com/s.json'",
            id="remote-ref",
        ),
        pytest.param(
            {"$defs": {"a": {"$ref": "#/$defs/a"}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
            "parameters: $ref '#/$defs/a' refers to itself",
            id="cycle",
        ),
        pytest.param(
            {"properties": {"x": {"$ref": "#/$defs/none"}}},
            "parameters: $ref '#/$defs/none' does not resolve",
            id="dangling",
        ),
        pytest.param({"properties": {"x": {"type": "strin"}}}, None, id="metaschema"),
        pytest.param(
            {"properties": {"x": {"type": "string", "default": 3}}},
            "parameters.x: default does not satisfy its schema: $: 3 is not of type 'string'",
            id="bad-default",
        ),
        pytest.param(
            {"properties": {"x": {"type": "string", "pattern": "(?=a)"}}},
            "pattern '(?=a)' is not supported (RE2 syntax)",
            id="pattern-not-re2",
        ),
    ],
)
def test_schema_errors(schema, expected):
    with pytest.raises(InvalidSchema) as caught:
        compile_workflow_schema(workflow(schema))
    if expected is None:
        assert caught.value.problems[0].startswith("parameters: invalid schema at properties/x/type:")
    else:
        assert [expected] == list(caught.value.problems)


def test_property_named_like_a_keyword_is_data_not_schema():
    schema = {
        "type": "object",
        "properties": {
            "nullable": {"type": "string", "default": "x"},
            "$ref": {"type": "string", "default": "y"},
        },
    }
    assert {"nullable": "x", "$ref": "y"} == resolve_parameters(workflow(schema), {}).values


def test_null_takes_the_default_unless_the_field_is_nullable():
    schema = {
        "type": "object",
        "properties": {
            "plain": {"type": "string", "default": "d"},
            "maybe": {"type": "string", "nullable": True, "default": "d"},
        },
    }
    assert {"plain": "d", "maybe": None} == resolve_parameters(
        workflow(schema), {"plain": None, "maybe": None}
    ).values
