"""Schema errors: a broken Workflow schema (``InvalidSchema``) and run parameters that violate it.

Both are ``TerminalError``s. ``problems``/``violations`` hold one line each (``parameters.repository.url:
'url' is a required property``) so the CLI can print one line per problem and a condition message can join
them. Violations are capped at ``MAX_VIOLATIONS``; ``total`` says how many there were. Messages hold
parameter paths, schema text and (clipped) offending parameter values, which are the run's own spec and
never secrets; external-ref data never reaches this package.
"""

from __future__ import annotations

from typing import Final

from choreo_controller.api.conditions import R_INVALID_PARAMETERS, R_INVALID_SCHEMA
from choreo_controller.contracts import TerminalError

MAX_VIOLATIONS: Final = 20


class InvalidSchema(TerminalError):
    """The Workflow's parameter schema cannot be compiled (bad type, marker, default, ``$ref``...)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(R_INVALID_SCHEMA, "; ".join(self.problems))


class InvalidParameters(TerminalError):
    """A run's parameters violate the Workflow's schema; every violation is listed, up to 20."""

    def __init__(self, violations: list[str]) -> None:
        self.total = len(violations)
        self.violations = tuple(violations[:MAX_VIOLATIONS])
        more = self.total - len(self.violations)
        message = "; ".join(self.violations) + (f"; and {more} more" if more else "")
        super().__init__(R_INVALID_PARAMETERS, message)
