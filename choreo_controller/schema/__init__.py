"""Parameter schemas (SPEC section 3): shorthand and openAPIV3Schema -> JSON Schema, defaults, violations.

Public API (pure; cached by schema content):

* ``resolve_parameters(workflow, run_parameters) -> Resolved``: the run's parameters (``values``) with
  defaults applied (recursively, never overwriting a given value) and validated, and the paths of the
  parameters the schema does not declare (``unknown``: rendered, with a warning). Raises
  ``InvalidParameters`` whose ``violations`` are lines like
  ``parameters.repository.revision.branch: 42 is not of type 'string'`` (at most 20; ``total`` counts
  all), or ``InvalidSchema`` when the Workflow's schema itself is broken.
* ``compile_workflow_schema(workflow) -> CompiledSchema | None``: the Draft 2020-12 schema and validators;
  raises ``InvalidSchema`` (``problems``: one line each), for the Workflow's ``Ready`` condition.

Modules: ``shorthand`` (leaf syntax), ``compile`` (tree, types, openAPIV3 touches, default self-checks),
``validators`` (defaulting, RE2 patterns, violation lines), ``parameters`` (cache and entry points).
"""

from choreo_controller.schema.errors import MAX_VIOLATIONS, InvalidParameters, InvalidSchema
from choreo_controller.schema.parameters import (
    CompiledSchema,
    Resolved,
    compile_workflow_schema,
    resolve_parameters,
)

__all__ = [
    "MAX_VIOLATIONS",
    "CompiledSchema",
    "InvalidParameters",
    "InvalidSchema",
    "Resolved",
    "compile_workflow_schema",
    "resolve_parameters",
]
