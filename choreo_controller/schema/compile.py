"""Workflow parameter schemas (shorthand or ``openAPIV3Schema``) compiled to one Draft 2020-12 JSON Schema.

Shorthand (``spec.schema.parameters`` + ``spec.schema.types``): nested maps are objects whose fields are
required unless they have a default, with ``additionalProperties: false`` (unknown parameters are named,
rendered as given and reported as a warning); ``$default`` in a map is the object's default (a map, or its
JSON text as OpenChoreo also accepts); leaves are ``"<type> | <constraints>"`` (``shorthand``).
Types: ``string``, ``integer``, ``number``, ``boolean``, ``[]T``/``array<T>``, ``map<T>``/``map[string]T``
(objects with free keys) and names from ``schema.types`` (a map, or a leaf string). Named types are expanded
inline, so a type's ``$default`` travels with it and a field's ``default=`` overrides it; cycles are errors.

``openAPIV3Schema`` (``spec.parameters.openAPIV3Schema``): used as is after OpenAPI 3.0 touches
(``nullable``, boolean ``exclusiveMinimum``/``exclusiveMaximum``); objects that list ``properties`` get
``additionalProperties: false`` unless they say otherwise or carry ``x-kubernetes-preserve-unknown-fields``
(Kubernetes would prune unknown fields; we refuse them loudly). Local ``$ref`` (``#/$defs/...``) is inlined
(siblings of ``$ref`` win), so a default in a referenced definition applies where it is used; remote refs
and cycles are errors.

Every ``default`` must satisfy its own schema (after its nested defaults are applied). The result is
checked against the metaschema and cached by content, so a Workflow is compiled once per change.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Final, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from choreo_controller.schema import shorthand
from choreo_controller.schema.errors import InvalidSchema
from choreo_controller.schema.validators import check_pattern, defaulting_validator, violations

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_SCHEMA_NODES: Final = 20_000
_SCALARS: Final = frozenset({"string", "integer", "number", "boolean"})


class _Shorthand:
    def __init__(self, types: dict[str, Any]) -> None:
        self.types = types
        self.expanding: list[str] = []
        self.nodes = 0

    def count(self, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_SCHEMA_NODES:
            raise InvalidSchema([f"{where}: schema expands to more than {MAX_SCHEMA_NODES} nodes"])

    def obj(self, fields: dict[str, Any], where: str) -> dict[str, Any]:
        self.count(where)
        properties: dict[str, Any] = {}
        required: list[str] = []
        schema: dict[str, Any] = {"type": "object"}
        for key, value in fields.items():
            if not isinstance(key, str):
                raise InvalidSchema([f"{where}: field names must be strings"])
            if key == "$default":
                schema["default"] = _object_default(value)
                continue
            if key.startswith("$"):
                raise InvalidSchema([f"{where}.{key}: unknown directive (only $default is allowed)"])
            properties[key] = self.field(value, f"{where}.{key}")
            if "default" not in properties[key]:
                required.append(key)
        schema.update(properties=properties, additionalProperties=False)
        if required:
            schema["required"] = required
        return schema

    def field(self, value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, dict):
            return self.obj(value, where)
        if not isinstance(value, str):
            raise InvalidSchema(
                [f"{where}: expected a type string or a nested map, got {type(value).__name__}"]
            )
        try:
            type_text, constraints = shorthand.parse_leaf(value)
            schema = self.type(type_text, where)
            schema.update(shorthand.constraint_schema(constraints, _json_type(schema)))
        except InvalidSchema as error:
            located = ("parameters", "types.")
            raise InvalidSchema(
                [p if p.startswith(located) else f"{where}: {p}" for p in error.problems]
            ) from None
        return schema

    def type(self, text: str, where: str) -> dict[str, Any]:
        self.count(where)
        if text in _SCALARS:
            return {"type": text}
        for prefix, suffix in (("[]", ""), ("array<", ">")):
            if text.startswith(prefix) and text.endswith(suffix) and len(text) > len(prefix) + len(suffix):
                return {
                    "type": "array",
                    "items": self.type(text[len(prefix) : len(text) - len(suffix)], where),
                }
        for prefix, suffix in (("map<", ">"), ("map[string]", "")):
            if text.startswith(prefix) and text.endswith(suffix) and len(text) > len(prefix) + len(suffix):
                inner = self.type(text[len(prefix) : len(text) - len(suffix)], where)
                return {"type": "object", "additionalProperties": inner}
        if text in self.types:
            return self.named(text)
        raise InvalidSchema([f"{where}: unknown type {text!r}"])

    def named(self, name: str) -> dict[str, Any]:
        if name in self.expanding:
            raise InvalidSchema(
                [f"types.{name}: type refers to itself ({' -> '.join([*self.expanding, name])})"]
            )
        self.expanding.append(name)
        try:
            return copy.deepcopy(self.field(self.types[name], f"types.{name}"))
        finally:
            self.expanding.pop()


def _object_default(value: Any) -> Any:
    """``$default`` as written: a map, or (as OpenChoreo's ``applyObjectDefault`` accepts) its JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # reported by the default's own check: not an object
    return value


def _json_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else "object"


_SCHEMA_MAPS: Final = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_ONE: Final = (
    "additionalProperties", "items", "not", "if", "then", "else", "contains", "propertyNames",
    "unevaluatedProperties", "unevaluatedItems",
)  # fmt: skip


def _map_subschemas(schema: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    """A shallow copy of ``schema`` with ``fn`` applied to each direct subschema (never to data)."""
    out = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: fn(sub) for name, sub in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [fn(sub) for sub in out[key]]
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = fn(out[key])
    return out


def _openapi(node: Any) -> Any:
    """OpenAPI 3.0 touches on a copy of the schema ``node`` (see the module docstring)."""
    if not isinstance(node, dict):
        return node
    out = _map_subschemas(node, _openapi)
    ref = out.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
        raise InvalidSchema([f"parameters: only local $ref ('#/...') is supported, got {ref!r}"])
    if isinstance(out.get("pattern"), str):
        check_pattern(out["pattern"])
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(flag), bool) and out.pop(flag) and bound in out:
            out[flag] = out.pop(bound)
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _pointer(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for raw in ref.removeprefix("#").split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise InvalidSchema([f"parameters: $ref {ref!r} does not resolve"])
    return node


def _inline(node: Any, root: dict[str, Any], stack: tuple[str, ...], counter: list[int]) -> Any:
    """``node`` with every local ``$ref`` replaced by (a copy of) its target, so defaults travel with it."""
    if not isinstance(node, dict):
        return node
    counter[0] += 1
    if counter[0] > MAX_SCHEMA_NODES:
        raise InvalidSchema([f"parameters: schema expands to more than {MAX_SCHEMA_NODES} nodes"])
    out = _map_subschemas(node, lambda sub: _inline(sub, root, stack, counter))
    for key in ("$ref", "$defs", "definitions"):
        out.pop(key, None)
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in stack:
            raise InvalidSchema([f"parameters: $ref {ref!r} refers to itself"])
        target = _inline(_pointer(root, ref), root, (*stack, ref), counter)
        out = {**(target if isinstance(target, dict) else {}), **out}
    return out


def _walk_defaults(schema: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return []
    found = [(where, schema)] if "default" in schema else []
    for key, sub in (schema.get("properties") or {}).items():
        found += _walk_defaults(sub, f"{where}.{key}")
    for keyword, suffix in (("items", "[*]"), ("additionalProperties", ".*")):
        found += _walk_defaults(schema.get(keyword), where + suffix)
    return found


def _check_defaults(root: dict[str, Any]) -> None:
    problems = []
    base = defaulting_validator(root)
    for where, sub in _walk_defaults(root, "parameters"):
        instance = copy.deepcopy(sub["default"])
        checker = base.evolve(schema=sub)
        for _ in checker.iter_errors(instance):
            pass  # the first pass fills nested defaults
        problems += [
            f"{where}: default does not satisfy its schema: {line}"
            for line in violations(checker, instance, "$")
        ]
    if problems:
        raise InvalidSchema(problems)


def build(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema of a Workflow spec's parameters; ``None`` when it declares none."""
    shorthand_section = spec.get("schema") or {}
    openapi = (spec.get("parameters") or {}).get("openAPIV3Schema")
    has_shorthand = bool(shorthand_section.get("parameters") or shorthand_section.get("types"))
    if has_shorthand and openapi is not None:
        raise InvalidSchema(["spec.schema and spec.parameters.openAPIV3Schema are exclusive; use one"])
    if openapi is not None:
        if not isinstance(openapi, dict):
            raise InvalidSchema(["parameters: openAPIV3Schema must be an object"])
        normalised = _openapi(openapi)
        root = _inline(normalised, normalised, (), [0])
        root.setdefault("type", "object")
    elif has_shorthand:
        types, params = shorthand_section.get("types") or {}, shorthand_section.get("parameters") or {}
        if not isinstance(types, dict) or not isinstance(params, dict):
            raise InvalidSchema(["schema.types and schema.parameters must be maps"])
        root = _Shorthand(types).obj(params, "parameters")
        root.pop("default", None)
    else:
        return None
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    try:
        Draft202012Validator.check_schema(root)
    except SchemaError as error:
        location = "/".join(map(str, error.absolute_path)) or "(root)"
        raise InvalidSchema([f"parameters: invalid schema at {location}: {error.message}"]) from None
    _check_defaults(root)
    return cast("dict[str, Any]", root)
