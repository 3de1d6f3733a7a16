"""CEL expressions: compile once per text, evaluate bounded, answer plain JSON, fail without leaking.

* ``compile_expression(text)`` is cached by the expression text (one celpy parse per distinct expression
  per process). It enforces the static limits (``MAX_EXPRESSION_BYTES``, ``MAX_AST_DEPTH``) and raises
  ``InvalidTemplate`` for syntax errors. Parsing is ``grammar``'s (celpy's grammar plus cel-go's optional
  syntax); evaluation is celpy's interpreter extended by ``evaluator`` (the compiled runner is not
  thread-safe and breaks custom functions).
* Fast path: most template expressions are field paths, comparisons, ternaries and string concatenation.
  ``fast`` compiles those into closures over the JSON context; whenever a closure cannot be sure of the
  result (a missing key, a type mix, an error value) the metered celpy interpreter evaluates the expression
  instead, so results and errors (``no such key 'url'``) are the interpreter's by construction.
* Results are normalised by ``values.to_json`` (``true``/``false``, plain ints, strings, lists, maps).
* Errors: ``RenderFailed``/``InvalidTemplate`` with a message from a fixed vocabulary plus names that occur
  in the expression text (``no such key 'url'``). celpy's own messages embed the whole activation, secrets
  included; they are never copied, chained for display, or logged (the ``celpy`` logger is silenced here).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Final

import celpy
import lark
from celpy.celparser import CELParseError
from celpy.evaluation import Activation, CELEvalError

from choreo_controller.render import grammar, values
from choreo_controller.render.budget import Budget, BudgetExceeded, OutOfTime
from choreo_controller.render.celvalues import ERROR_PREFIX
from choreo_controller.render.errors import InvalidTemplate, RenderError, RenderFailed, RenderTimedOut
from choreo_controller.render.evaluator import MeteredEvaluator
from choreo_controller.render.fast import Fallback, Fn, compile_fast, fold_literal
from choreo_controller.render.functions import FUNCTIONS

MAX_EXPRESSION_BYTES: Final = 4096
MAX_AST_DEPTH: Final = 500  # parse-tree levels; list literals take 3 per nesting

_celpy_logger = logging.getLogger("celpy")
_celpy_logger.setLevel(logging.CRITICAL + 1)  # its records carry argument values and whole activations
_celpy_logger.propagate = False

_TYPE_RE: Final = re.compile(r"celpy\.celtypes\.(\w+?)Type\b")
_QUOTED_NAME_RE: Final = re.compile(r"'([^']{1,100})'")


class Scope:
    """The variables of one render: JSON for the fast path, celpy values built on first need, per name."""

    __slots__ = ("_cel", "budget", "variables")

    def __init__(self, variables: dict[str, Any], budget: Budget) -> None:
        self.variables = variables
        self.budget = budget
        self._cel: dict[str, Any] = {}

    def cel(self, names: frozenset[str]) -> dict[str, Any]:
        """The activation for celpy: the variables among ``names``, converted once per render."""
        for name in names - self._cel.keys():
            if name in self.variables:
                self._cel[name] = values.to_cel(self.variables[name])
        return self._cel


@functools.cache
def _base_activation() -> Activation:
    # celpy's well-known type annotations (what celpy.Environment adds; building one would also build
    # celpy's own parser, which ``grammar`` replaces) and our functions.
    return Activation(annotations=dict(celpy.googleapis), package=None, functions=FUNCTIONS)


def _depth(tree: lark.Tree[Any]) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.children if isinstance(child, lark.Tree))
    return deepest


@dataclass(frozen=True, slots=True)
class Program:
    """One compiled expression: the celpy AST, its fast closure (if in the fast subset), the names it uses."""

    text: str
    ast: lark.Tree[Any]
    fast: Fn | None
    names: frozenset[str]

    def evaluate(self, scope: Scope) -> Any:
        """The JSON value (or ``values.OMIT``); raises ``RenderFailed`` without a template path."""
        try:
            if self.fast is not None:
                meter = scope.budget.meter()
                try:
                    return values.to_json(self.fast(scope.variables, meter))
                except Fallback:
                    pass  # the interpreter decides: the value, or the canonical error
                finally:
                    meter.close()
            return values.to_json(self._interpret(scope))
        except CELEvalError as error:
            detail = _describe(error, self.text)
        except OutOfTime as out:
            raise RenderTimedOut(out.detail) from None
        except BudgetExceeded as exceeded:
            detail = exceeded.detail
        except RecursionError:
            detail = "expression or value nested too deeply"
        except RenderError as error:
            detail = error.detail
        except Exception as error:  # noqa: BLE001 - any library failure must become a safe, typed error
            detail = f"evaluation error ({type(error).__name__})"
        raise RenderFailed(detail, expression=self.text)

    def _interpret(self, scope: Scope) -> Any:
        activation = scope.cel(self.names)  # converted before the meter starts: the render's cost
        meter = scope.budget.meter()
        try:
            return MeteredEvaluator(self.ast, _base_activation(), meter).evaluate(activation)
        finally:
            meter.close()


@functools.lru_cache(maxsize=8192)
def compile_expression(text: str) -> Program:
    """The compiled expression; ``InvalidTemplate`` (without a path) when it is not valid CEL."""
    if len(text.encode("utf-8")) > MAX_EXPRESSION_BYTES:
        raise InvalidTemplate(f"expression longer than {MAX_EXPRESSION_BYTES} bytes")
    try:
        ast = grammar.parse(text)
    except CELParseError as error:
        line, column = getattr(error, "line", None), getattr(error, "column", None)
        where = f" at line {line}, column {column}" if line is not None and column is not None else ""
        raise InvalidTemplate(f"CEL syntax error{where}", expression=text) from None
    except RecursionError:
        raise InvalidTemplate("expression nested too deeply", expression=text) from None
    depth = _depth(ast)
    if depth > MAX_AST_DEPTH:
        raise InvalidTemplate(f"expression nested too deeply ({depth} > {MAX_AST_DEPTH})", expression=text)
    names = frozenset(str(node.children[0]) for node in ast.find_data("ident"))
    return Program(text, ast, compile_fast(ast, fold_literal(_base_activation())), names)


def _named(prefix: str, name: str, text: str) -> str:
    # A name is shown only if it is written in the expression: then it cannot be a context value.
    return f"{prefix} '{name}'" if name and name in text else prefix


def _describe(error: CELEvalError, text: str) -> str:  # noqa: PLR0911 - one line per celpy error family
    """A safe message for a celpy error: its family, and names that the expression itself contains."""
    message = error.args[0] if error.args and isinstance(error.args[0], str) else ""
    if message.startswith(ERROR_PREFIX):
        return message[len(ERROR_PREFIX) :]
    quoted = _QUOTED_NAME_RE.search(message)
    name = quoted.group(1) if quoted else ""
    if message.startswith("no such member"):
        return _named("no such key", name, text)
    if message.startswith("no such key"):
        key = error.args[2][0] if len(error.args) > 2 and error.args[2] else None
        # An index may be computed from context values; name it only when it is a literal in the text.
        literal = isinstance(key, str) and (f"'{key}'" in text or f'"{key}"' in text)
        return f"no such key '{key}'" if literal else "no such key"
    if message.startswith("undeclared reference"):
        return _named("undeclared reference to", name, text)
    if "overload" in message:
        types = ", ".join(t.lower() for t in _TYPE_RE.findall(message))
        return f"no matching overload for ({types})" if types else "no matching overload"
    if "divide by zero" in message or "modulus" in message:
        return "division by zero"
    if "overflow" in message:
        return "integer overflow"
    if "field selection" in message:
        return "field selection on a value that is not a map"
    if "IndexError" in repr(error.args[1:2]) or message == "invalid_argument":
        return "index out of range"
    return "evaluation error"
