"""Render errors: a reason, the template path, the expression, and a message that never holds context values.

Every error raised by ``render`` is a ``RenderError`` (a ``TerminalError``: retrying the same inputs cannot
help) - except ``RenderTimedOut``: the render ran out of wall-clock time, which depends on the machine's
load rather than on the inputs, so the caller retries it later. A ``RenderError``'s ``reason`` is a
condition reason (``InvalidTemplate`` for problems in the Workflow itself, found statically or at render
time; ``RenderFailed`` for problems that depend on the run's values), ``path`` is where in the Workflow
spec the template lives (``runTemplate.spec.arguments.parameters[3].value``) and ``expression`` is the CEL
source text.

Invariant: ``detail`` is built only from a fixed vocabulary plus substrings of the expression text. CEL
libraries put the whole activation (externalRef secrets included) into their messages; those messages are
never copied here, and neither is any evaluated value.
"""

from __future__ import annotations

from typing import ClassVar

from choreo_controller.api.conditions import R_INVALID_TEMPLATE, R_RENDER_FAILED
from choreo_controller.contracts import TerminalError

MAX_EXPRESSION_IN_MESSAGE = 240


def _clip(text: str) -> str:
    if len(text) <= MAX_EXPRESSION_IN_MESSAGE:
        return text
    return text[: MAX_EXPRESSION_IN_MESSAGE - 3] + "..."


class RenderError(TerminalError):
    """A Workflow could not be rendered; ``reason`` says whose fault, ``path``/``expression`` say where."""

    REASON: ClassVar[str] = R_RENDER_FAILED

    def __init__(self, detail: str, *, path: str = "", expression: str | None = None) -> None:
        self.path = path
        self.expression = expression
        self.detail = detail
        where = [path] if path else []
        if expression is not None:
            where.append("${" + _clip(expression) + "}")
        super().__init__(self.REASON, ": ".join([*where, detail]))

    def at(self, path: str) -> RenderError:
        """The same error, located at ``path`` (for raisers that do not know where they are)."""
        return type(self)(self.detail, path=path, expression=self.expression)


class RenderTimedOut(Exception):
    """The render ran out of wall-clock time (not of steps): retry later; never a verdict on the template."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidTemplate(RenderError):
    """The Workflow's templates are malformed: CEL syntax, unbalanced ``${``, limits, ``includeWhen`` form."""

    REASON = R_INVALID_TEMPLATE


class RenderFailed(RenderError):
    """Evaluating a template for this run failed: missing key, type error, budget, invalid output object."""

    REASON = R_RENDER_FAILED
