"""celpy's tree-walking evaluator, taught the syntax and macros of the cel-go environment OpenChoreo uses.

``CelEvaluator`` adds, on top of celpy's standard CEL:

* optional syntax (``grammar``): ``x.?f`` and ``x[?k]`` give ``optional.of(...)`` or ``optional.none()``;
  once a chain is optional, later ``.f``/``[k]`` selections are optional too (cel-go's rule);
  ``[a, ?b]`` and ``{?k: v}`` include an element or entry only when the optional has a value;
* map literals with keys of mixed kinds (``{1: "a", true: "b", "s": "c"}``), duplicate keys refused;
* macros: the two-variable comprehensions of ``ext.TwoVarComprehensions`` (``all``, ``exists``,
  ``existsOne``, ``transformList``, ``transformMap``, ``transformMapEntry``, with and without a filter),
  ``map(x, filter, expr)``, ``sortBy(x, key)`` (``ext.Lists``) and ``optMap``/``optFlatMap``
  (``cel.OptionalTypes``).

Macro bodies run in ``sub_evaluator``s, so the budget's metering (``budget.MeteredEvaluator``) covers every
iteration. ``all``/``exists`` absorb errors the way CEL's ``&&``/``||`` do: a ``false`` (``true``) result
wins over an error met on another element.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError, Evaluator, NameContainer

from choreo_controller.render.budget import MAX_STRING, MAX_WEIGHT, BudgetExceeded, Meter, weight
from choreo_controller.render.celvalues import NONE, Optional, error, hashable_key, kind
from choreo_controller.render.extlists import sort_by_keys

if TYPE_CHECKING:
    from collections.abc import Callable

_KEY_KINDS: Final = frozenset({"string", "int", "uint", "bool"})


class _MixedBoolKey(celtypes.BoolType):
    """A bool map key beside int keys: Python would take ``True`` and ``1`` for the same key."""

    def __hash__(self) -> int:
        return hash(("bool", bool(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bool | celtypes.BoolType) and bool(self) == bool(other)


def _ident(tree: Any) -> str | None:
    while isinstance(tree, lark.Tree) and len(tree.children) == 1 and tree.data != "ident":
        tree = tree.children[0]
    if isinstance(tree, lark.Tree) and tree.data == "ident":
        return str(tree.children[0])
    return None


def _pairs(target: Any) -> list[tuple[Any, Any]] | None:
    if kind(target) == "list":
        return [(celtypes.IntType(i), item) for i, item in enumerate(target)]
    if kind(target) == "map":
        return list(target.items())
    return None


class CelEvaluator(Evaluator):
    """See the module docstring."""

    def sub_evaluator(self, ast: lark.Tree[Any]) -> CelEvaluator:
        """Macro bodies are evaluated by an evaluator of the same class."""
        return type(self)(ast, self.activation)

    # --- optional selection --------------------------------------------------------------------------

    def _select(self, target: Any, key: Any, *, optional: bool, tree: lark.Tree[Any]) -> Any:  # noqa: PLR0911
        if isinstance(target, CELEvalError):
            return target
        if isinstance(key, CELEvalError):
            return key
        if isinstance(target, Optional):
            if not target.present:
                return NONE
            target, optional = target.value, True
        if not optional:
            return self._plain_select(target, key, tree)
        if kind(target) == "map":
            return Optional(target[key]) if key in target else NONE
        if kind(target) == "list" and kind(key) == "int":
            return Optional(target[key]) if 0 <= key < len(target) else NONE
        return error("optional selection needs a map or a list")

    def _plain_select(self, target: Any, key: Any, tree: lark.Tree[Any]) -> Any:  # noqa: PLR0911
        if tree.data == "member_dot":
            if isinstance(target, NameContainer):
                return (
                    target[key].value
                    if key in target
                    else CELEvalError(f"no such member in mapping: {key!r}")
                )
            if isinstance(target, dict):
                return target[key] if key in target else CELEvalError(f"no such member in mapping: {key!r}")
            return CELEvalError(f"{type(target)} does not support field selection")
        function = self.activation.resolve_function("_[_]")
        try:
            return function(target, key)
        except TypeError as ex:
            return CELEvalError("found no matching overload for _[_]", ex.__class__, ex.args, tree=tree)
        except KeyError as ex:
            return CELEvalError("no such key", ex.__class__, ex.args, tree=tree)
        except IndexError as ex:
            return CELEvalError("invalid_argument", ex.__class__, ex.args, tree=tree)

    def member_dot(self, tree: lark.Tree[Any]) -> Any:
        """``x.f`` (optional when ``x`` is)."""
        return self._select(self.visit(tree.children[0]), str(tree.children[1]), optional=False, tree=tree)

    def member_dot_opt(self, tree: lark.Tree[Any]) -> Any:
        """``x.?f``."""
        return self._select(self.visit(tree.children[0]), str(tree.children[1]), optional=True, tree=tree)

    def member_index(self, tree: lark.Tree[Any]) -> Any:
        """``x[k]`` (optional when ``x`` is)."""
        return self._select(
            self.visit(tree.children[0]), self.visit(tree.children[1]), optional=False, tree=tree
        )

    def member_index_opt(self, tree: lark.Tree[Any]) -> Any:
        """``x[?k]``."""
        return self._select(
            self.visit(tree.children[0]), self.visit(tree.children[1]), optional=True, tree=tree
        )

    # --- literals ------------------------------------------------------------------------------------

    def listinits(self, tree: lark.Tree[Any]) -> Any:
        """``[a, ?b, ...]``."""
        out = celtypes.ListType()
        for init in tree.children:
            node = init.children[0]
            optional = node.data == "opt_elem"
            value = self.visit(node.children[0] if optional else node)
            if isinstance(value, CELEvalError):
                return value
            if optional:
                if not isinstance(value, Optional):
                    return error("?element needs an optional")
                if not value.present:
                    continue
                value = value.value
            out.append(value)
        return out

    def mapinits(self, tree: lark.Tree[Any]) -> Any:
        """``{k: v, ?k2: maybe, ...}`` with keys of any of CEL's key kinds."""
        entries: list[tuple[Any, Any]] = []
        seen: set[Any] = set()
        for init in tree.children:
            key_node, value_node = init.children
            optional = key_node.data == "opt_key"
            key = self.visit(key_node.children[0] if optional else key_node)
            value = self.visit(value_node)
            for part in (key, value):
                if isinstance(part, CELEvalError):
                    return part
            if optional:
                if not isinstance(value, Optional):
                    return error("?key needs an optional value")
                if not value.present:
                    continue
                value = value.value
            if kind(key) not in _KEY_KINDS:
                return error("map keys must be strings, ints, uints or bools")
            identity = hashable_key(key)
            if identity in seen:
                return error("map literal with a repeated key")
            seen.add(identity)
            entries.append((key, value))
        mixed = {kind(key) for key, _ in entries} >= {"bool", "int"}
        out = celtypes.MapType()
        for key, value in entries:
            stored = _MixedBoolKey(int(bool(key))) if mixed and kind(key) == "bool" else key
            dict.__setitem__(out, stored, value)
        return out

    # --- macros --------------------------------------------------------------------------------------

    def member_dot_arg(self, tree: lark.Tree[Any]) -> Any:
        """Macros of the extension libraries, else celpy's (``map``, ``filter``...) and method calls."""
        args = tree.children[2].children if len(tree.children) > 2 else []
        macro = _MACROS.get((str(tree.children[1]), len(args)))
        if macro is None:
            return super().member_dot_arg(tree)
        found = [_ident(arg) for arg in args[: macro.variables]]
        names = [name for name in found if name is not None]
        if len(names) != len(found):
            return error(f"{tree.children[1]}: the first arguments must be variable names")
        target = self.visit(tree.children[0])
        if isinstance(target, CELEvalError):
            return target
        bodies = [self.sub_evaluator(arg) for arg in args[macro.variables :]]

        def body(index: int, *values: Any) -> Any:
            try:
                return bodies[index].evaluate(dict(zip(names, values, strict=True)))
            except CELEvalError as problem:
                return problem

        return macro.run(target, body)


class _Macro:
    __slots__ = ("run", "variables")

    def __init__(self, variables: int, run: Callable[[Any, Callable[..., Any]], Any]) -> None:
        self.variables = variables
        self.run = run


def _quantifier(*, stop_at: bool) -> Callable[[Any, Callable[..., Any]], Any]:
    def run(target: Any, body: Callable[..., Any]) -> Any:
        pairs = _pairs(target)
        if pairs is None:
            return error("comprehension needs a list or a map")
        failure = None
        for pair in pairs:
            result = body(0, *pair)
            if isinstance(result, bool | celtypes.BoolType):
                if bool(result) is stop_at:
                    return celtypes.BoolType(stop_at)
            elif failure is None:
                failure = result if isinstance(result, CELEvalError) else error("predicate is not a bool")
        return failure if failure is not None else celtypes.BoolType(not stop_at)

    return run


def _exists_one(target: Any, body: Callable[..., Any]) -> Any:
    pairs = _pairs(target)
    if pairs is None:
        return error("comprehension needs a list or a map")
    count = 0
    for pair in pairs:
        result = body(0, *pair)
        if isinstance(result, CELEvalError):
            return result
        count += bool(result)
    return celtypes.BoolType(count == 1)


def _included(body: Callable[..., Any], filtered: bool, pair: tuple[Any, ...]) -> Any:
    if not filtered:
        return True
    keep = body(0, *pair)
    return keep if isinstance(keep, CELEvalError) else bool(keep)


def _add(shape: str, out: Any, pair: tuple[Any, Any], value: Any) -> CELEvalError | None:
    if shape == "list":
        out.append(value)
    elif shape == "map":
        out[pair[0]] = value
    elif kind(value) != "map":
        return error("transformMapEntry needs a map result")
    else:
        for key, item in value.items():
            if key in out:
                return error("transformMapEntry: a key is produced twice")
            out[key] = item
    return None


def _transform(shape: str, *, filtered: bool) -> Callable[[Any, Callable[..., Any]], Any]:
    last = 1 if filtered else 0

    def run(target: Any, body: Callable[..., Any]) -> Any:
        pairs = _pairs(target)
        if pairs is None:
            return error(f"transform needs a list or a map, not {kind(target)}")
        out = celtypes.ListType() if shape == "list" else celtypes.MapType()
        for pair in pairs:
            keep = _included(body, filtered, pair)
            if isinstance(keep, CELEvalError):
                return keep
            value = body(last, *pair) if keep else None
            if isinstance(value, CELEvalError):
                return value
            problem = _add(shape, out, pair, value) if keep else None
            if problem is not None:
                return problem
        return out

    return run


def _map_filter(target: Any, body: Callable[..., Any]) -> Any:
    if kind(target) not in {"list", "map"}:
        return error("map needs a list or a map")
    out = celtypes.ListType()
    for item in target:
        keep = body(0, item)
        if isinstance(keep, CELEvalError):
            return keep
        if keep:
            value = body(1, item)
            if isinstance(value, CELEvalError):
                return value
            out.append(value)
    return out


def _sort_by(target: Any, body: Callable[..., Any]) -> Any:
    if kind(target) != "list":
        return error("sortBy needs a list")
    keys = []
    for item in target:
        key = body(0, item)
        if isinstance(key, CELEvalError):
            return key
        keys.append(key)
    return sort_by_keys(list(target), keys)


def _opt_map(flat: bool) -> Callable[[Any, Callable[..., Any]], Any]:
    def run(target: Any, body: Callable[..., Any]) -> Any:
        if not isinstance(target, Optional):
            return error("optMap needs an optional")
        if not target.present:
            return NONE
        value = body(0, target.value)
        if isinstance(value, CELEvalError) or flat:
            return (
                value
                if not flat or isinstance(value, Optional | CELEvalError)
                else error("optFlatMap needs an optional result")
            )
        return Optional(value)

    return run


_MACROS: Final[dict[tuple[str, int], _Macro]] = {
    ("all", 3): _Macro(2, _quantifier(stop_at=False)),
    ("exists", 3): _Macro(2, _quantifier(stop_at=True)),
    ("existsOne", 3): _Macro(2, _exists_one),
    ("transformList", 3): _Macro(2, _transform("list", filtered=False)),
    ("transformList", 4): _Macro(2, _transform("list", filtered=True)),
    ("transformMap", 3): _Macro(2, _transform("map", filtered=False)),
    ("transformMap", 4): _Macro(2, _transform("map", filtered=True)),
    ("transformMapEntry", 3): _Macro(2, _transform("entry", filtered=False)),
    ("transformMapEntry", 4): _Macro(2, _transform("entry", filtered=True)),
    ("map", 3): _Macro(1, _map_filter),
    ("sortBy", 2): _Macro(1, _sort_by),
    ("optMap", 2): _Macro(1, _opt_map(flat=False)),
    ("optFlatMap", 2): _Macro(1, _opt_map(flat=True)),
}


class MeteredEvaluator(CelEvaluator):
    """celpy's tree-walking evaluator with every node visit metered (see the module docstring)."""

    def __init__(self, ast: Any, activation: Any, meter: Meter) -> None:
        super().__init__(ast, activation)
        self._meter = meter

    def sub_evaluator(self, ast: Any) -> MeteredEvaluator:
        """Comprehension bodies are evaluated by a nested evaluator: it shares the meter."""
        return MeteredEvaluator(ast, self.activation, self._meter)

    def _visit_tree(self, tree: Any) -> Any:
        meter = self._meter
        meter.charge(1)
        value = super()._visit_tree(tree)
        if isinstance(value, str | bytes):
            if len(value) > MAX_STRING:
                raise BudgetExceeded(f"string longer than {MAX_STRING} characters")
            if len(value) > 4096:
                meter.charge(len(value) // 4096)  # copying 4 KiB costs about one node visit
        elif isinstance(value, list | dict):
            if weight(value) > MAX_WEIGHT:
                raise BudgetExceeded(f"value larger than {MAX_WEIGHT} elements")
            if len(value) > 16:
                meter.charge(len(value) // 16)
        return value
