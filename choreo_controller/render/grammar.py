"""The CEL parser: celpy's grammar plus the syntax cel-go's ``OptionalTypes`` adds, and namespaced calls.

OpenChoreo enables ``cel.OptionalTypes()``: ``x.?field``, ``x[?key]``, ``[a, ?maybe]`` and
``{?"k": maybe}``; cel-go also accepts a trailing comma in list and map literals. celpy 0.5's grammar has
none of these, so this module derives our grammar from celpy's ``cel.lark`` (read at start-up, a handful
of rule edits, so celpy fixes keep flowing in) and builds our own LALR parser - celpy's is a process-wide
singleton we must not change under other users.

Building the LALR tables takes a few hundred milliseconds of CPU, at every start of every process that
renders or checks a Workflow. So the built parser ships with the package: ``cel-parser.lark``, written by
``hack/gen-cel-parser.py`` (``Lark.save``: pickled tables, our own package data, loaded in a few ms). Its
first line is the key of what it was built from - the grammar text above, the options and lark's version -
and it is used only while that key matches; otherwise (lark upgraded, say) the parser is built here, as
before, and ``tests/unit/test_render_grammar.py`` fails until the file is regenerated.

After parsing, calls written ``math.ceil(x)``, ``base64.encode(b)``, ``strings.quote(s)``,
``sets.contains(a, b)``, ``lists.range(n)``, ``optional.of(x)``... become plain calls of a function named
``math.ceil`` (an ``ident_arg`` node): cel-go resolves these qualified names as functions, not as
field selections on a variable ``math``, and no context variable has such a name.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
from importlib import resources
from typing import Any, Final

import lark
from celpy.celparser import CELParseError, CELParser

NAMESPACES: Final = frozenset({"base64", "lists", "math", "optional", "sets", "strings"})

_EDITS: Final = (
    (
        "member         : member_dot | member_dot_arg | member_index | member_object | primary",
        (
            "member         : member_dot | member_dot_arg | member_index | member_object"
            " | member_dot_opt | member_index_opt | primary\n"
            'member_dot_opt : member "." "?" IDENT\n'
            'member_index_opt : member "[" "?" expr "]"'
        ),
    ),
    ('list_lit       : "[" [exprlist] "]"', 'list_lit       : "[" [listinits] "]"'),
    (
        'mapinits       : expr ":" expr ("," expr ":" expr)*',
        (
            'mapinits       : mapinit ("," mapinit)* [","]\n'
            'mapinit        : expr ":" expr | opt_key ":" expr\n'
            'opt_key        : "?" expr\n'
            'listinits      : listinit ("," listinit)* [","]\n'
            "listinit       : expr | opt_elem\n"
            'opt_elem       : "?" expr'
        ),
    ),
)


def grammar_text() -> str:
    """The grammar: celpy's ``cel.lark`` with our edits."""
    text = resources.files("celpy").joinpath("cel.lark").read_text(encoding="utf-8")
    for old, new in _EDITS:
        if old not in text:
            raise RuntimeError(f"celpy's grammar changed; cannot apply: {old!r}")
        text = text.replace(old, new)
    return text


class _Meta(lark.tree.Meta):
    """No positions: tracking them doubles parse time; celpy reads ``meta.line``/``column`` for messages."""

    line: int | None = None  # type: ignore[assignment]
    column: int | None = None  # type: ignore[assignment]


class _Tree(lark.Tree):  # type: ignore[type-arg]
    @property
    def meta(self) -> lark.tree.Meta:
        if self._meta is None:
            self._meta = _Meta()  # type: ignore[no-untyped-call]
        return self._meta


PARSER_FILE: Final = "cel-parser.lark"
#: Lark's options besides ``lexer_callbacks`` and ``tree_class`` (references, restored by ``Lark.load``).
_OPTIONS: Final = {
    "parser": "lalr",
    "start": "expr",
    "g_regex_flags": re.MULTILINE,
    "propagate_positions": False,
    "maybe_placeholders": False,
    "priority": "invert",
}


def parser_key(grammar: str) -> str:
    """What a parser is built from: the grammar, the options and lark's version, as one digest."""
    options = sorted((name, repr(value)) for name, value in _OPTIONS.items())
    return hashlib.sha256(f"{lark.__version__}\n{options}\n{grammar}".encode()).hexdigest()


def build(grammar: str) -> lark.Lark:
    """The LALR parser of ``grammar`` (the slow way: table construction)."""
    return lark.Lark(
        grammar,
        lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
        tree_class=_Tree,
        **_OPTIONS,
    )


def shipped(wanted: str) -> lark.Lark | None:
    """The parser in ``PARSER_FILE`` if it was built from what ``wanted`` (a ``parser_key``) says, or None."""
    try:
        data = resources.files(__package__).joinpath(PARSER_FILE).read_bytes()
    except FileNotFoundError:
        return None
    found, _, saved = data.partition(b"\n")
    if found.decode(errors="replace") != wanted:
        return None
    return lark.Lark.load(io.BytesIO(saved))


def _parser() -> lark.Lark:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2500))  # celpy's tree walk recurses per AST level
    grammar = grammar_text()
    return shipped(parser_key(grammar)) or build(grammar)


# Ready at import (loaded, or built when the shipped one is stale) so that no render's time budget ever
# pays for it.
_PARSER: Final = _parser()


def _namespaced_calls(tree: lark.Tree[Any]) -> None:
    """``math.ceil(x)`` (a method call on an identifier ``math``) becomes a call of ``math.ceil``."""
    for node in tree.iter_subtrees():
        if node.data != "member_dot_arg":
            continue
        target = node.children[0]
        while (
            isinstance(target, lark.Tree)
            and target.data in {"member", "primary"}
            and len(target.children) == 1
        ):
            target = target.children[0]
        if not (isinstance(target, lark.Tree) and target.data == "ident"):
            continue
        namespace = str(target.children[0])
        if namespace not in NAMESPACES:
            continue
        name = lark.Token("IDENT", f"{namespace}.{node.children[1]}")
        call = _Tree("ident_arg", [name, *node.children[2:]])
        node.data, node.children = "primary", [call]


def parse(text: str) -> lark.Tree[Any]:
    """The AST of ``text``; raises celpy's ``CELParseError`` (with line and column) for syntax errors."""
    try:
        tree = _PARSER.parse(text)
    except (lark.exceptions.UnexpectedToken, lark.exceptions.UnexpectedCharacters) as error:
        raise CELParseError("syntax error", line=error.line, column=error.column) from None
    except lark.exceptions.LarkError:
        raise CELParseError("syntax error") from None
    _namespaced_calls(tree)
    return tree
