r"""Go's text for values, byte for byte: how OpenChoreo's Go code writes doubles and JSON.

OpenChoreo renders with cel-go and marshals with ``encoding/json``; a platform engineer moving a Workflow
over must get the same text (shared/conformance: "doubles written as text", "JSON text inside strings").

* ``double_text(x)``: ``fmt.Sprintf("%g", x)`` (shortest digits; exponent when it is below -4 or at
  least 6): ``2.0`` -> ``2``, ``1e6`` -> ``1e+06``, ``1e-7`` -> ``1e-07``. cel-go's ``string(double)``
  and OpenChoreo's interpolation both write this.
* ``json_text(value)``: ``json.Marshal``: map keys sorted, ``<`` ``>`` ``&`` U+2028 U+2029 escaped as
  ``\u003c``..., doubles in ``'f'`` notation unless below 1e-6 or from 1e21 on (``1e+21``, ``1e-7``),
  no spaces.

Python's ``repr`` already gives the shortest round-trip digits, the same digits Go's ``-1`` precision
finds; only the layout around them differs.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any, Final

_HTML_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_ESCAPE_TABLE: Final = str.maketrans(_HTML_ESCAPES)


def _digits(value: float) -> tuple[str, int]:
    """Shortest decimal digits of ``abs(value)`` and the decimal point position (Go's ``digs.d``, ``dp``)."""
    sign, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    del sign
    text = "".join(map(str, digits)).rstrip("0")
    point = len(digits) + int(exponent)
    return text or "0", point if text else 1


def _exponent_form(negative: bool, digits: str, point: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1
    return f"{'-' if negative else ''}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fixed_form(negative: bool, digits: str, point: int) -> str:
    if point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + text


def _special(value: float) -> str | None:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def double_text(value: float) -> str:
    """``fmt.Sprintf("%g", value)``."""
    value = float(value)  # celpy's DoubleType refuses comparisons with ints
    special = _special(value)
    if special is not None:
        return special
    negative = math.copysign(1.0, value) < 0
    if value == 0:
        return "-0" if negative else "0"
    digits, point = _digits(value)
    if point - 1 < -4 or point - 1 >= 6:
        return _exponent_form(negative, digits, point)
    return _fixed_form(negative, digits, point)


def json_double(value: float) -> str:
    """A double as ``encoding/json`` writes it (finite values only)."""
    value = float(value)
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    negative = value < 0
    digits, point = _digits(value)
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        text = _exponent_form(negative, digits, point)
        return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text
    return _fixed_form(negative, digits, point)


def json_string(text: str) -> str:
    """A JSON string literal as ``encoding/json`` writes it."""
    return json.dumps(text, ensure_ascii=False).translate(_ESCAPE_TABLE)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    return False


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, float):
        out.append(json_double(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value)):
            out.append("," if index else "")
            out.append(json_string(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            _encode(item, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False).translate(_ESCAPE_TABLE))


def json_text(value: Any) -> str:
    """``json.Marshal(value)`` of a plain JSON value (string keys, finite doubles)."""
    if not _has_float(value):  # the C encoder, then Go's escaping: the common case, ~10x faster
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return text.translate(_ESCAPE_TABLE)
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
