"""OpenChoreo's post-processing of a rendered object, plus the schema-aware JSON-array rule (beyond).

Applied to every rendered object (the engine's run object and each extra resource) after the template walk:

* a map under a key named ``value`` becomes its JSON text, anywhere in the object (OpenChoreo's
  ``convertComplexValuesToJSONStrings``; ``gofmt.json_text``, so keys sorted and ``<>&`` escaped as Go
  does). Lists there stay lists, as OpenChoreo's net result is;
* **(beyond)** a string that starts with ``[`` and parses as a JSON array becomes that list exactly where
  the object's schema has an array (a container's ``command``/``args``, ``env``...), and stays a string
  where the field is a string (annotations, ConfigMap data, parameter values, list items). OpenChoreo
  converts such strings everywhere, which corrupts string fields. The schemas are ``shapes.json``,
  generated from the definitions of the kinds a Workflow may render by ``hack/gen-render-shapes.py``;
  a kind it does not know gets no conversion;
* a double with a whole value is written as an integer, as Go's ``encoding/json`` writes ``float64(3)``:
  ``3``, never ``3.0``, which the apiserver refuses for integer fields.

``engine_fixes`` applies what the run object's engine asks for (``engines.Fixes``), before the above: its
ServiceAccount field defaulted to ``workflow-sa``, and the values of its text parameter list turned into
text (``values.to_text``, so ``1e+06`` for a double as OpenChoreo writes it).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Final

from choreo_controller.api import labels
from choreo_controller.engines import engine_for
from choreo_controller.render import values
from choreo_controller.render.gofmt import json_text

_SCALAR: Final = -1
_NO_SHAPE: Final[dict[str, Any]] = {}
_FIXABLE: Final = (dict, list, str, float)
_GO_FIXED_LIMIT: Final = 1e21  # encoding/json writes whole doubles below this without an exponent


@functools.cache
def _shapes() -> dict[str, Any]:
    text = resources.files("choreo_controller.render").joinpath("shapes.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _root(obj: dict[str, Any]) -> int:
    kinds: dict[str, int] = _shapes()["kinds"]
    return kinds.get(f"{obj.get('apiVersion')} {obj.get('kind')}", _SCALAR)


def _array(text: str) -> list[Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


class _Finisher:
    """Fixes a freshly rendered object in place (nothing else holds it), returning replaced scalars."""

    __slots__ = ("types",)

    def __init__(self) -> None:
        self.types: list[dict[str, Any]] = _shapes()["types"]

    def node(self, shape: int) -> dict[str, Any]:
        return self.types[shape] if shape != _SCALAR else _NO_SHAPE

    def value(self, value: Any, shape: int) -> Any:  # noqa: C901 - one branch per JSON type
        if isinstance(value, dict):
            node = self.node(shape)
            fields, values_shape = node.get("f", _NO_SHAPE), node.get("v", _SCALAR)
            for key, item in value.items():
                if key == "value" and isinstance(item, dict):
                    value[key] = json_text(item)
                elif (
                    isinstance(item, _FIXABLE)
                    and (fixed := self.value(item, fields.get(key, values_shape))) is not item
                ):
                    value[key] = fixed
        elif isinstance(value, list):
            items = self.node(shape).get("i", _SCALAR)
            for index, item in enumerate(value):
                if isinstance(item, _FIXABLE) and (fixed := self.value(item, items)) is not item:
                    value[index] = fixed
        elif isinstance(value, str):
            if value.startswith("[") and "i" in self.node(shape):
                parsed = _array(value)
                return value if parsed is None else parsed
        elif isinstance(value, float) and value.is_integer() and abs(value) < _GO_FIXED_LIMIT:
            return int(value)
        return value


def finish(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (a freshly rendered object, changed in place) as OpenChoreo would send it."""
    finished: dict[str, Any] = _Finisher().value(obj, _root(obj))
    return finished


def engine_fixes(obj: dict[str, Any]) -> None:
    """The fixes of the engine whose run object ``obj`` is, in place; other kinds are left alone."""
    found = engine_for(obj.get("apiVersion"), obj.get("kind"))
    if found is None:
        return  # not an engine's run object: the plan refuses it, naming the kind
    engine = found.engine
    *parents, field = engine.fixes.service_account
    holder = _descend(obj, parents, create=True)
    if holder is not None and not holder.get(field):
        holder[field] = labels.WORKFLOW_SERVICE_ACCOUNT
    if engine.fixes.text_parameters:
        *parents, field = engine.fixes.text_parameters
        holder = _descend(obj, parents, create=False)
        params = holder.get(field) if holder is not None else None
        for param in params if isinstance(params, list) else ():
            if isinstance(param, dict) and "value" in param and not isinstance(param["value"], str):
                param["value"] = values.to_text(param["value"])


def _descend(obj: dict[str, Any], path: list[str], *, create: bool) -> dict[str, Any] | None:
    """The map at ``path`` below ``obj`` (``create``: missing maps below the top one made); else ``None``."""
    node: Any = obj
    for depth, key in enumerate(path):
        child = node.get(key)
        if child is None and create and depth > 0:
            child = node[key] = {}
        if not isinstance(child, dict):
            return None
        node = child
    return node if isinstance(node, dict) else None
