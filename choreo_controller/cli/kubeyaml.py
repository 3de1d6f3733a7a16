"""YAML read the way ``kubectl apply`` reads it, so ``render`` sees what the controller will see.

kubectl turns YAML into JSON with ``sigs.k8s.io/yaml`` (go-yaml v2, YAML 1.1) before the apiserver stores
it; the controller then reads that JSON. PyYAML is YAML 1.1 too, but differs where it matters here
(shared/conformance e03, e42):

* ``y``, ``Y``, ``n``, ``N`` are booleans (besides ``yes``/``no``/``on``/``off``/``true``/``false``),
  also as map keys, where JSON needs text: a key ``n`` arrives as ``"false"``;
* ``1e3`` is a number (PyYAML wants a dot);
* keys that are not strings become their text (``1`` -> ``"1"``, ``true`` -> ``"true"``);
* a float with a whole value arrives as an integer (Go writes ``float64(3)`` as ``3``): ``3.0`` -> ``3``;
* timestamps stay strings (JSON has no timestamp type).
"""

from __future__ import annotations

import re
from typing import Any, Final, TextIO

import yaml

from choreo_controller.render.gofmt import double_text

_BOOL: Final = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_FLOAT: Final = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_TRUE: Final = frozenset({"y", "yes", "true", "on"})
_GO_FIXED_LIMIT: Final = 1e21


class _Loader(yaml.SafeLoader):
    def construct_yaml_bool(self, node: yaml.Node) -> bool:
        return str(self.construct_scalar(node)).lower() in _TRUE  # type: ignore[arg-type]


def _resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    table: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, regex) for tag, regex in resolvers if not tag.endswith((":timestamp", ":bool"))]
        table[first] = kept
    for first in "yYnNtTfFoO":
        table.setdefault(first, []).insert(0, ("tag:yaml.org,2002:bool", _BOOL))
    for first in "-+.0123456789":
        table.setdefault(first, []).append(("tag:yaml.org,2002:float", _FLOAT))
    return table


_Loader.yaml_implicit_resolvers = _resolvers()
_Loader.add_constructor("tag:yaml.org,2002:bool", _Loader.construct_yaml_bool)


def _key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float):
        return double_text(key)
    return "null" if key is None else str(key)


def as_json(value: Any) -> Any:
    """``value`` as it comes back from the apiserver: string keys, whole floats as integers."""
    if isinstance(value, dict):
        return {_key(k) if not isinstance(k, str) else k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _GO_FIXED_LIMIT:
        return int(value)
    return value


def load_all(stream: TextIO) -> list[Any]:
    """Every document of ``stream`` (empty ones dropped), as kubectl would send it."""
    return [as_json(doc) for doc in yaml.load_all(stream, Loader=_Loader) if doc is not None]
