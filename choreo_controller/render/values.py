"""CEL values to plain JSON, and JSON to the text an interpolated ``${...}`` becomes.

celpy returns its own types (``BoolType`` is an ``int`` whose ``str`` is ``"True"``, maps print as
``MapType({...})``); nothing of that may reach a Kubernetes object. ``to_json`` is the one way out:

* bools become ``true``/``false``, ints stay ints, doubles stay floats (NaN and infinities are refused),
  timestamps and durations become their CEL text, bytes become base64;
* map keys become strings (``1`` -> ``"1"``, ``true`` -> ``"true"``); two keys that collide are refused;
* ``oc_omit()`` inside a list or map drops that item or key (OC semantics); at the top it stays ``OMIT`` so
  the template walk can drop the containing key or list item;
* the walk is bounded in depth and node count, so a structure shared exponentially (``[a, a]`` nested) is
  refused instead of being expanded.

``to_text`` is interpolation, as OpenChoreo writes it (``gofmt``): strings as-is, ints in decimal, doubles
as Go's ``%g`` (``2``, ``1e+06``), bools ``true``/``false``, ``null``, lists and maps as Go's JSON (keys
sorted, ``<>&`` escaped).

``to_cel`` is the way in, for the interpreter: JSON to celpy types. It builds the instances directly
(``str.__new__(StringType, ...)``) because celpy's own ``json_to_cel`` re-creates a ``functools.wraps``
closure per integer, which makes a large parameter list cost seconds.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, Final

from celpy import celtypes

from choreo_controller.render.celvalues import Optional
from choreo_controller.render.errors import RenderFailed
from choreo_controller.render.gofmt import double_text, json_text

MAX_DEPTH: Final = 100
MAX_NODES: Final = 200_000


class _Omit:
    """The value of ``oc_omit()``: removed from the output together with its key or list slot."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "oc_omit()"


OMIT: Final = _Omit()


class _Walk:
    __slots__ = ("nodes",)

    def __init__(self) -> None:
        self.nodes = 0

    def value(self, value: Any, depth: int) -> Any:  # noqa: C901, PLR0911, PLR0912 - one branch per CEL type
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RenderFailed(f"value too large (more than {MAX_NODES} nodes)")
        if depth > MAX_DEPTH:
            raise RenderFailed(f"value nested deeper than {MAX_DEPTH} levels")
        if value is None or value is OMIT:
            return value
        if isinstance(value, bool | celtypes.BoolType):
            return bool(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise RenderFailed("a double that JSON cannot represent (NaN or infinity)")
            return float(value)
        if isinstance(value, Mapping):
            return self.mapping(value, depth)
        if isinstance(value, list | tuple):
            items = (self.value(item, depth + 1) for item in value)
            return [item for item in items if item is not OMIT]
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, dt.datetime | dt.timedelta):
            return str(value)
        if isinstance(value, Optional):
            raise RenderFailed("an optional cannot be rendered: take .value() or .orValue(default)")
        raise RenderFailed(f"a value of type {type(value).__name__} cannot be rendered")

    def mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            converted = self.value(item, depth + 1)
            if converted is OMIT:
                continue
            name = _key(key)
            if name in out:
                raise RenderFailed("two map keys render to the same string")
            out[name] = converted
        return out


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, bool | celtypes.BoolType):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(int(key))
    raise RenderFailed(f"a map key of type {type(key).__name__} cannot be rendered")


def to_json(value: Any) -> Any:
    """Plain JSON (or ``OMIT``) from a CEL or JSON value; raises ``RenderFailed`` without a path."""
    return _Walk().value(value, 0)


_TRUE: Final = celtypes.BoolType(1)
_FALSE: Final = celtypes.BoolType(0)
_INT64: Final = (-(1 << 63), (1 << 63) - 1)


def _cel_scalar(value: Any, kind: type) -> Any:
    if kind is str:
        return str.__new__(celtypes.StringType, value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        if not _INT64[0] <= value <= _INT64[1]:
            raise RenderFailed("an integer outside the int64 range")
        return int.__new__(celtypes.IntType, value)
    if kind is float:
        return float.__new__(celtypes.DoubleType, value)
    if value is None:
        return None
    raise RenderFailed(f"a value of type {kind.__name__} cannot be used in CEL")


def to_cel(value: Any, depth: int = 0) -> Any:
    """The celpy form of a JSON value; raises ``RenderFailed`` for values CEL cannot hold."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return _cel_scalar(value, kind)
    if depth > MAX_DEPTH:
        raise RenderFailed(f"value nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        out = celtypes.MapType()
        for key, item in value.items():
            dict.__setitem__(out, str.__new__(celtypes.StringType, key), to_cel(item, depth + 1))
        return out
    items = celtypes.ListType()
    items.extend([to_cel(item, depth + 1) for item in value])
    return items


def to_text(value: Any) -> str:
    """The text of a JSON value interpolated into a string."""
    if isinstance(value, str):
        return value
    if value is OMIT:
        raise RenderFailed("oc_omit() can only be the whole value of a field or list item")
    if isinstance(value, float):
        return double_text(value)
    return json_text(value)
