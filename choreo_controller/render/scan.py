"""Splitting template strings into literal text and ``${...}`` expressions (SPEC section 4).

* ``${`` opens an expression; the scanner balances ``{``/``}`` and skips CEL string literals (single,
  double, triple-quoted, raw), so ``${"}" + x}`` and ``${{"a": 1}}`` are one expression each.
* ``$${`` is a literal ``${`` (beyond OC), so a template can emit shell or engine text that contains ``${``.
* A string that, trimmed of surrounding whitespace, is exactly one ``${expr}`` is *whole*: the expression's
  native value replaces the string. Otherwise the string is an interpolation of its parts.

The result depends only on the template text, never on values, so it is cached by text: the same Workflow
is parsed once, and a substituted value is never scanned at all (one pass by position).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from choreo_controller.render.errors import InvalidTemplate

_QUOTES = "'\""


@dataclass(frozen=True, slots=True)
class Expr:
    """One ``${...}``: its CEL source text (between the braces, untrimmed)."""

    text: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """A template string: literal parts (escapes resolved) and expressions, in order."""

    parts: tuple[str | Expr, ...]
    whole: Expr | None = None
    text: str | None = None  # the (unescaped) text when there is no expression at all

    @property
    def is_literal(self) -> bool:
        """No expression at all: the (unescaped) text is the value."""
        return self.text is not None

    def literal(self) -> str:
        """The text of a literal-only string."""
        return self.text if self.text is not None else ""

    def expressions(self) -> tuple[Expr, ...]:
        """Every expression of the string, in order."""
        return tuple(p for p in self.parts if isinstance(p, Expr))


def _skip_string(text: str, at: int) -> int:
    """Index just past the CEL string literal whose opening quote is at ``at``; -1 if unterminated.

    A backslash always escapes the next character, raw strings included: that is how celpy's lexer reads
    them, and the scanner must agree with the parser that runs next.
    """
    quote = text[at]
    delim = quote * 3 if text.startswith(quote * 3, at) else quote
    i = at + len(delim)
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(delim, i):
            return i + len(delim)
        if len(delim) == 1 and text[i] in "\r\n":
            return -1
        i += 1
    return -1


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` that closes the ``${`` whose body starts at ``start``; -1 if none."""
    depth = 1
    i = start
    while i < len(text):
        char = text[i]
        if char in _QUOTES:
            i = _skip_string(text, i)
            if i < 0:
                return -1
            continue
        if text.startswith("//", i):  # a CEL comment runs to the end of the line
            newline = text.find("\n", i)
            if newline < 0:
                return -1
            i = newline
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split(text: str) -> tuple[str | Expr, ...]:
    parts: list[str | Expr] = []
    literal: list[str] = []
    i = 0
    while True:
        dollar = text.find("$", i)
        if dollar < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:dollar])
        if text.startswith("$${", dollar):
            literal.append("${")
            i = dollar + 3
        elif text.startswith("${", dollar):
            end = _closing_brace(text, dollar + 2)
            if end < 0:
                raise InvalidTemplate("unterminated ${ (unbalanced braces or quotes)")
            body = text[dollar + 2 : end]
            if not body.strip():
                raise InvalidTemplate("empty expression ${}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Expr(body))
            i = end + 1
        else:
            literal.append("$")
            i = dollar + 1
    tail = "".join(literal)
    if tail or not parts:
        parts.append(tail)
    return tuple(p for p in parts if p != "") or ("",)


@functools.lru_cache(maxsize=16384)
def parse(text: str) -> Parsed:
    """Parse one template string; raises ``InvalidTemplate`` (without a path) when it is malformed."""
    if "$" not in text:
        return Parsed((text,), text=text)
    parts = _split(text)
    stripped = text.strip()
    trimmed = parts if stripped == text else _split(stripped)
    if len(trimmed) == 1 and isinstance(trimmed[0], Expr):
        return Parsed(trimmed, whole=trimmed[0])
    if all(isinstance(part, str) for part in parts):
        return Parsed(parts, text="".join(str(part) for part in parts))
    return Parsed(parts)
