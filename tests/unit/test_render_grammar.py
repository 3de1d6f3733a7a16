"""The CEL parser the package ships (``render/cel-parser.lark``) is the one the grammar builds, and is current.

``hack/gen-cel-parser.py`` writes it; after a change to the grammar edits or an upgrade of cel-python or
lark, the first test fails until it is rerun (the package still works meanwhile: it builds the parser at
import, the slow way).
"""

import lark
import pytest

from choreo_controller.render import grammar

EXPRESSIONS = [
    "1 + 2 * 3",
    "a.b.c[0] == 'x' && !d || e in [1, 2, 3]",
    "x.?field.orValue('none')",
    "m[?key]",
    "[a, ?maybe, ]",
    '{"k": 1, ?"opt": maybe, }',
    "math.ceil(3.2) + size(strings.quote(s))",
    "items.map(i, i * 2).filter(j, j > 2).exists(k, k == 4)",
    "b'bytes' + r'raw\\n' + '''long'''",
    "x ? y : z ? 1u : -2.5e3",
    "has(a.b) ? optional.of(a.b) : optional.none()",
]


@pytest.fixture(scope="module")
def parsers():
    """``(built, shipped)``; the shipped one is None when it is out of date."""
    text = grammar.grammar_text()
    return grammar.build(text), grammar.shipped(grammar.parser_key(text))


def test_the_shipped_parser_is_current(parsers):
    """Fails after a grammar, cel-python or lark change: rerun hack/gen-cel-parser.py."""
    assert parsers[1] is not None
    assert grammar._PARSER.options.tree_class is grammar._Tree


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_the_shipped_parser_parses_as_a_built_one(parsers, text):
    built, loaded = parsers
    assert built.parse(text) == loaded.parse(text)
    assert type(built.parse(text)) is type(loaded.parse(text)) is grammar._Tree


@pytest.mark.parametrize("text", ["1 +", "a..b", "[?]", "x.?", "'open"])
def test_both_reject_the_same_syntax_errors(parsers, text):
    errors = []
    for parser in parsers:
        with pytest.raises(lark.exceptions.UnexpectedInput) as raised:
            parser.parse(text)
        errors.append((type(raised.value), raised.value.line, raised.value.column))
    assert errors[0] == errors[1]


def test_a_parser_built_from_something_else_is_not_loaded():
    assert grammar.shipped(grammar.parser_key(grammar.grammar_text() + "\n// edited")) is None
