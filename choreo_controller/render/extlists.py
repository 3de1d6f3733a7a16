"""cel-go's ``ext.Lists``, ``ext.Sets``, ``ext.Math`` and the functions of ``cel.OptionalTypes``.

* lists: ``distinct``, ``flatten([depth])``, ``lists.range(n)``, ``reverse`` (lists and strings),
  ``slice(start, end)``, ``sort`` (elements of one comparable kind), ``first``/``last`` (optionals);
  ``sortBy`` is a macro (``evaluator``);
* sets: ``sets.contains``, ``sets.equivalent``, ``sets.intersects`` (cel-go's heterogeneous equality);
* math: ``math.greatest``/``math.least`` (numbers or one list of numbers; mixed kinds compare by value),
  ``ceil``, ``floor``, ``round`` (half away from zero), ``trunc``, ``abs`` (int overflow is an error),
  ``sign``, ``isInf``, ``isNaN``, ``isFinite``, the ``bit*`` functions (64-bit, logical right shift);
* optionals: in ``optionals`` (``first``/``last`` here return them).

Work proportional to the size of the result (a range, a flattened or sorted list, pairwise comparisons) is
charged to the evaluation's budget before it is done, so ``lists.range(100000)`` fails at once.
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING, Any, Final

from celpy import celtypes

from choreo_controller.render import budget, optionals
from choreo_controller.render.celvalues import NONE, NUMBERS, Optional, equal, error, hashable_key, kind
from choreo_controller.render.extstrings import reverse_string

if TYPE_CHECKING:
    from collections.abc import Callable

_INT64: Final = (-(1 << 63), (1 << 63) - 1)
_UINT64: Final = (1 << 64) - 1
_ORDERED: Final = frozenset({"int", "uint", "double", "string", "bool", "bytes", "timestamp", "duration"})


def _list(value: Any) -> bool:
    return kind(value) == "list"


# --- lists -------------------------------------------------------------------------------------------


def lists_range(n: Any) -> Any:
    """``lists.range(n)``: ``[0, 1, ..., n-1]``."""
    if kind(n) != "int":
        return error("lists.range needs an int")
    budget.charge(max(int(n), 0))
    return celtypes.ListType(celtypes.IntType(i) for i in range(max(int(n), 0)))


def distinct(items: Any) -> Any:
    """``list.distinct()``: first occurrences, in order (``1`` and ``1.0`` are the same value)."""
    if not _list(items):
        return error("distinct needs a list")
    budget.charge(len(items))
    seen: set[Any] = set()
    out: list[Any] = []
    for item in items:
        key = hashable_key(item)
        if key is None:
            budget.charge(len(out) // 16)
            if any(equal(item, other) for other in out):
                continue
        elif key in seen:
            continue
        else:
            seen.add(key)
        out.append(item)
    return celtypes.ListType(out)


def _flatten(items: Any, depth: int, out: list[Any]) -> None:
    for item in items:
        if _list(item) and depth > 0:
            _flatten(item, depth - 1, out)
        else:
            out.append(item)
        budget.charge(1)


def flatten(items: Any, depth: Any = 1) -> Any:
    """``list.flatten([depth])``: nested lists spliced in, ``depth`` levels deep (default 1)."""
    if not _list(items) or kind(depth) != "int":
        return error("flatten needs (list[, int])")
    if depth < 0:
        return error("flatten: level must be non-negative")
    out: list[Any] = []
    _flatten(items, min(int(depth), 100), out)
    return celtypes.ListType(out)


def reverse(value: Any) -> Any:
    """``list.reverse()`` or ``string.reverse()``."""
    if kind(value) == "string":
        return reverse_string(value)
    if not _list(value):
        return error("reverse needs a list or a string")
    budget.charge(len(value) // 16)
    return celtypes.ListType(reversed(value))


def slice_list(items: Any, start: Any, end: Any) -> Any:
    """``list.slice(start, end)``: no negative indexes, ``start <= end <= size``."""
    if not (_list(items) and kind(start) == "int" and kind(end) == "int"):
        return error("slice needs (list, int, int)")
    if start < 0 or end < 0 or start > end or end > len(items):
        return error("slice indexes out of range")
    return celtypes.ListType(items[start:end])


def _sort_key(value: Any) -> Any:
    return float(value) if kind(value) in NUMBERS else value


def sort_by_keys(items: list[Any], keys: list[Any]) -> Any:
    """``items`` ordered by ``keys`` (one comparable kind), stable; the core of ``sort`` and ``sortBy``."""
    if not keys:
        return celtypes.ListType(items)
    kinds = {kind(key) for key in keys}
    if len(kinds) != 1:
        return error("sort: list elements must have the same type")
    if not kinds <= _ORDERED:
        return error("sort: list elements must be comparable")
    budget.charge(len(keys) * max(len(keys).bit_length(), 1) // 16)
    order = sorted(range(len(keys)), key=lambda i: _sort_key(keys[i]))
    return celtypes.ListType(items[i] for i in order)


def sort_list(items: Any) -> Any:
    """``list.sort()``."""
    return sort_by_keys(list(items), list(items)) if _list(items) else error("sort needs a list")


def first(items: Any) -> Any:
    """``list.first()``: an optional."""
    return (Optional(items[0]) if items else NONE) if _list(items) else error("first needs a list")


def last(items: Any) -> Any:
    """``list.last()``: an optional."""
    return (Optional(items[-1]) if items else NONE) if _list(items) else error("last needs a list")


# --- sets --------------------------------------------------------------------------------------------


def _contains_all(container: list[Any], wanted: list[Any]) -> bool:
    budget.charge(len(container) * len(wanted) // 64)
    return all(any(equal(item, other) for other in container) for item in wanted)


def sets_contains(container: Any, wanted: Any) -> Any:
    """``sets.contains(a, b)``: every element of ``b`` is in ``a``."""
    if not (_list(container) and _list(wanted)):
        return error("sets.contains needs two lists")
    return celtypes.BoolType(_contains_all(container, wanted))


def sets_equivalent(a: Any, b: Any) -> Any:
    """``sets.equivalent(a, b)``: the same elements, duplicates ignored."""
    if not (_list(a) and _list(b)):
        return error("sets.equivalent needs two lists")
    return celtypes.BoolType(_contains_all(a, b) and _contains_all(b, a))


def sets_intersects(a: Any, b: Any) -> Any:
    """``sets.intersects(a, b)``: at least one element in common."""
    if not (_list(a) and _list(b)):
        return error("sets.intersects needs two lists")
    budget.charge(len(a) * len(b) // 64)
    return celtypes.BoolType(any(equal(x, y) for x in a for y in b))


# --- math --------------------------------------------------------------------------------------------


def _extreme(name: str, pick: Callable[[float, float], bool], args: tuple[Any, ...]) -> Any:
    values = list(args[0]) if len(args) == 1 and _list(args[0]) else list(args)
    if not values:
        return error(f"math.{name} needs at least one number")
    if any(kind(value) not in NUMBERS for value in values):
        return error(f"math.{name} needs numbers")
    budget.charge(len(values) // 16)
    best = values[0]
    for value in values[1:]:
        if pick(float(value), float(best)):
            best = value
    return best


def greatest(*args: Any) -> Any:
    """``math.greatest(...)``."""
    return _extreme("greatest", lambda a, b: a > b, args)


def least(*args: Any) -> Any:
    """``math.least(...)``."""
    return _extreme("least", lambda a, b: a < b, args)


def _double_fn(name: str, fn: Callable[[float], float]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if kind(value) != "double":
            return error(f"math.{name} needs a double")
        return celtypes.DoubleType(fn(float(value)) if math.isfinite(value) else float(value))

    return apply


def _round_half_away(value: float) -> float:
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _double_test(name: str, fn: Callable[[float], bool]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        return (
            celtypes.BoolType(fn(float(value)))
            if kind(value) == "double"
            else error(f"math.{name} needs a double")
        )

    return apply


def _same_kind(value: Any, number: int) -> Any:
    if kind(value) == "uint":
        return celtypes.UintType(number & _UINT64)
    if not _INT64[0] <= number <= _INT64[1]:
        return error("integer overflow")
    return celtypes.IntType(number)


def math_abs(value: Any) -> Any:
    """``math.abs``: ints overflow at ``-2^63``."""
    k = kind(value)
    if k == "double":
        return celtypes.DoubleType(abs(float(value)))
    if k in {"int", "uint"}:
        return _same_kind(value, abs(int(value)))
    return error("math.abs needs a number")


def math_sign(value: Any) -> Any:
    """``math.sign``: -1, 0 or 1 of the argument's kind."""
    k = kind(value)
    if k == "double":
        number = float(value)
        return celtypes.DoubleType(number if math.isnan(number) else (number > 0) - (number < 0))
    if k in {"int", "uint"}:
        return _same_kind(value, (int(value) > 0) - (int(value) < 0))
    return error("math.sign needs a number")


def _bits(name: str, fn: Callable[[int, int], int]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if kind(a) != kind(b) or kind(a) not in {"int", "uint"}:
            return error(f"math.{name} needs two ints or two uints")
        return _same_kind(a, fn(int(a), int(b)))

    return apply


def bit_not(value: Any) -> Any:
    """``math.bitNot``."""
    if kind(value) not in {"int", "uint"}:
        return error("math.bitNot needs an int or a uint")
    return _same_kind(value, ~int(value))


def _shift(name: str, left: bool) -> Callable[[Any, Any], Any]:
    def apply(value: Any, count: Any) -> Any:
        if kind(value) not in {"int", "uint"} or kind(count) != "int":
            return error(f"math.{name} needs (int or uint, int)")
        if count < 0:
            return error(f"math.{name}: negative shift")
        number = int(value) & _UINT64  # both shifts work on the 64 bits (a logical right shift)
        shifted = (number << count) & _UINT64 if left else number >> count if count < 64 else 0
        if kind(value) == "uint":
            return celtypes.UintType(shifted)
        return celtypes.IntType(shifted - (1 << 64) if shifted > _INT64[1] else shifted)

    return apply


def add(a: Any, b: Any) -> Any:
    """``_+_`` whose strings and lists stay CEL values.

    celpy concatenates them into plain Python values, which its own methods (``contains``...) then refuse.
    """
    result = operator.add(a, b)
    if type(result) is str:
        return celtypes.StringType(result)
    if type(result) is list:
        return celtypes.ListType(result)
    return result


def divide(a: Any, b: Any) -> Any:
    """``_/_``: IEEE division for doubles as cel-go (celpy gives ``+inf`` for any ``x / 0.0``)."""
    if kind(a) == "double" and kind(b) == "double" and float(b) == 0.0:
        x = float(a)
        return celtypes.DoubleType(
            math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1.0, b)
        )
    return operator.truediv(a, b)


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "_+_": add,
    "_/_": divide,
    "distinct": distinct,
    "flatten": flatten,
    "lists.range": lists_range,
    "reverse": reverse,
    "slice": slice_list,
    "sort": sort_list,
    "first": first,
    "last": last,
    "sets.contains": sets_contains,
    "sets.equivalent": sets_equivalent,
    "sets.intersects": sets_intersects,
    "math.greatest": greatest,
    "math.least": least,
    "math.ceil": _double_fn("ceil", math.ceil),
    "math.floor": _double_fn("floor", math.floor),
    "math.round": _double_fn("round", _round_half_away),
    "math.trunc": _double_fn("trunc", math.trunc),
    "math.abs": math_abs,
    "math.sign": math_sign,
    "math.isInf": _double_test("isInf", math.isinf),
    "math.isNaN": _double_test("isNaN", math.isnan),
    "math.isFinite": _double_test("isFinite", math.isfinite),
    "math.bitAnd": _bits("bitAnd", lambda a, b: a & b),
    "math.bitOr": _bits("bitOr", lambda a, b: a | b),
    "math.bitXor": _bits("bitXor", lambda a, b: a ^ b),
    "math.bitNot": bit_not,
    "math.bitShiftLeft": _shift("bitShiftLeft", left=True),
    "math.bitShiftRight": _shift("bitShiftRight", left=False),
    **optionals.FUNCTIONS,
}
