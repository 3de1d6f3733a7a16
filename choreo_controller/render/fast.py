"""A fast evaluator for the everyday subset of CEL, with the interpreter as the referee.

Template expressions are mostly field paths, comparisons with literals, ternaries, string concatenation
and a few string functions (``parameters.repository.secretRef != ""``, ``x ? a + "-git" : ""``,
``parameters.docker.platforms.join(",")``). celpy walks its lark tree node by node for every operand; these
forms are compiled here, once per expression text, into Python closures over the plain JSON context.

Identical results by construction: a closure only handles cases whose result is certain, for operand types
where Python and CEL agree (``str``, ``int`` that is not ``bool``, ``bool``; ``==``/``!=``/``<`` on equal
types, ``+`` on two strings or two in-range ints, ``&&``/``||``/``!``/``?:`` on bools, map field and index
access that finds its key, ``has()``, ``size()``, ``string()`` and the ``functions`` module). Anything else
raises ``Fallback`` at run time (a missing key, a type mix, an error value) and the expression is evaluated
by the metered interpreter, which then produces the value or the canonical error. Constructs outside the
subset (comprehension macros, arithmetic beyond ``+``/``-``, timestamps...) make ``compile_fast`` return
``None``: such expressions always use the interpreter. Literals are folded by celpy itself.

The closures have no loops of their own, but functions (``oc_merge``, ``join``, ``string`` of a map...) and
``+`` do work proportional to their data, and a 4 KiB expression can call them hundreds of times. So they
charge the evaluation's ``Meter`` like the interpreter does (a step plus one per 16 elements produced, or
per 4 KiB of string), and the same step and time budget bounds a fast evaluation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, Evaluator

from choreo_controller.render import values
from choreo_controller.render.budget import MAX_STRING, Meter
from choreo_controller.render.functions import FUNCTIONS

Fn = Callable[[dict[str, Any], "Meter"], Any]
_INT64: Final = (-(1 << 63), (1 << 63) - 1)
_SIMPLE_LITERALS: Final = frozenset({"STRING_LIT", "MLSTRING_LIT", "INT_LIT", "BOOL_LIT", "NULL_LIT"})
_COMPARE: Final = {
    "relation_eq": operator.eq,
    "relation_ne": operator.ne,
    "relation_lt": operator.lt,
    "relation_le": operator.le,
    "relation_gt": operator.gt,
    "relation_ge": operator.ge,
}
_PASS_THROUGH: Final = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary", "member",
     "primary", "paren_expr"}
)  # fmt: skip
_STRING_METHODS: Final = {
    "contains": str.__contains__,
    "startsWith": str.startswith,
    "endsWith": str.endswith,
}


class Fallback(Exception):
    """The fast path cannot decide this evaluation; the interpreter must."""


class Unsupported(Exception):
    """The expression uses a construct outside the fast subset."""


def _kind(value: Any) -> type | None:
    kind = type(value)
    return kind if kind in {str, int, bool} else None


def _plain(value: Any) -> Any:
    """Scalars of celpy as Python scalars (containers are kept; ``to_json`` handles them at the end)."""
    if isinstance(value, CELEvalError):
        raise Fallback
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType):
        return int(value)
    return value


def _bool(fn: Fn, variables: dict[str, Any], meter: Meter) -> bool:
    value = fn(variables, meter)
    if type(value) is not bool:
        raise Fallback
    return value


class _Compiler:
    def __init__(self, literal: Callable[[lark.Tree[Any]], Any]) -> None:
        self.literal = literal

    def node(self, tree: lark.Tree[Any]) -> Fn:
        if tree.data in _PASS_THROUGH and len(tree.children) == 1 and isinstance(tree.children[0], lark.Tree):
            return self.node(tree.children[0])
        handler = getattr(self, "_" + str(tree.data), None)
        if handler is None:
            raise Unsupported
        result: Fn = handler(tree)
        return result

    def _expr(self, tree: lark.Tree[Any]) -> Fn:
        cond, then, other = (self.node(c) for c in tree.children)
        return lambda v, m: then(v, m) if _bool(cond, v, m) else other(v, m)

    def _conditionalor(self, tree: lark.Tree[Any]) -> Fn:
        left, right = (self.node(c) for c in tree.children)
        return lambda v, m: True if _bool(left, v, m) else _bool(right, v, m)

    def _conditionaland(self, tree: lark.Tree[Any]) -> Fn:
        left, right = (self.node(c) for c in tree.children)
        return lambda v, m: _bool(right, v, m) if _bool(left, v, m) else False

    def _relation(self, tree: lark.Tree[Any]) -> Fn:
        op_tree, right_tree = tree.children
        compare = _COMPARE.get(str(op_tree.data))
        if compare is None:
            raise Unsupported
        left, right = self.node(op_tree.children[0]), self.node(right_tree)
        ordered = op_tree.data not in {"relation_eq", "relation_ne"}

        def run(v: dict[str, Any], m: Meter) -> bool:
            a, b = left(v, m), right(v, m)
            kind = _kind(a)
            if kind is None or kind is not _kind(b) or (ordered and kind is bool):
                raise Fallback
            return bool(compare(a, b))

        return run

    def _addition(self, tree: lark.Tree[Any]) -> Fn:
        op_tree, right_tree = tree.children
        if op_tree.data not in {"addition_add", "addition_sub"}:
            raise Unsupported
        left, right = self.node(op_tree.children[0]), self.node(right_tree)
        add = op_tree.data == "addition_add"

        def run(v: dict[str, Any], m: Meter) -> Any:
            a, b = left(v, m), right(v, m)
            kind = _kind(a)
            if kind is str and type(b) is str and add and len(a) + len(b) <= MAX_STRING:
                m.charge(1 + (len(a) + len(b)) // 4096)
                return a + b
            if kind is int and type(b) is int:
                result = a + b if add else a - b
                if _INT64[0] <= result <= _INT64[1]:
                    return result
            raise Fallback

        return run

    def _unary(self, tree: lark.Tree[Any]) -> Fn:
        op_tree, operand_tree = tree.children
        if op_tree.data != "unary_not":
            raise Unsupported
        operand = self.node(operand_tree)
        return lambda v, m: not _bool(operand, v, m)

    def _ident(self, tree: lark.Tree[Any]) -> Fn:
        name = str(tree.children[0])

        def run(v: dict[str, Any], _m: Meter) -> Any:
            if name not in v:
                raise Fallback
            return v[name]

        return run

    def _member_dot(self, tree: lark.Tree[Any]) -> Fn:
        target, name = self.node(tree.children[0]), str(tree.children[1])

        def run(v: dict[str, Any], m: Meter) -> Any:
            found = target(v, m)
            if not isinstance(found, dict) or name not in found:
                raise Fallback
            return found[name]

        return run

    def _member_index(self, tree: lark.Tree[Any]) -> Fn:
        target, index = self.node(tree.children[0]), self.node(tree.children[1])

        def run(v: dict[str, Any], m: Meter) -> Any:
            found, key = target(v, m), index(v, m)
            if isinstance(found, dict) and type(key) is str and key in found:
                return found[key]
            if isinstance(found, list) and type(key) is int and 0 <= key < len(found):
                return found[key]
            raise Fallback

        return run

    def _args(self, tree: lark.Tree[Any] | None) -> list[Fn]:
        return [self.node(c) for c in tree.children] if tree is not None else []

    def _member_dot_arg(self, tree: lark.Tree[Any]) -> Fn:
        target, name = self.node(tree.children[0]), str(tree.children[1])
        args = self._args(tree.children[2] if len(tree.children) > 2 else None)
        if name in _STRING_METHODS and len(args) == 1:
            method = _STRING_METHODS[name]
            return lambda v, m: _string_method(method, target(v, m), args[0](v, m), m)
        if name == "size" and not args:
            return lambda v, m: _size(target(v, m))
        return self._call(name, [target, *args])

    def _ident_arg(self, tree: lark.Tree[Any]) -> Fn:
        name = str(tree.children[0])
        args_tree = tree.children[1] if len(tree.children) > 1 else None
        if name == "has":
            return self._has(args_tree)
        args = self._args(args_tree)
        if name == "size" and len(args) == 1:
            return lambda v, m: _size(args[0](v, m))
        return self._call(name, args)

    def _has(self, args_tree: lark.Tree[Any] | None) -> Fn:
        single = args_tree is not None and len(args_tree.children) == 1
        inner = _unwrap(args_tree.children[0]) if args_tree is not None and single else None
        if inner is None or inner.data != "member_dot":
            raise Unsupported
        target, name = self.node(inner.children[0]), str(inner.children[1])

        def run(v: dict[str, Any], m: Meter) -> bool:
            found = target(v, m)
            if not isinstance(found, dict):
                raise Fallback
            return name in found

        return run

    def _call(self, name: str, args: list[Fn]) -> Fn:
        function = FUNCTIONS.get(name)
        if function is None:
            raise Unsupported

        def run(v: dict[str, Any], m: Meter) -> Any:
            result = _plain(function(*(arg(v, m) for arg in args)))
            m.charge(1 + (len(result) // 16 if isinstance(result, str | list | dict) else 0))
            return result

        return run

    def _literal(self, tree: lark.Tree[Any]) -> Fn:
        token = tree.children[0]
        if not isinstance(token, lark.Token) or token.type not in _SIMPLE_LITERALS:
            raise Unsupported
        constant = values.to_json(self.literal(tree))
        return lambda _v, _m: constant

    def _list_lit(self, tree: lark.Tree[Any]) -> Fn:
        inits = tree.children[0].children if tree.children else []
        if any(init.children[0].data == "opt_elem" for init in inits):
            raise Unsupported
        items = [self.node(init.children[0]) for init in inits]
        return lambda v, m: [item(v, m) for item in items]

    def _map_lit(self, tree: lark.Tree[Any]) -> Fn:
        inits = tree.children[0].children if tree.children else []
        if any(init.children[0].data == "opt_key" for init in inits):
            raise Unsupported
        pairs = [(self.node(init.children[0]), self.node(init.children[1])) for init in inits]

        def run(v: dict[str, Any], m: Meter) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for key_fn, value_fn in pairs:
                key = key_fn(v, m)
                if type(key) is not str or key in out:
                    raise Fallback
                out[key] = value_fn(v, m)
            return out

        return run


def _unwrap(tree: Any) -> lark.Tree[Any] | None:
    # The node under a chain of single-child wrappers (expr -> ... -> member -> member_dot).
    while isinstance(tree, lark.Tree) and len(tree.children) == 1 and isinstance(tree.children[0], lark.Tree):
        tree = tree.children[0]
    return tree if isinstance(tree, lark.Tree) else None


def _string_method(method: Callable[[str, str], bool], target: Any, arg: Any, meter: Meter) -> bool:
    if type(target) is not str or type(arg) is not str:
        raise Fallback
    meter.charge(1 + len(target) // 4096)
    return method(target, arg)


def _size(value: Any) -> int:
    if isinstance(value, str | list | dict):
        return len(value)
    raise Fallback


def compile_fast(tree: lark.Tree[Any], literal: Callable[[lark.Tree[Any]], Any]) -> Fn | None:
    """A closure computing ``tree`` on plain JSON variables, or ``None`` if it needs the interpreter."""
    try:
        return _Compiler(literal).node(tree)
    except Unsupported:
        return None


def fold_literal(activation: Any) -> Callable[[lark.Tree[Any]], Any]:
    """A literal node read by celpy itself (escapes, quoting); used once, at compile time."""
    return lambda tree: Evaluator(tree, activation).evaluate()
