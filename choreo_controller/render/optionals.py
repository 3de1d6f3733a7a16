"""The functions of cel-go's ``cel.OptionalTypes`` (the syntax is ``grammar``'s, the macros ``evaluator``'s).

``optional.of``, ``optional.ofNonZeroValue``, ``optional.none``, ``hasValue``, ``value`` (an error for
``optional.none()``), ``orValue``, ``or``, ``optional.unwrap``/``unwrapOpt``. Values are
``celvalues.Optional``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from celpy import celtypes

from choreo_controller.render.celvalues import NONE, NUMBERS, Optional, error, kind

if TYPE_CHECKING:
    from collections.abc import Callable


def _zero(value: Any) -> bool:
    k = kind(value)
    return (
        value is None
        or (k in {"list", "map", "string", "bytes"} and len(value) == 0)
        or (k in NUMBERS | {"bool"} and not value)
    )


def _optional(value: Any) -> Optional | None:
    return value if isinstance(value, Optional) else None


def has_value(value: Any) -> Any:
    """``o.hasValue()``."""
    opt = _optional(value)
    return celtypes.BoolType(opt.present) if opt else error("hasValue needs an optional")


def opt_value(value: Any) -> Any:
    """``o.value()``: an error for ``optional.none()``."""
    opt = _optional(value)
    if opt is None:
        return error("value needs an optional")
    return opt.value if opt.present else error("optional.none() dereference")


def or_value(value: Any, default: Any) -> Any:
    """``o.orValue(default)``."""
    opt = _optional(value)
    return (opt.value if opt.present else default) if opt else error("orValue needs an optional")


def opt_or(value: Any, other: Any) -> Any:
    """``o.or(other)``: ``o`` if it has a value, else ``other`` (an optional)."""
    opt, alternative = _optional(value), _optional(other)
    if opt is None or alternative is None:
        return error("or needs two optionals")
    return opt if opt.present else alternative


def unwrap(items: Any) -> Any:
    """``optional.unwrap(list)`` / ``list.unwrapOpt()``: the values of the optionals that have one."""
    if kind(items) != "list" or not all(isinstance(item, Optional) for item in items):
        return error("optional.unwrap needs a list of optionals")
    return celtypes.ListType(item.value for item in items if item.present)


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "optional.of": Optional,
    "optional.ofNonZeroValue": lambda value: NONE if _zero(value) else Optional(value),
    "optional.none": lambda: NONE,
    "hasValue": has_value,
    "value": opt_value,
    "orValue": or_value,
    "or": opt_or,
    "optional.unwrap": unwrap,
    "unwrapOpt": unwrap,
}
