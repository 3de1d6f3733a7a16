"""The functions templates may call beyond celpy's built-ins (SPEC section 4).

* The first part of cel-go's strings extension: ``lowerAscii``, ``upperAscii``, ``replace``, ``split``,
  ``join``, ``trim``, ``substring``. Each works as a method (``s.lowerAscii()``, ``list.join(",")``) and
  as a function (``lowerAscii(s)``). The rest of the environment OpenChoreo enables (strings, encoders,
  math, lists, sets, optionals) is in ``extstrings`` and ``extlists``; ``FUNCTIONS`` holds them all.
* ``string(x)`` replaced so bools give ``"true"``/``"false"`` as in cel-go (celpy gives ``"True"``);
  lists and maps give compact JSON, the same text interpolation produces.
* OpenChoreo's ``oc_omit()``, ``oc_merge(a, b, ...)``, ``oc_generate_name(...)``, ``oc_dns_label(...)`` and
  ``oc_hash(s)``.

A function never raises for bad input: it returns a ``CELEvalError`` whose message starts with ``oc:`` and
names no argument value, so CEL's error absorption (``x || true``) keeps working and ``cel`` can pass the
message on. Work proportional to the output is checked *before* it is done (``replace``, ``join``), so no
call can build a string larger than ``MAX_STRING``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from celpy import celtypes

from choreo_controller.render import extlists, extstrings, names, values
from choreo_controller.render.budget import MAX_STRING, MAX_WEIGHT
from choreo_controller.render.celvalues import error
from choreo_controller.render.gofmt import double_text, json_text

if TYPE_CHECKING:
    from collections.abc import Callable

_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _error(message: str) -> Any:
    return error(message)


def _strings(*args: Any) -> bool:
    return all(isinstance(arg, str) for arg in args)


def _ints(*args: Any) -> bool:
    return all(isinstance(arg, int) and not isinstance(arg, bool | celtypes.BoolType) for arg in args)


def lower_ascii(text: Any) -> Any:
    """``lowerAscii``: ASCII letters only, as cel-go."""
    return (
        celtypes.StringType(text.translate(_LOWER)) if _strings(text) else _error("lowerAscii needs a string")
    )


def upper_ascii(text: Any) -> Any:
    """``upperAscii``: ASCII letters only, as cel-go."""
    return (
        celtypes.StringType(text.translate(_UPPER)) if _strings(text) else _error("upperAscii needs a string")
    )


def replace(text: Any, old: Any, new: Any, limit: Any = -1) -> Any:
    """``replace(old, new[, n])``: at most ``n`` replacements, all when ``n`` is negative."""
    if not (_strings(text, old, new) and _ints(limit)):
        return _error("replace needs (string, string, string[, int])")
    count = text.count(old) if old else len(text) + 1
    if limit >= 0:
        count = min(count, limit)
    if len(text) + count * (len(new) - len(old)) > MAX_STRING:
        return _error(f"replace would build a string longer than {MAX_STRING} characters")
    return celtypes.StringType(text.replace(old, new, int(limit)))


def split(text: Any, sep: Any, limit: Any = -1) -> Any:
    """``split(sep[, n])``: at most ``n`` parts (0 gives none), as Go's ``strings.SplitN``."""
    if not (_strings(text, sep) and _ints(limit)):
        return _error("split needs (string, string[, int])")
    if limit == 0:
        return celtypes.ListType([])
    if (len(text) if not sep else text.count(sep)) >= MAX_WEIGHT:
        return _error(f"split would build a list of more than {MAX_WEIGHT} items")
    if sep:
        parts = text.split(sep, -1 if limit < 0 else int(limit) - 1)
    else:
        chars = list(text)
        parts = (
            chars if limit < 0 or limit >= len(chars) else [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        )
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def join(items: Any, sep: Any = "") -> Any:
    """``list.join([sep])``: the list must hold strings only."""
    if not (isinstance(items, list) and _strings(sep) and _strings(*items)):
        return _error("join needs a list of strings and a string separator")
    if sum(len(item) for item in items) + len(sep) * max(len(items) - 1, 0) > MAX_STRING:
        return _error(f"join would build a string longer than {MAX_STRING} characters")
    return celtypes.StringType(sep.join(items))


_GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


def trim(text: Any) -> Any:
    """``trim``: leading and trailing whitespace removed (Go's ``strings.TrimSpace``: Unicode spaces)."""
    return celtypes.StringType(text.strip(_GO_SPACE)) if _strings(text) else _error("trim needs a string")


def substring(text: Any, start: Any, end: Any = None) -> Any:
    """``substring(start[, end])`` in code points; out of range is an error, as cel-go."""
    stop = len(text) if end is None and _strings(text) else end
    if not (_strings(text) and _ints(start, stop)):
        return _error("substring needs (string, int[, int])")
    if not 0 <= start <= stop <= len(text):
        return _error("substring index out of range")
    return celtypes.StringType(text[start:stop])


def to_string(value: Any) -> Any:  # noqa: PLR0911 - one return per CEL type
    """``string(x)`` with cel-go's bool spelling; lists and maps as compact JSON."""
    if isinstance(value, celtypes.BoolType | bool):
        return celtypes.StringType("true" if value else "false")
    if isinstance(value, list | dict):
        return celtypes.StringType(json_text(values.to_json(value)))
    if isinstance(value, float):
        return celtypes.StringType(double_text(value))
    if value is None:
        return celtypes.StringType("null")
    if isinstance(value, bytes):
        try:
            return celtypes.StringType(value.decode("utf-8"))
        except UnicodeDecodeError:
            return _error("string(bytes) needs valid UTF-8")
    if value is values.OMIT:
        return _error("oc_omit() cannot be converted to a string")
    return celtypes.StringType(value)


def oc_omit() -> Any:
    """``oc_omit()``: drop the containing key or list item from the output."""
    return values.OMIT


def oc_merge(*maps: Any) -> Any:
    """``oc_merge(a, b, ...)``: shallow merge, later maps win."""
    if len(maps) < 2 or not all(isinstance(m, dict) for m in maps):
        return _error("oc_merge needs two or more maps")
    merged = celtypes.MapType()
    for mapping in maps:
        merged.update(mapping)
    return merged


def _name_parts(args: tuple[Any, ...]) -> list[str]:
    # As OC: one list argument or several arguments; items that are not strings are ignored.
    items = args[0] if len(args) == 1 and isinstance(args[0], list) else args
    return [str(item) for item in items if isinstance(item, str)]


def oc_generate_name(*args: Any) -> Any:
    """``oc_generate_name(...)``: a DNS subdomain (at most 253) ending in an 8-hex hash."""
    return celtypes.StringType(names.generate_name(_name_parts(args), names.MAX_SUBDOMAIN))


def oc_dns_label(*args: Any) -> Any:
    """``oc_dns_label(...)``: a DNS label (at most 63) ending in an 8-hex hash."""
    return celtypes.StringType(names.generate_name(_name_parts(args), names.MAX_LABEL))


def oc_hash(text: Any) -> Any:
    """``oc_hash(s)``: 8-hex FNV-32a."""
    return celtypes.StringType(names.fnv32a(text)) if _strings(text) else _error("oc_hash needs a string")


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "replace": replace,
    "split": split,
    "join": join,
    "trim": trim,
    "substring": substring,
    "string": to_string,
    "oc_omit": oc_omit,
    "oc_merge": oc_merge,
    "oc_generate_name": oc_generate_name,
    "oc_dns_label": oc_dns_label,
    "oc_hash": oc_hash,
    **extstrings.FUNCTIONS,
    **extlists.FUNCTIONS,
}
