"""Splitting template strings: whole values, interpolation, escapes, braces and quotes (SPEC section 4)."""

import pytest

from choreo_controller.render.errors import InvalidTemplate
from choreo_controller.render.scan import Expr, parse


@pytest.mark.parametrize(
    ("text", "parts", "whole"),
    [
        pytest.param("plain text", ("plain text",), None, id="literal"),
        pytest.param("", ("",), None, id="empty"),
        pytest.param("${a.b}", (Expr("a.b"),), Expr("a.b"), id="whole"),
        pytest.param("  ${a}\n", (Expr("a"),), Expr("a"), id="whole-after-trimming"),
        pytest.param("${ a }", (Expr(" a "),), Expr(" a "), id="whole-keeps-inner-spaces"),
        pytest.param("x-${a}", ("x-", Expr("a")), None, id="prefix"),
        pytest.param("${a}${b}", (Expr("a"), Expr("b")), None, id="two-adjacent"),
        pytest.param(
            " ${a} ${b} ", (" ", Expr("a"), " ", Expr("b"), " "), None, id="spaces-kept-in-interpolation"
        ),
        pytest.param("$${a}", ("${a}",), None, id="escape"),
        pytest.param("x $${a} ${b}", ("x ${a} ", Expr("b")), None, id="escape-then-expression"),
        pytest.param("$$${a}", ("$${a}",), None, id="dollar-then-escape"),
        pytest.param("$HOME $(date) {{x}}", ("$HOME $(date) {{x}}",), None, id="other-syntaxes-literal"),
        pytest.param("cost: $5", ("cost: $5",), None, id="lone-dollar"),
        pytest.param("${{'a': 1}}", (Expr("{'a': 1}"),), Expr("{'a': 1}"), id="map-literal-balanced"),
        pytest.param('${"}" + a}', (Expr('"}" + a'),), Expr('"}" + a'), id="brace-in-double-quotes"),
        pytest.param("${'${x}' + a}", (Expr("'${x}' + a"),), Expr("'${x}' + a"), id="dollar-brace-in-quotes"),
        pytest.param("${'it\\'s}' + a}", (Expr("'it\\'s}' + a"),), Expr("'it\\'s}' + a"), id="escaped-quote"),
        pytest.param(
            "${'''a}'b''' + a}", (Expr("'''a}'b''' + a"),), Expr("'''a}'b''' + a"), id="triple-quotes"
        ),
        pytest.param(
            "${a // } comment\n + b}",
            (Expr("a // } comment\n + b"),),
            Expr("a // } comment\n + b"),
            id="comment",
        ),
        pytest.param(
            "${x ? {'k': [1, {}]} : {}}-y", (Expr("x ? {'k': [1, {}]} : {}"), "-y"), None, id="nested-braces"
        ),
    ],
)
def test_parse(text, parts, whole):
    parsed = parse(text)
    assert parts == parsed.parts
    assert whole == parsed.whole


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("${a", "unterminated", id="unterminated"),
        pytest.param("${'a}", "unterminated", id="unterminated-string"),
        pytest.param("${{a}", "unterminated", id="unbalanced"),
        pytest.param("${a // }", "unterminated", id="comment-swallows-brace"),
        pytest.param("${}", "empty expression", id="empty"),
        pytest.param("x ${  } y", "empty expression", id="blank"),
    ],
)
def test_malformed(text, message):
    with pytest.raises(InvalidTemplate, match=message):
        parse(text)


def test_literal_helpers():
    parsed = parse("a $${b} c")
    assert parsed.is_literal
    assert "a ${b} c" == parsed.literal()
    assert () == parsed.expressions()
