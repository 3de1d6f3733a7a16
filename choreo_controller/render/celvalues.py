"""CEL's value rules that several extension functions share: kinds, heterogeneous equality, ordering.

celpy's types (``IntType``, ``UintType``, ``DoubleType``, ``BoolType``...) and plain Python values from the
fast path both arrive here; ``BoolType`` is an ``int`` and ``UintType`` an ``int`` in Python, so kinds are
decided by class, never by ``isinstance(x, int)`` alone.

* ``kind(v)``: ``"bool"``, ``"int"``, ``"uint"``, ``"double"``, ``"string"``, ``"bytes"``, ``"list"``,
  ``"map"``, ``"null"``, ``"timestamp"``, ``"duration"``, ``"optional"`` or ``"other"``;
* ``equal(a, b)``: cel-go's ``Equal``: numbers compare by value across int, uint and double, lists and
  maps element-wise, other kinds only with their own kind;
* ``error(message)``: the ``CELEvalError`` an extension function returns for bad input; its message starts
  with ``oc:`` and names no argument value (``cel._describe`` passes it on).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from celpy import celtypes
from celpy.evaluation import CELEvalError

ERROR_PREFIX: Final = "oc: "
NUMBERS: Final = frozenset({"int", "uint", "double"})


class Optional:
    """cel-go's ``optional`` value: ``optional.of(x)`` or ``optional.none()`` (``NONE``)."""

    __slots__ = ("value",)
    _MISSING: Final = object()

    def __init__(self, value: Any = _MISSING) -> None:
        self.value = value

    @property
    def present(self) -> bool:
        """Whether this is ``optional.of(...)``."""
        return self.value is not Optional._MISSING

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Optional):
            return False
        if not (self.present and other.present):
            return self.present == other.present
        return equal(self.value, other.value)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"optional.of({self.value!r})" if self.present else "optional.none()"


NONE: Final = Optional()


def error(message: str) -> CELEvalError:
    """A CEL error value with a safe message (no argument values)."""
    return CELEvalError(ERROR_PREFIX + message)


def kind(value: Any) -> str:  # noqa: C901, PLR0911 - one return per CEL kind
    """The CEL kind of a celpy or plain Python value."""
    if isinstance(value, bool | celtypes.BoolType):
        return "bool"
    if isinstance(value, celtypes.UintType):
        return "uint"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "map"
    if value is None:
        return "null"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.timedelta):
        return "duration"
    if isinstance(value, Optional):
        return "optional"
    return "other"


def equal(a: Any, b: Any) -> bool:
    """cel-go's equality (heterogeneous numbers; containers element-wise)."""
    ka, kb = kind(a), kind(b)
    if ka in NUMBERS and kb in NUMBERS:
        return float(a) == float(b) if "double" in {ka, kb} else int(a) == int(b)
    if ka != kb:
        return False
    if ka == "list":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if ka == "map":
        return len(a) == len(b) and all(
            any(equal(k, other) and equal(v, b[other]) for other in b) for k, v in a.items()
        )
    if ka in {"bool", "int"}:
        return bool(a) == bool(b) if ka == "bool" else int(a) == int(b)
    return bool(a == b)


def hashable_key(value: Any) -> tuple[str, Any] | None:
    """A key equal values share (``1``, ``1u`` and ``1.0`` alike), or ``None`` for containers."""
    k = kind(value)
    if k in NUMBERS:
        number = float(value)
        return ("number", int(number) if number.is_integer() else number)
    if k in {"string", "bytes", "bool", "null", "timestamp", "duration"}:
        return (k, bool(value) if k == "bool" else value)
    return None
