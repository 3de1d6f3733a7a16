"""cel-go's ``ext.Strings`` (the part celpy lacks) and ``ext.Encoders``, with cel-go's semantics.

Functions (method form ``s.f(...)`` and, where cel-go has one, the namespaced ``strings.quote``):
``charAt``, ``indexOf``, ``lastIndexOf`` (with cel-go's offset rules: negative is an error, past the end
finds nothing), ``reverse`` (strings; lists are in ``extlists``), ``format`` (``%s %d %f %e %b %x %X %o
%%`` and ``%.Nf``/``%.Ne``, cel-go's text for each kind), ``strings.quote``, ``base64.encode``,
``base64.decode``. ``lowerAscii``, ``upperAscii``, ``replace``, ``split``, ``join``, ``trim``,
``substring`` are in ``functions`` (they came first).

Indices count code points, as cel-go's rune slices do. Work proportional to the output is charged to the
evaluation's budget before it is done (``budget.charge``), and no result may exceed ``MAX_STRING``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import TYPE_CHECKING, Any, Final

from celpy import celtypes

from choreo_controller.render import budget
from choreo_controller.render.budget import MAX_STRING
from choreo_controller.render.celvalues import error, kind
from choreo_controller.render.gofmt import double_text

if TYPE_CHECKING:
    from collections.abc import Callable

_DEFAULT_PRECISION: Final = 6
_QUOTE_ESCAPES: Final = str.maketrans(
    {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
     "\\": "\\\\", '"': '\\"'}
)  # fmt: skip


def _str(value: Any) -> bool:
    return kind(value) == "string"


def _int(value: Any) -> bool:
    return kind(value) == "int"


def char_at(text: Any, index: Any) -> Any:
    """``s.charAt(i)``: the code point at ``i``; ``""`` at the end; an error outside."""
    if not (_str(text) and _int(index)):
        return error("charAt needs (string, int)")
    if not 0 <= index <= len(text):
        return error("charAt index out of range")
    return celtypes.StringType(text[index : index + 1])


def index_of(text: Any, sub: Any, offset: Any = 0) -> Any:
    """``s.indexOf(sub[, offset])`` as cel-go: ``""`` is found at the offset; past the end gives -1."""
    if not (_str(text) and _str(sub) and _int(offset)):
        return error("indexOf needs (string, string[, int])")
    if sub == "":
        return celtypes.IntType(offset)
    if offset < 0:
        return error("indexOf offset out of range")
    return celtypes.IntType(-1 if offset >= len(text) else text.find(sub, offset))


def last_index_of(text: Any, sub: Any, offset: Any = None) -> Any:
    """``s.lastIndexOf(sub[, offset])`` as cel-go: a match may start at ``offset`` at the latest."""
    if not (_str(text) and _str(sub) and (offset is None or _int(offset))):
        return error("lastIndexOf needs (string, string[, int])")
    if offset is None:
        if sub == "":
            return celtypes.IntType(len(text))
        offset = len(text) - 1
    if sub == "":
        return celtypes.IntType(offset)
    if offset < 0:
        return error("lastIndexOf offset out of range")
    if offset >= len(text):
        return celtypes.IntType(-1)
    return celtypes.IntType(text.rfind(sub, 0, offset + len(sub)))


def reverse_string(text: str) -> Any:
    """``s.reverse()``."""
    return celtypes.StringType(text[::-1])


def quote(text: Any) -> Any:
    """``strings.quote(s)``: double-quoted, with cel-go's escapes."""
    if not _str(text):
        return error("strings.quote needs a string")
    budget.charge(len(text) // 4096)
    return celtypes.StringType('"' + text.translate(_QUOTE_ESCAPES) + '"')


def base64_encode(data: Any) -> Any:
    """``base64.encode(bytes)``: standard alphabet, padded."""
    if kind(data) != "bytes":
        return error("base64.encode needs bytes")
    if len(data) * 4 // 3 > MAX_STRING:
        return error(f"base64.encode would build a string longer than {MAX_STRING} characters")
    return celtypes.StringType(base64.b64encode(data).decode("ascii"))


def base64_decode(text: Any) -> Any:
    """``base64.decode(s)``: padded or unpadded standard alphabet."""
    if not _str(text):
        return error("base64.decode needs a string")
    try:
        return celtypes.BytesType(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        pass
    try:
        return celtypes.BytesType(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    except (binascii.Error, ValueError):
        return error("base64.decode: not base64")


# --- format ------------------------------------------------------------------------------------------


class _FormatError(Exception):
    pass


def _go_quote(text: str) -> str:
    # Go's %q for the strings cel-go's format quotes inside lists and maps.
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _quoted(value: Any, text: str) -> str:
    k = kind(value)
    if k == "string":
        return _go_quote(text)
    if k == "bytes":
        return "b" + _go_quote(text)
    if k == "double" and not math.isfinite(value):
        return f'"{text}"'
    return text


def _as_string(value: Any) -> str:  # noqa: PLR0911 - one return per CEL kind
    k = kind(value)
    if k == "list":
        return "[" + ", ".join(_quoted(item, _clause_text(item)) for item in value) + "]"
    if k == "map":
        pairs = sorted(
            (_quoted(key, _as_string(key)), _quoted(item, _clause_text(item))) for key, item in value.items()
        )
        return "{" + ", ".join(f"{key}:{item}" for key, item in pairs) + "}"
    if k == "bool":
        return "true" if value else "false"
    if k in {"int", "uint"}:
        return str(int(value))
    if k == "double":
        return double_text(value)
    if k == "string":
        return str(value)
    if k == "bytes":
        return bytes(value).decode("utf-8", "replace")
    if k == "null":
        return "null"
    if k in {"timestamp", "duration"}:
        return str(value)
    raise _FormatError(f"no formatting for {k}")


def _clause_text(value: Any) -> str:
    # A list or map member: doubles with plain fmt's default precision (a valid CEL literal), unlocalised.
    if kind(value) == "double":
        return f"{float(value):.{_DEFAULT_PRECISION}f}" if math.isfinite(value) else double_text(value)
    if kind(value) == "timestamp":
        return f'timestamp("{value}")'
    if kind(value) == "duration":
        return f'duration("{value}")'
    return _as_string(value)


def _not_finite(value: float) -> str:
    # golang.org/x/text's printer, which cel-go formats %f and %e with.
    return "NaN" if math.isnan(value) else ("∞" if value > 0 else "-∞")


def _fixed(value: float, precision: int) -> str:
    """``%.Nf`` through x/text's en-US printer: digits grouped by thousands (``1,234.500000``)."""
    return f"{value:,.{precision}f}" if math.isfinite(value) else _not_finite(value)


_SUPERSCRIPT: Final = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _double_arg(value: Any, verb: str) -> float:
    if kind(value) == "double":
        return float(value)
    if kind(value) == "string" and value in {"NaN", "Infinity", "-Infinity"}:
        return float(value.replace("Infinity", "inf"))
    raise _FormatError(f"%{verb} needs a double")


def _integer(value: Any, verb: str) -> int:
    if kind(value) in {"int", "uint"}:
        return int(value)
    raise _FormatError(f"%{verb} needs an integer")


def _hex(value: Any, upper: bool) -> str:
    k = kind(value)
    if k in {"string", "bytes"}:
        data = value.encode("utf-8") if k == "string" else bytes(value)
        text = data.hex()
    elif k in {"int", "uint"}:
        number = int(value)
        text = ("-" if number < 0 else "") + f"{abs(number):x}"
    else:
        raise _FormatError("%x needs an integer, a string or bytes")
    return text.upper() if upper else text


def _binary(value: Any) -> str:
    if kind(value) == "bool":
        return "1" if value else "0"
    number = _integer(value, "b")
    return ("-" if number < 0 else "") + f"{abs(number):b}"


def _octal(value: Any) -> str:
    number = _integer(value, "o")
    return ("-" if number < 0 else "") + f"{abs(number):o}"


def _scientific(value: Any, precision: int) -> str:
    """``%.Ne`` through x/text's en-US printer: ``2.718280``, U+202F U+00D7 U+202F, ``10⁰⁰``."""
    number = _double_arg(value, "e")
    if not math.isfinite(number):
        return _not_finite(number)
    mantissa, exponent = f"{number:.{precision}e}".split("e")
    digits = f"{'-' if int(exponent) < 0 else ''}{abs(int(exponent)):02d}".translate(_SUPERSCRIPT)
    return f"{mantissa}\u202f\u00d7\u202f10{digits}"


_VERBS: Final[dict[str, Callable[[Any, int | None], str]]] = {
    "s": lambda v, _p: _as_string(v),
    "d": lambda v, _p: str(_integer(v, "d")),
    "f": lambda v, p: _fixed(_double_arg(v, "f"), _DEFAULT_PRECISION if p is None else p),
    "e": lambda v, p: _scientific(v, _DEFAULT_PRECISION if p is None else p),
    "b": lambda v, _p: _binary(v),
    "x": lambda v, _p: _hex(v, upper=False),
    "X": lambda v, _p: _hex(v, upper=True),
    "o": lambda v, _p: _octal(v),
}


def _precision(template: str, at: int) -> tuple[int | None, int]:
    if template[at] != ".":
        return None, at
    end = at + 1
    while end < len(template) and template[end].isdigit():
        end += 1
    if end >= len(template) or end == at + 1:
        raise _FormatError("bad precision")
    precision = int(template[at + 1 : end])
    if precision > MAX_STRING:
        raise _FormatError(f"precision larger than {MAX_STRING}")
    budget.charge(precision // 4096)
    return precision, end


def _check(condition: bool, problem: str) -> None:
    if not condition:
        raise _FormatError(problem)


def _clause(template: str, at: int, args: list[Any], index: int) -> tuple[str, int]:
    """The text of the ``%`` clause at ``at`` for ``args[index]``, and where the template goes on."""
    _check(at + 1 < len(template), "unexpected end of string")
    _check(index < len(args), "not enough arguments")
    precision, at = _precision(template, at + 1)
    verb = _VERBS.get(template[at])
    if verb is None:
        raise _FormatError("unrecognized formatting clause")
    return verb(args[index], precision), at + 1


def format_string(template: Any, args: Any) -> Any:
    """``"...".format([args])``: cel-go's ``ext.Strings`` format verbs."""
    if not (_str(template) and kind(args) == "list"):
        return error("format needs (string, list)")
    out: list[str] = []
    size, i, index = 0, 0, 0
    try:
        while i < len(template):
            char = template[i]
            if char != "%":
                out.append(char)
                i += 1
                continue
            if template.startswith("%%", i):
                out.append("%")
                i += 2
                continue
            piece, i = _clause(template, i, args, index)
            size += len(piece)
            out.append(piece)
            index += 1
            _check(size <= MAX_STRING, f"result longer than {MAX_STRING} characters")
    except _FormatError as problem:
        return error(f"format: {problem}")
    return celtypes.StringType("".join(out))


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "format": format_string,
    "strings.quote": quote,
    "base64.encode": base64_encode,
    "base64.decode": base64_decode,
}
