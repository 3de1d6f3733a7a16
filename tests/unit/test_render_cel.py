"""CEL expressions: functions, normalised results, safe errors, static limits, and the fast path's fidelity."""

import dataclasses
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo_controller.render.budget import Budget
from choreo_controller.render.cel import MAX_EXPRESSION_BYTES, Scope, compile_expression
from choreo_controller.render.errors import InvalidTemplate, RenderFailed
from choreo_controller.render.values import OMIT

# celpy's Environment raises the recursion limit when it is created; do that before hypothesis watches.
compile_expression("true")
PARAMS = {
    "s": "Hello, World",
    "e": "",
    "n": 3,
    "f": 1.5,
    "b": True,
    "nul": None,
    "l": ["a", "b", "c"],
    "m": {"k": "v", "x-y": 1},
}


def scope():
    # CPU time: a loaded machine must not turn an outcome into a wall-clock RenderTimedOut (flaky compares)
    return Scope({"parameters": PARAMS, "metadata": {"name": "run"}}, Budget(clock=time.process_time))


def evaluate(text):
    return compile_expression(text).evaluate(scope())


def interpret(text):
    program = dataclasses.replace(compile_expression(text), fast=None)
    return program.evaluate(scope())


def outcome(fn, text):
    try:
        return ("value", fn(text))
    except RenderFailed as error:
        return ("error", error.detail)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("'ÀbC-Z'.lowerAscii()", "Àbc-z", id="lowerAscii-ascii-only"),
        pytest.param("upperAscii('straße')", "STRAßE", id="upperAscii-function-style"),
        pytest.param("'a-b-c'.replace('-', '+')", "a+b+c", id="replace-all"),
        pytest.param("'a-b-c'.replace('-', '+', 1)", "a+b-c", id="replace-n"),
        pytest.param("'a,b,c'.split(',')", ["a", "b", "c"], id="split"),
        pytest.param("'a,b,c'.split(',', 2)", ["a", "b,c"], id="split-n"),
        pytest.param("'a,b'.split(',', 0)", [], id="split-zero"),
        pytest.param("'abc'.split('')", ["a", "b", "c"], id="split-empty-separator"),
        pytest.param("parameters.l.join()", "abc", id="join"),
        pytest.param("parameters.l.join(', ')", "a, b, c", id="join-separator"),
        pytest.param("'  x \\n'.trim()", "x", id="trim"),
        pytest.param("'abcdef'.substring(2)", "cdef", id="substring-start"),
        pytest.param("'abcdef'.substring(1, 3)", "bc", id="substring-range"),
        pytest.param("'héllo'.indexOf('l')", 2, id="indexOf-code-points"),
        pytest.param("'hello'.indexOf('l', 3)", 3, id="indexOf-offset"),
        pytest.param("'hello'.indexOf('z')", -1, id="indexOf-missing"),
        pytest.param("'hello'.lastIndexOf('l')", 3, id="lastIndexOf"),
        pytest.param("string(true) + '/' + string(false)", "true/false", id="string-bool-cel-go-spelling"),
        pytest.param("string(parameters.n)", "3", id="string-int"),
        pytest.param("string(parameters.l)", '["a","b","c"]', id="string-list-json"),
        pytest.param("string(parameters.m)", '{"k":"v","x-y":1}', id="string-map-json"),
        pytest.param("oc_hash('hello world')", "d58b3fa7", id="oc_hash-fnv32a"),
        pytest.param("oc_hash('test data')", "578fbe87", id="oc_hash-2"),
        pytest.param("oc_generate_name('Hello World!')", "hello-world-7f83b165", id="generate-name-single"),
        pytest.param(
            "oc_generate_name('my-app', 'v1.2.3')", "my-app-v1.2.3-4f878dd8", id="generate-name-variadic"
        ),
        pytest.param(
            "oc_generate_name(['my-app', 'v1.2.3'])", "my-app-v1.2.3-4f878dd8", id="generate-name-list"
        ),
        pytest.param("oc_generate_name('a', 1, 'b')", "a-b-d44362d6", id="generate-name-ignores-non-strings"),
        pytest.param("oc_dns_label('My.App', 'prod')", "my-app-prod-0be2f838", id="dns-label-no-dots"),
        pytest.param("oc_merge({'a': 1, 'b': 1}, {'b': 2})", {"a": 1, "b": 2}, id="merge-later-wins"),
        pytest.param(
            "oc_merge({'a': {'x': 1}}, {'a': {'y': 2}}, {'c': 3})",
            {"a": {"y": 2}, "c": 3},
            id="merge-shallow-variadic",
        ),
        pytest.param("{'a': 1, 'b': oc_omit()}", {"a": 1}, id="omit-in-map-literal"),
        pytest.param("[1, oc_omit(), 3]", [1, 3], id="omit-in-list-literal"),
        pytest.param("[{'x': oc_omit()}]", [{}], id="omit-nested"),
        pytest.param("oc_omit()", OMIT, id="omit-whole"),
        pytest.param("has(parameters.s) && !has(parameters.zz)", True, id="has"),
        pytest.param("size(parameters.l) + parameters.s.size()", 15, id="size"),
        pytest.param("parameters.l.map(x, x + '!')", ["a!", "b!", "c!"], id="map"),
        pytest.param("parameters.l.filter(x, x != 'b')", ["a", "c"], id="filter"),
        pytest.param(
            "parameters.l.exists(x, x == 'c') && parameters.l.all(x, size(x) == 1)", True, id="exists-all"
        ),
        pytest.param("'b' in parameters.l && 'k' in parameters.m", True, id="in"),
        pytest.param("parameters.s.matches('^H.*d$')", True, id="matches"),
        pytest.param("parameters.b ? parameters.n : 'no'", 3, id="ternary-native-type"),
        pytest.param("parameters.m['x-y']", 1, id="index-odd-key"),
        pytest.param("parameters.f * 2.0", 3.0, id="double"),
        pytest.param("parameters.nul", None, id="null"),
        pytest.param("b'hi'", "aGk=", id="bytes-base64"),
        pytest.param("{1: 'one'}", {"1": "one"}, id="int-map-keys-become-strings"),
        pytest.param("{true: 'yes'}", {"true": "yes"}, id="bool-map-keys-become-strings"),
        pytest.param("[true, 1u, 2]", [True, 1, 2], id="normalised-scalars"),
    ],
)
def test_values(text, expected):
    assert expected == evaluate(text)


def test_results_are_plain_json_types():
    value = evaluate("{'b': true, 'l': [1, 'x'], 's': parameters.s + '!'}")
    assert {bool, list, str} == {type(value["b"]), type(value["l"]), type(value["s"])}
    assert [int, str] == [type(item) for item in value["l"]]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param("parameters.repository.url", "no such key 'repository'", id="missing-key-named"),
        pytest.param("parameters.m.nope", "no such key 'nope'", id="missing-nested-key"),
        pytest.param("parameters['nope']", "no such key 'nope'", id="missing-index-literal"),
        pytest.param("parameters.m[parameters.s]", "no such key", id="missing-index-computed-not-named"),
        pytest.param("paramters.s", "undeclared reference to 'paramters'", id="undeclared"),
        pytest.param("parameters.n + 's'", "no matching overload for (int, string)", id="overload"),
        pytest.param("parameters.n / 0", "division by zero", id="division"),
        pytest.param("9223372036854775807 + 1", "integer overflow", id="overflow"),
        pytest.param("parameters.l[7]", "index out of range", id="index"),
        pytest.param("parameters.s.x", "field selection on a value that is not a map", id="field-on-string"),
        pytest.param("'abc'.substring(2, 9)", "substring index out of range", id="substring-range"),
        pytest.param("[1].join()", "join needs a list of strings and a string separator", id="join-type"),
        pytest.param("oc_merge({'a': 1})", "oc_merge needs two or more maps", id="merge-arity"),
        pytest.param("oc_hash(1)", "oc_hash needs a string", id="hash-type"),
        pytest.param("{'a': 1, 'a': 2}", "map literal with a repeated key", id="duplicate-map-key"),
        pytest.param("1.0 / 0.0", "a double that JSON cannot represent (NaN or infinity)", id="infinity"),
    ],
)
def test_errors(text, detail):
    with pytest.raises(RenderFailed) as caught:
        evaluate(text)
    assert detail == caught.value.detail
    assert text == caught.value.expression
    assert "RenderFailed" == caught.value.reason


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        pytest.param("parameters.s +", "CEL syntax error at line 1, column 14", id="syntax"),
        pytest.param(
            "'" + "x" * MAX_EXPRESSION_BYTES + "'", "expression longer than 4096 bytes", id="too-long"
        ),
        pytest.param("(" * 60 + "1" + ")" * 60, "expression nested too deeply (610 > 500)", id="too-deep"),
    ],
)
def test_static_errors(text, detail):
    with pytest.raises(InvalidTemplate) as caught:
        compile_expression(text)
    assert detail == caught.value.detail
    assert "InvalidTemplate" == caught.value.reason


def test_compile_cache_is_keyed_by_text():
    assert compile_expression("parameters.s + 'x'") is compile_expression("parameters.s + 'x'")


ATOMS = [
    "parameters.s", "parameters.e", "parameters.n", "parameters.f", "parameters.b", "parameters.nul",
    "parameters.l", "parameters.m", "parameters.m.k", "parameters['s']", "parameters.l[1]", "parameters.l[9]",
    "parameters.zz", "metadata.name", "'x'", '"Hello, World"', "''", "1", "0", "-2", "true", "false", "null",
    "[1, 'a']", "{'k': 'v'}", "has(parameters.s)", "has(parameters.zz)", "has(parameters.m.k)", "has(parameters.zz.k)",
]  # fmt: skip
UNARY = ["!({})", "size({})", "string({})", "({}).join('-')", "({}).startsWith('H')", "({})"]
BINARY = ["({} == {})", "({} != {})", "({} < {})", "({} >= {})", "({} + {})", "({} - {})", "({} && {})",
          "({} || {})", "({}).contains({})"]  # fmt: skip


def expressions():
    atoms = st.sampled_from(ATOMS)
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(UNARY), st.sampled_from(["s", "zz", "m"]) | inner).map(
                lambda t: t[0].format(t[1])
            ),
            st.tuples(st.sampled_from(BINARY), inner, inner).map(lambda t: t[0].format(t[1], t[2])),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        ),
        max_leaves=6,
    )


@settings(max_examples=300, deadline=None)
@given(expressions())
def test_fast_path_agrees_with_the_interpreter(text):
    assert outcome(interpret, text) == outcome(evaluate, text)


def test_concatenations_stay_cel_values():  # found by the property above; cel-go gives true
    assert ("value", True) == outcome(interpret, "(parameters.s + parameters.s).contains(parameters.s)")
    assert ("value", True) == outcome(interpret, "(parameters.l + ['z']).exists(x, x == 'z')")


def test_fast_path_covers_the_everyday_forms():
    for text in [
        "parameters.m.k",
        "parameters.e != ''",
        "parameters.b ? 'a' + parameters.s : ''",
        "parameters.l.join(',')",
    ]:
        assert compile_expression(text).fast is not None, text
    assert compile_expression("parameters.l.map(x, x)").fast is None
