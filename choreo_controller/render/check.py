"""Static checks of a Workflow's templates, for the Workflow controller's ``Ready`` condition.

``check_workflow`` finds, without any run, every problem that would make every run fail: a ``${`` that is
never closed, CEL syntax errors, expressions over 4 KiB or nested too deeply, an ``includeWhen`` that is not
exactly one expression, a missing ``runTemplate``, resource or external-ref ids missing or repeated, a
literal ``apiVersion``/``kind`` the engine may not create (``api.buildkinds``; one written with ``${...}``
is checked when a run renders it). Each problem is an ``InvalidTemplate`` naming its path and expression,
so the condition message can say
``runTemplate.spec.templates[0].name: ${parameters.x +}: CEL syntax error at line 1, column 14``.
Compiling here also warms the compile cache for the runs that follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from choreo_controller.api import buildkinds
from choreo_controller.render import scan
from choreo_controller.render.cel import compile_expression
from choreo_controller.render.errors import InvalidTemplate
from choreo_controller.render.walk import MAX_TEMPLATE_DEPTH, child_path

if TYPE_CHECKING:
    from collections.abc import Iterator


def _strings(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    if depth > MAX_TEMPLATE_DEPTH:
        raise InvalidTemplate(f"template nested deeper than {MAX_TEMPLATE_DEPTH} levels", path=path)
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            here = child_path(path, str(key))
            if isinstance(key, str):
                yield here, key
            yield from _strings(value, here, depth + 1)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _strings(item, child_path(path, index), depth + 1)


def _check_string(path: str, text: str) -> list[InvalidTemplate]:
    try:
        parsed = scan.parse(text)
    except InvalidTemplate as error:
        return [InvalidTemplate(error.detail, path=path)]
    problems = []
    for expr in parsed.expressions():
        try:
            compile_expression(expr.text)
        except InvalidTemplate as error:
            problems.append(InvalidTemplate(error.detail, path=path, expression=expr.text))
    return problems


def _check_tree(node: Any, path: str) -> list[InvalidTemplate]:
    try:
        return [problem for where, text in _strings(node, path) for problem in _check_string(where, text)]
    except InvalidTemplate as error:
        return [error]


def _check_ids(items: list[Any], section: str) -> list[InvalidTemplate]:
    problems, seen = [], set()
    for index, item in enumerate(items):
        ident = item.get("id") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident:
            problems.append(InvalidTemplate("id is required", path=f"{section}[{index}].id"))
        elif ident in seen:
            problems.append(InvalidTemplate(f"duplicate id {ident!r}", path=f"{section}[{index}].id"))
        seen.add(ident)
    return problems


def _check_kind(template: dict[str, Any], path: str, use: Literal["extra", "run"]) -> list[InvalidTemplate]:
    api_version, kind = template.get("apiVersion"), template.get("kind")
    if not (isinstance(api_version, str) and isinstance(kind, str)) or "${" in api_version + kind:
        return []
    why = buildkinds.refusal(api_version, kind, use=use)
    return [] if why is None else [InvalidTemplate(why, path=f"{path}.kind")]


def check_workflow(workflow: dict[str, Any]) -> list[InvalidTemplate]:
    """Every template problem of ``workflow`` (a Workflow or ClusterWorkflow); empty when it is valid."""
    spec = workflow.get("spec") or {}
    problems: list[InvalidTemplate] = []
    template = spec.get("runTemplate")
    if isinstance(template, dict):
        problems += _check_tree(template, "runTemplate") + _check_kind(template, "runTemplate", "run")
    else:
        problems.append(
            InvalidTemplate("spec.runTemplate is required and must be an object", path="runTemplate")
        )
    resources = spec.get("resources") or []
    problems += _check_ids(resources, "resources")
    for index, resource in enumerate(resources):
        path = f"resources[{index}]"
        if not isinstance(resource, dict) or not isinstance(resource.get("template"), dict):
            problems.append(InvalidTemplate("a resource needs a template object", path=f"{path}.template"))
            continue
        problems += _check_tree(resource["template"], f"{path}.template")
        problems += _check_kind(resource["template"], f"{path}.template", "extra")
        condition = resource.get("includeWhen")
        if condition is None or isinstance(condition, bool):
            continue
        problems += _check_string(f"{path}.includeWhen", str(condition))
        if not isinstance(condition, str) or scan_whole(condition) is None:
            problems.append(
                InvalidTemplate(
                    "includeWhen must be exactly one ${...} expression", path=f"{path}.includeWhen"
                )
            )
    refs = spec.get("externalRefs") or []
    problems += _check_ids(refs, "externalRefs")
    for index, ref in enumerate(refs):
        if isinstance(ref, dict):
            problems += _check_tree(ref.get("name", ""), f"externalRefs[{index}].name")
    return problems


def scan_whole(text: str) -> scan.Expr | None:
    """The single expression ``text`` consists of, if it is one (``None`` when malformed)."""
    try:
        return scan.parse(text).whole
    except InvalidTemplate:
        return None
