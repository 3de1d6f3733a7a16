"""Run parameters: defaulted, then validated, against the Workflow's compiled schema (SPEC section 3).

``resolve_parameters(workflow, run_parameters)`` returns ``Resolved``: a new dict (the input is never
modified) with missing or ``null`` fields filled from defaults, recursively, never overwriting a given
value, and ``number`` fields as doubles (OpenChoreo's CEL sees ``float64``: ``* 2.0`` must work on ``2``);
then every violation (wrong types, enum misses, missing required fields, constraint failures) is listed in
one ``InvalidParameters`` error, capped at 20 lines. Parameters the schema does not declare are kept and
rendered, as OpenChoreo renders them; ``Resolved.unknown`` names each one so callers can warn. A Workflow
that declares no schema at all takes its parameters as given, but they must still be a map.

Compiled schemas and their validators are cached by schema content, so a Workflow costs one compile per
change however many runs use it.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

from choreo_controller.schema.compile import build
from choreo_controller.schema.errors import InvalidParameters
from choreo_controller.schema.validators import checked, checking_validator, defaulting_validator


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A Workflow's parameter schema as JSON Schema, with its two validators (do not modify)."""

    schema: dict[str, Any]
    defaulting: Any
    checking: Any
    has_numbers: bool


@dataclass(frozen=True, slots=True)
class Resolved:
    """A run's parameters, defaulted and validated, and the paths the schema does not declare."""

    values: dict[str, Any]
    unknown: tuple[str, ...] = ()

    def warning(self) -> str | None:
        """One line naming every unknown parameter, for an Event or a status message; ``None`` if none."""
        if not self.unknown:
            return None
        return f"not in the Workflow's schema, rendered as given: {', '.join(self.unknown)}"


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> CompiledSchema | None:
    schema = build(json.loads(canonical))
    if schema is None:
        return None
    has_numbers = _declares_number(schema)
    return CompiledSchema(schema, defaulting_validator(schema), checking_validator(schema), has_numbers)


def _declares_number(schema: Any) -> bool:
    if isinstance(schema, dict):
        kind = schema.get("type")
        return (
            kind == "number"
            or (isinstance(kind, list) and "number" in kind)
            or any(_declares_number(sub) for sub in schema.values())
        )
    return isinstance(schema, list) and any(_declares_number(sub) for sub in schema)


def _doubles(schema: Any, value: Any) -> Any:
    """``value`` with every integer at a ``number`` (not ``integer``) position turned into a double."""
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if type(value) is int and "number" in kinds and "integer" not in kinds:
        return float(value)
    if isinstance(value, dict):
        properties, extra = schema.get("properties") or {}, schema.get("additionalProperties")
        for key, item in value.items():
            value[key] = _doubles(properties.get(key, extra), item)
    elif isinstance(value, list):
        items = schema.get("items")
        value[:] = [_doubles(items, item) for item in value]
    return value


def compile_workflow_schema(workflow: dict[str, Any]) -> CompiledSchema | None:
    """The compiled parameter schema of a Workflow or ClusterWorkflow; ``None`` if it declares none.

    Raises ``InvalidSchema`` listing the problems, for the Workflow's ``Ready`` condition.
    """
    spec = workflow.get("spec") or {}
    sections = {"schema": spec.get("schema"), "parameters": spec.get("parameters")}
    return _compiled(json.dumps(sections, sort_keys=True, separators=(",", ":")))


def resolve_parameters(workflow: dict[str, Any], run_parameters: Any) -> Resolved:
    """The run's parameters, defaulted and validated; raises ``InvalidParameters`` or ``InvalidSchema``."""
    compiled = compile_workflow_schema(workflow)
    if run_parameters is None:
        run_parameters = {}
    if not isinstance(run_parameters, dict):
        raise InvalidParameters([f"parameters: {type(run_parameters).__name__} is not of type 'object'"])
    parameters = copy.deepcopy(run_parameters)
    if compiled is None:
        return Resolved(parameters)
    for _ in compiled.defaulting.iter_errors(parameters):
        pass  # applying defaults; violations are collected on the defaulted value below
    problems, unknown = checked(compiled.checking, parameters)
    if problems:
        raise InvalidParameters(problems)
    if compiled.has_numbers:
        _doubles(compiled.schema, parameters)
    return Resolved(parameters, tuple(unknown))
