"""The template walk: every string of a template (map keys included) rendered in one pass (SPEC section 4).

* A string that is exactly one ``${expr}`` (surrounding whitespace trimmed) takes the expression's native
  JSON value; ``oc_omit()`` as that value drops the containing key or list item.
* Any other string with ``${...}`` is interpolated: each expression's text (``values.to_text``) is put in
  its place, left to right, and the result is never scanned again, so a value containing ``${...}``,
  ``{{...}}`` or ``$(...)`` comes out literally.
* Map keys are rendered the same way; a key must come out a string (or a scalar, written as text) and two
  keys may not render to the same string.
* Non-string scalars are copied; the input template is never modified.

Paths are written the way a user finds the field: ``runTemplate.spec.arguments.parameters[3].value``,
``resources[0].template.metadata.labels['app.kubernetes.io/name']``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from choreo_controller.render import scan, values
from choreo_controller.render.cel import Scope, compile_expression
from choreo_controller.render.errors import InvalidTemplate, RenderError, RenderFailed

MAX_TEMPLATE_DEPTH: Final = 200
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def child_path(path: str, key: str | int) -> str:
    """The path of a map entry or list item below ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def evaluate(expr: scan.Expr, scope: Scope, path: str) -> Any:
    """One expression's JSON value (or ``values.OMIT``), errors located at ``path``."""
    try:
        return compile_expression(expr.text).evaluate(scope)
    except RenderError as error:
        raise error.at(path) from None


def render_string(text: str, scope: Scope, path: str) -> Any:
    """A rendered string: the native value of a whole expression, or the interpolated text."""
    try:
        parsed = scan.parse(text)
    except InvalidTemplate as error:
        raise InvalidTemplate(error.detail, path=path, expression=error.expression) from None
    if parsed.whole is not None:
        return evaluate(parsed.whole, scope, path)
    if parsed.is_literal:
        return parsed.literal()
    pieces: list[str] = []
    for part in parsed.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        value = evaluate(part, scope, path)
        try:
            pieces.append(values.to_text(value))
        except RenderError as error:
            raise RenderFailed(error.detail, path=path, expression=part.text) from None
    return "".join(pieces)


def _render_key(key: Any, scope: Scope, path: str) -> Any:
    if not isinstance(key, str):
        return key if isinstance(key, bool | int | float) else str(key)
    rendered = render_string(key, scope, path)
    if rendered is values.OMIT or isinstance(rendered, str):
        return rendered
    if isinstance(rendered, list | dict):
        raise RenderFailed("a map key must render to a string, not a list or map", path=path)
    return values.to_text(rendered)


def render(node: Any, scope: Scope, path: str, depth: int = 0) -> Any:
    """A deep copy of ``node`` with every template string rendered; may return ``values.OMIT``."""
    if depth > MAX_TEMPLATE_DEPTH:
        raise InvalidTemplate(f"template nested deeper than {MAX_TEMPLATE_DEPTH} levels", path=path)
    if isinstance(node, str):
        return render_string(node, scope, path)
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            here = child_path(path, key if isinstance(key, str) else str(key))
            name = _render_key(key, scope, here)
            if name is values.OMIT:
                continue
            rendered = render(value, scope, here, depth + 1)
            if rendered is values.OMIT:
                continue
            if name in out:
                raise RenderFailed("two keys render to the same string", path=here)
            out[name] = rendered
        return out
    if isinstance(node, list):
        items = (render(item, scope, child_path(path, i), depth + 1) for i, item in enumerate(node))
        return [item for item in items if item is not values.OMIT]
    return node
