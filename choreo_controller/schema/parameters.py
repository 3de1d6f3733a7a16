"""Run parameters: defaulted, then validated, against the Workflow's compiled schema (SPEC section 3).

``resolve_parameters(workflow, run_parameters)`` returns a new dict (the input is never modified):
missing fields filled from defaults, recursively, never overwriting a given value; then every violation
(unknown parameters, wrong types, enum misses, missing required fields, constraint failures) is listed
in one ``InvalidParameters`` error, capped at 20 lines. A Workflow that declares no schema at all takes
its parameters as given (as OpenChoreo does), but they must still be a map.

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
from choreo_controller.schema.validators import checking_validator, defaulting_validator, violations


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A Workflow's parameter schema as JSON Schema, with its two validators (do not modify)."""

    schema: dict[str, Any]
    defaulting: Any
    checking: Any


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> CompiledSchema | None:
    schema = build(json.loads(canonical))
    if schema is None:
        return None
    return CompiledSchema(schema, defaulting_validator(schema), checking_validator(schema))


def compile_workflow_schema(workflow: dict[str, Any]) -> CompiledSchema | None:
    """The compiled parameter schema of a Workflow or ClusterWorkflow; ``None`` if it declares none.

    Raises ``InvalidSchema`` listing the problems, for the Workflow's ``Ready`` condition.
    """
    spec = workflow.get("spec") or {}
    sections = {"schema": spec.get("schema"), "parameters": spec.get("parameters")}
    return _compiled(json.dumps(sections, sort_keys=True, separators=(",", ":")))


def resolve_parameters(workflow: dict[str, Any], run_parameters: Any) -> dict[str, Any]:
    """The run's parameters, defaulted and validated; raises ``InvalidParameters`` or ``InvalidSchema``."""
    compiled = compile_workflow_schema(workflow)
    if run_parameters is None:
        run_parameters = {}
    if not isinstance(run_parameters, dict):
        raise InvalidParameters([f"parameters: {type(run_parameters).__name__} is not of type 'object'"])
    parameters = copy.deepcopy(run_parameters)
    if compiled is None:
        return parameters
    for _ in compiled.defaulting.iter_errors(parameters):
        pass  # applying defaults; violations are collected on the defaulted value below
    problems = violations(compiled.checking, parameters)
    if problems:
        raise InvalidParameters(problems)
    return parameters
