"""Shorthand parameter schemas (SPEC section 3): every type, every constraint, every error."""

import pytest

from choreo_controller.schema import InvalidSchema, compile_workflow_schema


def compiled(parameters, types=None):
    spec = {"schema": {"parameters": parameters}}
    if types is not None:
        spec["schema"]["types"] = types
    schema = compile_workflow_schema({"spec": spec}).schema
    return {key: value for key, value in schema.items() if key != "$schema"}


def field(leaf, types=None):
    return compiled({"f": leaf}, types)["properties"]["f"]


def schema_problems(parameters, types=None):
    with pytest.raises(InvalidSchema) as caught:
        compiled(parameters, types)
    return list(caught.value.problems)


@pytest.mark.parametrize(
    ("leaf", "expected"),
    [
        pytest.param("string", {"type": "string"}, id="string"),
        pytest.param("integer", {"type": "integer"}, id="integer"),
        pytest.param("number", {"type": "number"}, id="number"),
        pytest.param("boolean", {"type": "boolean"}, id="boolean"),
        pytest.param("[]string", {"type": "array", "items": {"type": "string"}}, id="slice"),
        pytest.param("array<integer>", {"type": "array", "items": {"type": "integer"}}, id="array-generic"),
        pytest.param("map<string>", {"type": "object", "additionalProperties": {"type": "string"}}, id="map"),
        pytest.param(
            "map[string]boolean", {"type": "object", "additionalProperties": {"type": "boolean"}}, id="go-map"
        ),
        pytest.param(
            "[]map<string>",
            {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}},
            id="nested-generic",
        ),
        pytest.param(
            "map<[]integer>",
            {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}}},
            id="map-of-slices",
        ),
    ],
)
def test_types(leaf, expected):
    assert expected == field(leaf)


def test_nested_maps_are_closed_objects_required_unless_defaulted():
    expected = {
        "type": "object",
        "properties": {
            "repo": {
                "type": "object",
                "properties": {"url": {"type": "string"}, "branch": {"type": "string", "default": "main"}},
                "additionalProperties": False,
                "required": ["url"],
            },
            "debug": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
        "required": ["repo"],
    }
    assert expected == compiled(
        {"repo": {"url": "string", "branch": "string | default=main"}, "debug": "boolean | default=false"}
    )


def test_custom_types_map_and_alias():
    types = {"Env": "string | enum=dev,prod", "Probe": {"$default": {}, "path": "string | default=/healthz"}}
    expected_probe = {
        "type": "object",
        "default": {},
        "properties": {"path": {"type": "string", "default": "/healthz"}},
        "additionalProperties": False,
    }
    assert {"type": "string", "enum": ["dev", "prod"]} == field("Env", types)
    assert expected_probe == field("Probe", types)
    assert {"type": "array", "items": expected_probe, "default": []} == field("[]Probe | default=[]", types)


def test_field_default_overrides_type_default():
    types = {"Res": {"$default": {"cpu": "100m"}, "cpu": "string"}}
    assert {"cpu": "500m"} == field('Res | default={"cpu": "500m"}', types)["default"]
    assert {"cpu": "100m"} == field("Res", types)["default"]


@pytest.mark.parametrize(
    ("leaf", "expected"),
    [
        pytest.param("string | default=main", {"default": "main"}, id="default-bare"),
        pytest.param("string | default=''", {"default": ""}, id="default-empty-single"),
        pytest.param('string | default=""', {"default": ""}, id="default-empty-double"),
        pytest.param("string | default='User''s tz'", {"default": "User's tz"}, id="single-quote-escape"),
        pytest.param(
            r'string | default="a \"b\" \\ \d"', {"default": 'a "b" \\ \\d'}, id="double-quote-escapes"
        ),
        pytest.param("integer | default=8080", {"default": 8080}, id="default-integer"),
        pytest.param("integer | default=-3", {"default": -3}, id="default-negative"),
        pytest.param("number | default=0.5", {"default": 0.5}, id="default-number"),
        pytest.param("boolean | default=true", {"default": True}, id="default-boolean"),
        pytest.param(
            '[]string | default=["linux/amd64", "linux/arm64"]',
            {"default": ["linux/amd64", "linux/arm64"]},
            id="default-json-array",
        ),
        pytest.param("map<string> | default={}", {"default": {}}, id="default-json-object"),
        pytest.param("string | enum=a,b,c", {"enum": ["a", "b", "c"]}, id="enum-bare"),
        pytest.param(
            "string | enum=\"extra small\",'small',medium",
            {"enum": ["extra small", "small", "medium"]},
            id="enum-quoted",
        ),
        pytest.param(
            'string | enum="last, first","first last"',
            {"enum": ["last, first", "first last"]},
            id="enum-commas-in-quotes",
        ),
        pytest.param("integer | enum=1,2,3", {"enum": [1, 2, 3]}, id="enum-typed"),
        pytest.param('string | enum=["a", "b"]', {"enum": ["a", "b"]}, id="enum-json"),
        pytest.param("integer | minimum=1 maximum=10", {"minimum": 1, "maximum": 10}, id="min-max"),
        pytest.param(
            "number | minimum=0 exclusiveMinimum=true",
            {"exclusiveMinimum": 0},
            id="exclusive-minimum-openapi3",
        ),
        pytest.param(
            "integer | maximum=5 exclusiveMaximum=true", {"exclusiveMaximum": 5}, id="exclusive-maximum"
        ),
        pytest.param("integer | maximum=5 exclusiveMaximum=false", {"maximum": 5}, id="exclusive-false"),
        pytest.param("number | multipleOf=0.01", {"multipleOf": 0.01}, id="multiple-of"),
        pytest.param("[]string | minItems=1 maxItems=3", {"minItems": 1, "maxItems": 3}, id="items"),
        pytest.param("string | minLength=3 maxLength=20", {"minLength": 3, "maxLength": 20}, id="length"),
        pytest.param(
            "map<string> | minProperties=1 maxProperties=4",
            {"minProperties": 1, "maxProperties": 4},
            id="properties",
        ),
        pytest.param("string | pattern=^[a-z][a-z0-9_]*$", {"pattern": "^[a-z][a-z0-9_]*$"}, id="pattern"),
        pytest.param("string | pattern=[a-z]+", {"pattern": "[a-z]+"}, id="pattern-starting-with-bracket"),
        pytest.param("string | pattern=^a{1,3}$", {"pattern": "^a{1,3}$"}, id="pattern-with-comma"),
        pytest.param('string | pattern="a|b|c"', {"pattern": "a|b|c"}, id="pattern-with-pipes"),
        pytest.param("string | format=email", {"format": "email"}, id="format"),
        pytest.param(
            "string | title='API Key' description=\"Authentication key\" example=sk-abc123",
            {"title": "API Key", "description": "Authentication key", "example": "sk-abc123"},
            id="documentation",
        ),
        pytest.param(
            "string | default=main | description=x", {"default": "main", "description": "x"}, id="lone-pipe"
        ),
        pytest.param(
            "string | oc:build:inject=git.sha oc:ui:hidden=true oc:flag default=x",
            {"default": "x"},
            id="oc-markers-ignored",
        ),
        pytest.param("string|default=tight", {"default": "tight"}, id="no-spaces-around-pipe"),
    ],
)
def test_constraints(leaf, expected):
    schema = field(leaf)
    assert expected == {
        key: value for key, value in schema.items() if key not in {"type", "items", "additionalProperties"}
    }


@pytest.mark.parametrize(
    ("parameters", "types", "expected"),
    [
        pytest.param(
            {"f": "string | required"},
            None,
            "parameters.f: unknown marker 'required' (a field is required unless it has a default)",
            id="required-marker",
        ),
        pytest.param(
            {"f": "string | secret"}, None, "parameters.f: unknown marker 'secret'", id="unknown-marker"
        ),
        pytest.param(
            {"f": "string | colour=red"},
            None,
            "parameters.f: unknown constraint 'colour'",
            id="unknown-constraint",
        ),
        pytest.param(
            {"f": "string | default=a default=b"}, None, "parameters.f: default given twice", id="duplicate"
        ),
        pytest.param({"f": "strin"}, None, "parameters.f: unknown type 'strin'", id="unknown-type"),
        pytest.param({"f": "object"}, None, "parameters.f: unknown type 'object'", id="no-generic-object"),
        pytest.param(
            {"f": "string extra"},
            None,
            "parameters.f: expected '<type> | <constraints>', got 'string extra'",
            id="missing-pipe",
        ),
        pytest.param(
            {"f": "string | minimum=3"},
            None,
            "parameters.f: minimum does not apply to a string",
            id="not-applicable",
        ),
        pytest.param(
            {"f": "integer | default=abc"},
            None,
            "parameters.f: default must be an integer, got 'abc'",
            id="bad-integer",
        ),
        pytest.param(
            {"f": "integer | default=1.5"},
            None,
            "parameters.f: default must be an integer, got '1.5'",
            id="float-for-integer",
        ),
        pytest.param(
            {"f": "boolean | default=yes"},
            None,
            "parameters.f: default of a boolean must be true or false, got 'yes'",
            id="bad-boolean",
        ),
        pytest.param(
            {"f": "[]string | default=[oops"},
            None,
            "parameters.f: default must be JSON, got '[oops'",
            id="bad-json",
        ),
        pytest.param(
            {"f": "integer | exclusiveMinimum=true"},
            None,
            "parameters.f: exclusiveMinimum=true needs minimum",
            id="exclusive-without-bound",
        ),
        pytest.param(
            {"f": "integer | exclusiveMinimum=3"},
            None,
            "parameters.f: exclusiveMinimum must be true or false (OpenAPI 3.0 style)",
            id="exclusive-number",
        ),
        pytest.param(
            {"f": "string | minLength=-1"},
            None,
            "parameters.f: minLength must not be negative",
            id="negative-count",
        ),
        pytest.param(
            {"f": "number | multipleOf=0"},
            None,
            "parameters.f: multipleOf must be greater than 0",
            id="zero-multiple",
        ),
        pytest.param(
            {"f": "string | description='open"},
            None,
            "parameters.f: unterminated ' quote",
            id="unterminated-quote",
        ),
        pytest.param(
            {"f": r"string | pattern=(a)\1"},
            None,
            "parameters.f: pattern '(a)\\\\1' is not supported (RE2 syntax)",
            id="pattern-not-re2",
        ),
        pytest.param(
            {"f": 8080},
            None,
            "parameters.f: expected a type string or a nested map, got int",
            id="not-a-string",
        ),
        pytest.param(
            {"$schema": "x"},
            None,
            "parameters.$schema: unknown directive (only $default is allowed)",
            id="unknown-directive",
        ),
        pytest.param(
            {"f": "A"},
            {"A": {"b": "B"}, "B": {"a": "A"}},
            "types.A: type refers to itself (A -> B -> A)",
            id="type-cycle",
        ),
    ],
)
def test_schema_errors(parameters, types, expected):
    assert [expected] == schema_problems(parameters, types)


@pytest.mark.parametrize(
    ("parameters", "types", "expected"),
    [
        pytest.param(
            {"f": "string | default=abc pattern=^x"},
            None,
            "parameters.f: default does not satisfy its schema: $: 'abc' does not match '^x'",
            id="pattern",
        ),
        pytest.param(
            {"f": "string | enum=a,b default=c"},
            None,
            "parameters.f: default does not satisfy its schema: $: 'c' is not one of ['a', 'b']",
            id="enum",
        ),
        pytest.param(
            {"f": "integer | minimum=10 default=5"},
            None,
            "parameters.f: default does not satisfy its schema: $: 5 is less than the minimum of 10",
            id="minimum",
        ),
        pytest.param(
            {"db": "Database | default={}"},
            {"Database": {"host": "string", "port": "integer | default=5432"}},
            "parameters.db: default does not satisfy its schema: $.host: 'host' is a required property",
            id="object-missing-required",
        ),
        pytest.param(
            {"m": {"$default": {"x": 1}, "a": "string | default=a"}},
            None,
            "parameters.m: default does not satisfy its schema: $.x: unknown parameter",
            id="object-unknown-key",
        ),
    ],
)
def test_defaults_must_satisfy_their_own_constraints(parameters, types, expected):
    assert [expected] == schema_problems(parameters, types)


def test_default_object_valid_when_its_fields_have_defaults():
    types = {"Monitoring": {"enabled": "boolean | default=false", "port": "integer | default=9090"}}
    assert {} == field("Monitoring | default={}", types)["default"]


def test_both_forms_are_exclusive():
    workflow = {
        "spec": {
            "schema": {"parameters": {"a": "string"}},
            "parameters": {"openAPIV3Schema": {"type": "object"}},
        }
    }
    with pytest.raises(InvalidSchema, match="exclusive"):
        compile_workflow_schema(workflow)


def test_no_schema_is_none():
    assert None is compile_workflow_schema({"spec": {}})


def test_compiled_schema_is_cached_by_content():
    first = compile_workflow_schema(
        {"metadata": {"name": "a"}, "spec": {"schema": {"parameters": {"x": "string"}}}}
    )
    second = compile_workflow_schema(
        {"metadata": {"name": "b"}, "spec": {"schema": {"parameters": {"x": "string"}}}}
    )
    assert first is second
