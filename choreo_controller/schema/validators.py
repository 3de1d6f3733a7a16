"""jsonschema validators for parameters: defaulting, linear-time patterns, violation lines.

* ``defaulting_validator(schema)``: Draft 2020-12 whose ``properties`` keyword first fills missing or
  ``null`` properties from their ``default`` (a deep copy; as Kubernetes defaulting replaces ``null`` unless
  the field is ``nullable``), then
  validates them, so defaults nested in an object that was itself created from ``default: {}`` are filled
  too. Running ``iter_errors`` once applies every default.
* ``pattern`` is matched with RE2 (linear time): a platform engineer's pattern must not let a developer's
  parameter value hang the controller with catastrophic backtracking. Patterns RE2 cannot compile
  (backreferences, lookaround) are schema errors (``check_pattern``).
* ``format_violation(error)``: ``parameters.a.b: <message>``; ``required`` names the missing field in the
  path (``parameters.repository.url: 'url' is a required property``); long messages are clipped.
"""

from __future__ import annotations

import ast
import copy
import functools
from typing import TYPE_CHECKING, Any, Final

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from choreo_controller.schema.errors import InvalidSchema

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_MESSAGE: Final = 300
_RE2_OPTIONS: Final = re2.Options()
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=1024)
def _re2(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    del schema
    if validator.is_type(instance, "string") and not _re2(pattern).search(instance):
        yield ValidationError(f"{_short(instance)} does not match {pattern!r}")


def _nullable(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _properties(validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]) -> Any:
    if validator.is_type(instance, "object"):
        for name, sub in properties.items():
            missing = name not in instance or (instance[name] is None and not _nullable(sub))
            if isinstance(sub, dict) and "default" in sub and missing:
                instance[name] = copy.deepcopy(sub["default"])
    yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, schema)


Checking = validators.extend(Draft202012Validator, {"pattern": _pattern})
Defaulting = validators.extend(Checking, {"properties": _properties})


def checking_validator(schema: dict[str, Any]) -> Any:
    """A validator that reports violations and changes nothing."""
    return Checking(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def defaulting_validator(schema: dict[str, Any]) -> Any:
    """A validator whose ``iter_errors`` fills defaults into the instance as it goes."""
    return Defaulting(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check_pattern(pattern: str) -> None:
    """Raise ``InvalidSchema`` when RE2 cannot compile ``pattern``."""
    try:
        _re2(pattern)
    except re2.error:
        raise InvalidSchema([f"pattern {pattern!r} is not supported (RE2 syntax)"]) from None


def _short(value: Any) -> str:
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _path(parts: Any, root: str) -> str:
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _sort_key(parts: list[Any]) -> list[tuple[int, int, str]]:
    return [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in parts]


def _missing(error: ValidationError) -> str | None:
    if error.validator != "required" or not error.message.endswith(" is a required property"):
        return None
    try:
        missing = ast.literal_eval(error.message.removesuffix(" is a required property"))
    except (ValueError, SyntaxError):
        return None
    return missing if isinstance(missing, str) else None


def format_violation(error: ValidationError, root: str = "parameters") -> str:
    """One line for one violation: ``<path>: <message>``."""
    missing = _missing(error)
    path = _path([*error.absolute_path, *([missing] if missing else [])], root)
    message = error.message
    if error.validator == "type":
        message = f"{_short(error.instance)} is not of type {error.validator_value!r}"
    elif error.validator == "enum":
        message = f"{_short(error.instance)} is not one of {error.validator_value!r}"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{path}: {message}"


_Keyed = list[tuple[list[tuple[int, int, str]], str]]


def _collect(validator: Any, instance: Any, root: str) -> tuple[_Keyed, _Keyed]:
    lines: _Keyed = []
    unknown: _Keyed = []
    for error in validator.iter_errors(instance):
        if error.validator == "additionalProperties" and error.validator_value is False:
            known = set((error.schema.get("properties") or {}).keys())
            for key in (k for k in error.instance if k not in known):
                parts = [*error.absolute_path, key]
                unknown.append((_sort_key(parts), _path(parts, root)))
            continue
        missing = _missing(error)
        parts = [*error.absolute_path, *([missing] if missing else [])]
        lines.append((_sort_key(parts), format_violation(error, root)))
    return lines, unknown


def violations(validator: Any, instance: Any, root: str = "parameters") -> list[str]:
    """Every violation of ``instance``, one line each, in path order; unknown fields one line per key."""
    lines, unknown = _collect(validator, instance, root)
    lines += [(key, f"{path}: unknown parameter") for key, path in unknown]
    return [line for _, line in sorted(lines)]


def checked(validator: Any, instance: Any, root: str = "parameters") -> tuple[list[str], list[str]]:
    """The violations of ``instance`` except unknown fields, and the paths of the unknown fields."""
    lines, unknown = _collect(validator, instance, root)
    return [line for _, line in sorted(lines)], [path for _, path in sorted(unknown)]
