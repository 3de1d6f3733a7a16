r"""The shorthand leaf syntax (SPEC section 3): ``"<type> | key=value key='quoted value' ..."``.

``parse_leaf`` splits a leaf into its type text and its constraints; ``constraint_schema`` turns the
constraints into JSON Schema keywords for a given JSON type. Rules, as OpenChoreo's schema syntax:

* the type is everything before the first ``|``; after it, space-separated ``key=value`` tokens; a lone
  ``|`` between tokens is allowed; markers prefixed ``oc:`` are ignored; ``required`` and any other
  unknown marker are errors, as is a repeated key;
* values: bare (up to whitespace), ``'single'`` (``''`` escapes a quote), ``"double"`` (``\\"`` and ``\\\\``
  escape), or JSON starting with ``[``/``{`` (balanced, may contain spaces); ``enum`` takes a
  comma-separated list of bare or quoted items (or a JSON array);
* ``default``/``example``/``enum`` items are typed by the field: integers and numbers as JSON numbers,
  booleans ``true``/``false``, arrays and objects as JSON, strings as written;
* ``exclusiveMinimum``/``exclusiveMaximum`` are OpenAPI 3.0 booleans and become Draft 2020-12 numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from choreo_controller.schema.errors import InvalidSchema
from choreo_controller.schema.validators import check_pattern

_KEY_RE: Final = re.compile(r"[A-Za-z0-9_:.\-]+")
_STRING_KEYS: Final = frozenset({"pattern", "format", "title", "description"})
_COUNT_KEYS: Final = frozenset(
    {"minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"}
)
_NUMBER_KEYS: Final = frozenset({"minimum", "maximum", "multipleOf"})
_FLAG_KEYS: Final = frozenset({"exclusiveMinimum", "exclusiveMaximum"})
_VALUE_KEYS: Final = frozenset({"default", "example", "enum"})
_APPLIES: Final = {
    "string": {"pattern", "format", "minLength", "maxLength"},
    "integer": {"minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum", "format"},
    "number": {"minimum", "maximum", "multipleOf", "exclusiveMinimum", "exclusiveMaximum", "format"},
    "boolean": set(),
    "array": {"minItems", "maxItems"},
    "object": {"minProperties", "maxProperties"},
}
_EVERYWHERE: Final = frozenset({"title", "description", "default", "example", "enum"})


@dataclass(frozen=True, slots=True)
class Item:
    """One value item: its text, and whether it was quoted or JSON (bracketed)."""

    text: str
    quoted: bool = False
    json: bool = False


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    quote, out = text[i], []
    i += 1
    while i < len(text):
        char = text[i]
        if quote == "'" and char == "'":
            if text.startswith("''", i):
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        if quote == '"' and char == "\\" and i + 1 < len(text) and text[i + 1] in '\\"':
            out.append(text[i + 1])
            i += 2
            continue
        if quote == '"' and char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise InvalidSchema([f"unterminated {quote} quote"])


def _read_json(text: str, i: int) -> tuple[str, int]:
    depth, start = 0, i
    while i < len(text):
        char = text[i]
        if char == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1], i + 1
        i += 1
    raise InvalidSchema(["unbalanced brackets in a JSON value"])


def _try_json(text: str, i: int) -> tuple[str, int] | None:
    # `[a-z]+` is a bare pattern, `["a", "b"]` is JSON: JSON must end where the value ends.
    try:
        value, end = _read_json(text, i)
    except InvalidSchema:
        return None
    return (value, end) if end == len(text) or text[end].isspace() or text[end] == "," else None


def _read_value(text: str, i: int) -> tuple[list[Item], int]:
    items: list[Item] = []
    while True:
        if i < len(text) and text[i] in "'\"":
            value, i = _read_quoted(text, i)
            items.append(Item(value, quoted=True))
        elif i < len(text) and text[i] in "[{" and (bracketed := _try_json(text, i)) is not None:
            value, i = bracketed
            items.append(Item(value, json=True))
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] != ",":
                end += 1
            items.append(Item(text[i:end]))
            i = end
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        return items, i


def parse_leaf(text: str) -> tuple[str, dict[str, list[Item]]]:
    """The type text and the constraints (key -> value items) of one shorthand leaf."""
    type_text, _, rest = text.partition("|")
    type_text = type_text.strip()
    if not type_text or any(c.isspace() for c in type_text):
        raise InvalidSchema([f"expected '<type> | <constraints>', got {text!r}"])
    constraints: dict[str, list[Item]] = {}
    i = 0
    while i < len(rest):
        if rest[i].isspace() or rest[i] == "|":
            i += 1
            continue
        match = _KEY_RE.match(rest, i)
        key = match.group(0) if match else rest[i]
        i += len(key)
        if i >= len(rest) or rest[i] != "=":
            if key.startswith("oc:"):
                continue
            hint = " (a field is required unless it has a default)" if key == "required" else ""
            raise InvalidSchema([f"unknown marker {key!r}{hint}"])
        items, i = _read_value(rest, i + 1)
        if key.startswith("oc:"):
            continue
        if key in constraints:
            raise InvalidSchema([f"{key} given twice"])
        constraints[key] = items
    return type_text, constraints


def _number(item: Item, key: str, *, integer: bool = False) -> int | float:
    try:
        value = json.loads(item.text)
    except ValueError:
        value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        kind = "an integer" if integer else "a number"
        raise InvalidSchema([f"{key} must be {kind}, got {item.text!r}"])
    return value


def _json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidSchema([f"{key} must be JSON, got {text!r}"]) from None


def typed_value(item: Item, json_type: str, key: str) -> Any:
    """A ``default``/``example``/``enum`` item as a JSON value of ``json_type``."""
    if json_type in {"array", "object"}:
        return _json(item.text, key)
    if item.quoted or json_type == "string":
        return item.text
    if json_type == "boolean":
        if item.text not in {"true", "false"}:
            raise InvalidSchema([f"{key} of a boolean must be true or false, got {item.text!r}"])
        return item.text == "true"
    return _number(item, key, integer=json_type == "integer")


def _single(items: list[Item], key: str) -> Item:
    if len(items) == 1:
        return items[0]
    if any(item.quoted or item.json for item in items):
        raise InvalidSchema([f"{key} takes one value"])
    return Item(",".join(item.text for item in items))


def _constraint(key: str, items: list[Item], json_type: str) -> Any:  # noqa: PLR0911 - one per family
    if key == "enum":
        first = items[0]
        if len(items) == 1 and first.json and first.text.startswith("["):
            return _json(first.text, key)
        return [typed_value(item, json_type, key) for item in items]
    item = _single(items, key)
    if key in _VALUE_KEYS:
        return typed_value(item, json_type, key)
    if key in _STRING_KEYS:
        return item.text
    if key in _NUMBER_KEYS:
        return _number(item, key)
    if key in _COUNT_KEYS:
        count = _number(item, key, integer=True)
        if count < 0:
            raise InvalidSchema([f"{key} must not be negative"])
        return count
    if item.text not in {"true", "false"}:
        raise InvalidSchema([f"{key} must be true or false (OpenAPI 3.0 style)"])
    return item.text == "true"


def constraint_schema(constraints: dict[str, list[Item]], json_type: str) -> dict[str, Any]:
    """JSON Schema keywords for ``constraints`` on a field of ``json_type``."""
    out: dict[str, Any] = {}
    for key, items in constraints.items():
        if key not in _STRING_KEYS | _COUNT_KEYS | _NUMBER_KEYS | _FLAG_KEYS | _VALUE_KEYS:
            raise InvalidSchema([f"unknown constraint {key!r}"])
        if key not in _EVERYWHERE and key not in _APPLIES[json_type]:
            raise InvalidSchema([f"{key} does not apply to a {json_type}"])
        out[key] = _constraint(key, items, json_type)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.pop(flag, False):
            if bound not in out:
                raise InvalidSchema([f"{flag}=true needs {bound}"])
            out[flag] = out.pop(bound)
    if out.get("multipleOf", 1) <= 0:
        raise InvalidSchema(["multipleOf must be greater than 0"])
    if "pattern" in out:
        check_pattern(out["pattern"])
    return out
