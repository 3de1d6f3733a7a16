"""Plan a submission: validate parameters, fetch external refs, render (SPEC section 5 step 5).

``plan_run`` is the pure core (``schema``, ``render``) plus cache reads: the result is the exact list of
build-plane objects to create, each paired with its ``ApiResource``, extra resources first and the run
object last, with the engine its kind chose (``engines.engine_for``). Every failure is a ``TerminalError``
with its specific reason - ``InvalidParameters``, ``InvalidSchema``, ``InvalidTemplate`` (also: a rendered
kind outside ``api.buildkinds``, the one table of what the engine may create), ``RenderFailed``,
``ExternalRefNotFound`` - whose message names paths and expressions, never values from external refs.

Rendering is CPU-bound and runs on the event loop; the renderer's own budget bounds it. The step budget is
the terminal limit (the same inputs always take the same steps); running out of wall-clock time depends on
the machine's load, so it is a ``Wait`` (``WorkflowPending`` saying so, retried with backoff), never a
failure - the outcome of a run never depends on load. The budget reads the injected clock. The render's
duration goes to ``choreo_render_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from choreo_controller.api import buildkinds
from choreo_controller.api import conditions as c
from choreo_controller.engines import engine_for
from choreo_controller.reconcilers.workflowrun.resolve import Wait, fetch_external_refs
from choreo_controller.render import (
    Budget,
    InvalidTemplate,
    RenderTimedOut,
    external_ref_requests,
    render_run,
)
from choreo_controller.schema import resolve_parameters

if TYPE_CHECKING:
    from choreo_controller.contracts import ApiResource, Clock, JsonObj
    from choreo_controller.engines import Engine, RunKind
    from choreo_controller.metrics import Metrics
    from choreo_controller.reconcilers.ports import Caches
    from choreo_controller.reconcilers.workflowrun.resolve import PlaneRef


@dataclass(frozen=True, slots=True)
class Planned:
    """One object to create in the build plane."""

    resource: ApiResource
    obj: JsonObj

    def ref(self) -> dict[str, str]:
        """``{apiVersion, kind, name, namespace}`` as recorded in the run's status."""
        meta = self.obj.get("metadata") or {}
        return {
            "apiVersion": str(self.obj.get("apiVersion")),
            "kind": str(self.obj.get("kind")),
            "name": str(meta.get("name")),
            "namespace": str(meta.get("namespace") or ""),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """The objects of one run: ``resources`` (extra objects, in order), then ``engine``'s ``run_object``."""

    resources: tuple[Planned, ...]
    run_object: Planned
    engine: Engine
    warning: str | None = None  # unknown parameters: rendered, reported as an ``UnknownParameters`` Event


def plan_run(
    caches: Caches,
    run: JsonObj,
    workflow: JsonObj,
    plane: PlaneRef,
    *,
    clock: Clock,
    metrics: Metrics | None = None,
) -> Plan:
    """Validate, resolve refs and render ``run``; raises a ``TerminalError`` with a specific reason.

    Out of wall-clock time (``RenderTimedOut``) is not terminal: ``Wait``, looked at again with backoff.
    """
    spec_params: Any = ((run.get("spec") or {}).get("workflow") or {}).get("parameters")
    resolved = resolve_parameters(workflow, spec_params)
    parameters = resolved.values
    started = clock.monotonic()
    try:
        budget = Budget(clock=clock.monotonic)
        requests = external_ref_requests(workflow, run, parameters, budget, build_plane=plane.obj)
        refs = fetch_external_refs(caches, run, requests)
        rendered = render_run(workflow, run, refs, plane.obj, parameters=parameters, budget=budget)
    except RenderTimedOut as out:
        message = f"rendering stopped: {out.detail} (the controller is busy); retrying with backoff"
        raise Wait(c.R_PENDING, message) from None
    finally:
        if metrics is not None:
            metrics.render_seconds.observe(clock.monotonic() - started)
    resources = tuple(
        Planned(_extra_kind(obj, f"resources[{index}].template.kind"), obj)
        for index, (_, obj) in enumerate(rendered.resources)
    )
    obj = rendered.workflow
    found = _engine_of(obj)
    return Plan(resources, Planned(found.resource, obj), found.engine, resolved.warning())


def _extra_kind(obj: JsonObj, path: str) -> ApiResource:
    """The table's resource for a rendered extra object; else ``InvalidTemplate`` naming the kind."""
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    resource = buildkinds.extra_kind(api_version, kind)
    if resource is None:
        raise InvalidTemplate(buildkinds.refusal(api_version, kind, use="extra") or "", path=path)
    return resource


def _engine_of(obj: JsonObj) -> RunKind:
    """The engine of the rendered run object; ``InvalidTemplate`` naming the kind if no engine runs it."""
    api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
    found = engine_for(api_version, kind)
    if found is None:
        why = buildkinds.refusal(api_version, kind, use="run") or f"no engine runs {api_version} {kind}"
        raise InvalidTemplate(why, path="runTemplate.kind")
    return found
