"""Rendering a WorkflowRun: CEL context, ``includeWhen``, forced fields, output checks (SPEC section 4).

``render_run`` is the pure entry point the WorkflowRun reconciler calls after ``schema.resolve_parameters``
and after fetching the external refs that ``external_ref_requests`` names. Its result holds the extra
resources (``spec.resources`` order, skipped ones left out) and the engine's run object, each with

* ``metadata.namespace`` forced to the build namespace: ``openchoreo-ci-<run namespace>`` for a BuildPlane
  or ClusterBuildPlane (or no plane), ``workflows-<run namespace>`` for a WorkflowPlane or
  ClusterWorkflowPlane (``api.planes``; the plane object's ``kind`` decides);
* the run labels (``api.labels.run_labels``) merged over whatever the template set;
* for the run object: its engine's fixes (``finish.engine_fixes``: the ServiceAccount defaulted to
  ``workflow-sa``, parameter values the engine wants as text turned into text);
* OpenChoreo's post-processing and the schema-aware JSON arrays (``finish``).

An extra resource whose name renders with a leading ``-`` is skipped, as OpenChoreo skips it (its idiom
for a resource that depends on an optional parameter: ``${parameters.secret}-git-secret``).

Checks: ``apiVersion`` and ``kind`` present, ``metadata.name`` a DNS-1123 subdomain, label values valid
(a run name over 63 characters cannot be a label value), at most 1 MiB of JSON.
The whole render shares one ``Budget`` (about one second); see ``budget``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from choreo_controller.api import labels, planes
from choreo_controller.render import names, scan, values, walk
from choreo_controller.render.budget import Budget
from choreo_controller.render.cel import Scope
from choreo_controller.render.errors import InvalidTemplate, RenderFailed
from choreo_controller.render.finish import engine_fixes, finish
from choreo_controller.render.secretref import go_spec

MAX_OBJECT_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class RenderedRun:
    """The build-plane objects of one run: extra resources by id, then the engine's run object."""

    resources: tuple[tuple[str, dict[str, Any]], ...]
    workflow: dict[str, Any]

    def objects(self) -> list[dict[str, Any]]:
        """Every object in apply order: extra resources first, the run object last."""
        return [obj for _, obj in self.resources] + [self.workflow]


@dataclass(frozen=True, slots=True)
class ExternalRefRequest:
    """An external ref to fetch for a run; ``name`` is ``None`` when it rendered empty (ref skipped)."""

    id: str
    api_version: str
    kind: str
    name: str | None


@dataclass(slots=True)
class _Run:
    name: str
    namespace: str
    uid: str
    build_namespace: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _run_identity(run: dict[str, Any], plane: dict[str, Any] | None) -> _Run:
    meta = run.get("metadata") or {}
    namespace = str(meta.get("namespace") or "default")
    return _Run(
        name=str(meta.get("name") or ""),
        namespace=namespace,
        uid=str(meta.get("uid") or ""),
        build_namespace=planes.build_namespace(str((plane or {}).get("kind") or ""), namespace),
        metadata=meta,
    )


def build_context(
    run: dict[str, Any],
    parameters: dict[str, Any],
    external_refs: dict[str, dict[str, Any]],
    build_plane: dict[str, Any] | None,
) -> dict[str, Any]:
    """The CEL variables of a run (SPEC section 4), as plain JSON; ``secretStore`` is ``""`` when unset."""
    ident = _run_identity(run, build_plane)
    plane: dict[str, Any] = {"secretStore": planes.secret_store(build_plane)}
    refs = {
        ref_id: {
            "metadata": {k: v for k, v in (obj.get("metadata") or {}).items() if k in {"name", "namespace"}},
            "spec": go_spec(obj.get("spec") or {}),
        }
        for ref_id, obj in external_refs.items()
    }
    return {
        "metadata": {
            "workflowRunName": ident.name,
            "namespaceName": ident.namespace,
            "namespace": ident.build_namespace,
            "labels": dict(ident.metadata.get("labels") or {}),
            "annotations": dict(ident.metadata.get("annotations") or {}),
        },
        "parameters": parameters,
        "externalRefs": refs,
        "buildplane": plane,
        "workflowplane": plane,
    }


def _include(resource: dict[str, Any], scope: Scope, path: str) -> bool:
    condition = resource.get("includeWhen")
    if condition is None or isinstance(condition, bool):
        return condition is not False
    try:
        whole = scan.parse(condition).whole if isinstance(condition, str) else None
    except InvalidTemplate as error:
        raise error.at(path) from None
    if whole is None:
        raise InvalidTemplate("includeWhen must be exactly one ${...} expression", path=path)
    value = walk.evaluate(whole, scope, path)
    if not isinstance(value, bool):
        kind = "oc_omit()" if value is values.OMIT else type(value).__name__
        raise RenderFailed(
            f"includeWhen must evaluate to a boolean, got {kind}", path=path, expression=whole.text
        )
    return value


def _finalize(obj: Any, run: _Run, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RenderFailed("a template must render to an object", path=path)
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise RenderFailed(f"rendered object has no {key}", path=path)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise RenderFailed("rendered object has no metadata", path=path)
    name = meta.get("name")
    if not isinstance(name, str) or not names.is_dns_subdomain(name):
        raise RenderFailed(
            "metadata.name must be a DNS-1123 subdomain (lower-case alphanumerics, '-', '.', "
            "at most 253 characters)",
            path=f"{path}.metadata.name",
        )
    meta["namespace"] = run.build_namespace
    existing = meta.get("labels") or {}
    if not isinstance(existing, dict):
        raise RenderFailed("metadata.labels must be a map", path=path)
    meta["labels"] = {**existing, **labels.run_labels(run.name, run.namespace, run.uid)}
    for key, value in meta["labels"].items():
        if not isinstance(value, str) or not names.is_label_value(value):
            where = walk.child_path(f"{path}.metadata.labels", str(key))
            raise RenderFailed("not a valid label value (at most 63 of [A-Za-z0-9._-])", path=where)
    size = len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > MAX_OBJECT_BYTES:
        raise RenderFailed(f"rendered object is {size} bytes, more than {MAX_OBJECT_BYTES}", path=path)
    return obj


def _skipped(obj: Any) -> bool:
    """OpenChoreo's conditional-resource idiom: a name rendered with an empty prefix (``-git-secret``)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    return isinstance(name, str) and name.startswith("-")


def render_run(
    workflow: dict[str, Any],
    run: dict[str, Any],
    external_refs: dict[str, dict[str, Any]],
    build_plane: dict[str, Any] | None,
    *,
    parameters: dict[str, Any],
    budget: Budget | None = None,
) -> RenderedRun:
    """Render ``workflow`` for ``run``; raises ``RenderFailed`` or ``InvalidTemplate`` with a path."""
    spec = workflow.get("spec") or {}
    template = spec.get("runTemplate")
    if not isinstance(template, dict):
        raise InvalidTemplate("spec.runTemplate is required and must be an object", path="runTemplate")
    ident = _run_identity(run, build_plane)
    scope = Scope(build_context(run, parameters, external_refs, build_plane), budget or Budget())
    rendered: list[tuple[str, dict[str, Any]]] = []
    for index, resource in enumerate(spec.get("resources") or []):
        path = f"resources[{index}]"
        if not isinstance(resource, dict) or not isinstance(resource.get("template"), dict):
            raise InvalidTemplate("a resource needs an id and a template object", path=path)
        if not _include(resource, scope, f"{path}.includeWhen"):
            continue
        obj = walk.render(resource["template"], scope, f"{path}.template")
        if _skipped(obj):
            continue
        if isinstance(obj, dict):
            obj = finish(obj)
        rendered.append((str(resource.get("id", "")), _finalize(obj, ident, f"{path}.template")))
    obj = walk.render(template, scope, "runTemplate")
    if isinstance(obj, dict):
        engine_fixes(obj)
        obj = finish(obj)
    return RenderedRun(tuple(rendered), _finalize(obj, ident, "runTemplate"))


def render_value(
    template: Any, run: dict[str, Any], parameters: dict[str, Any], *, path: str, budget: Budget | None = None
) -> Any:
    """``template`` rendered with a run's ``metadata`` and ``parameters`` only (no refs, no plane)."""
    return walk.render(template, Scope(build_context(run, parameters, {}, None), budget or Budget()), path)


def external_ref_requests(
    workflow: dict[str, Any],
    run: dict[str, Any],
    parameters: dict[str, Any],
    budget: Budget | None = None,
    build_plane: dict[str, Any] | None = None,
) -> list[ExternalRefRequest]:
    """The refs a run needs, names rendered (context: ``metadata``, ``parameters`` and the plane)."""
    scope = Scope(build_context(run, parameters, {}, build_plane), budget or Budget())
    requests = []
    for index, ref in enumerate((workflow.get("spec") or {}).get("externalRefs") or []):
        path = f"externalRefs[{index}].name"
        name = walk.render(ref.get("name", ""), scope, path)
        if name is not values.OMIT and not isinstance(name, str):
            raise RenderFailed("an external ref name must render to a string", path=path)
        requests.append(
            ExternalRefRequest(
                id=str(ref.get("id", "")),
                api_version=str(ref.get("apiVersion", "")),
                kind=str(ref.get("kind", "")),
                name=(name or None) if isinstance(name, str) else None,
            )
        )
    return requests
