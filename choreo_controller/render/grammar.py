"""The CEL parser: celpy's grammar plus the syntax cel-go's ``OptionalTypes`` adds, and namespaced calls.

OpenChoreo enables ``cel.OptionalTypes()``: ``x.?field``, ``x[?key]``, ``[a, ?maybe]`` and
``{?"k": maybe}``; cel-go also accepts a trailing comma in list and map literals. celpy 0.5's grammar has
none of these, so this module derives our grammar from celpy's ``cel.lark`` (read at start-up, a handful
of rule edits, so celpy fixes keep flowing in) and builds our own LALR parser - celpy's is a process-wide
singleton we must not change under other users.

After parsing, calls written ``math.ceil(x)``, ``base64.encode(b)``, ``strings.quote(s)``,
``sets.contains(a, b)``, ``lists.range(n)``, ``optional.of(x)``... become plain calls of a function named
``math.ceil`` (an ``ident_arg`` node): cel-go resolves these qualified names as functions, not as
field selections on a variable ``math``, and no context variable has such a name.
"""

from __future__ import annotations

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


def _grammar() -> str:
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


def _build() -> lark.Lark:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 2500))  # celpy's tree walk recurses per AST level
    return lark.Lark(
        _grammar(),
        parser="lalr",
        start="expr",
        g_regex_flags=re.MULTILINE,
        lexer_callbacks={"IDENT": CELParser.ambiguous_literals},
        propagate_positions=False,
        tree_class=_Tree,
        maybe_placeholders=False,
        priority="invert",
    )


# Built at import (a few hundred ms of LALR table construction, once per process) so that no render's
# time budget ever pays for it.
_PARSER: Final = _build()


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
