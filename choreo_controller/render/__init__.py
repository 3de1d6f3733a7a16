"""CEL rendering (SPEC section 4): compile cache, bounded evaluation, functions, the template walk.

Public API (pure functions of their inputs; no IO, no clock except the render budget's monotonic one):

* ``render_run(workflow, run, external_refs, build_plane, *, parameters, budget=None) -> RenderedRun``
  renders a Workflow (or ClusterWorkflow) for a WorkflowRun. ``parameters`` must already be defaulted and
  validated (``schema.resolve_parameters``); ``external_refs`` maps ref id to the fetched object (a
  ``SecretReference``); ``build_plane`` is the resolved BuildPlane/ClusterBuildPlane or ``None``.
  ``RenderedRun.resources`` are ``(id, object)`` in ``spec.resources`` order, skipped ones left out;
  ``RenderedRun.workflow`` is the engine's run object (``runTemplate``); ``objects()`` lists them in apply
  order.
* ``external_ref_requests(workflow, run, parameters) -> list[ExternalRefRequest]``: the refs to fetch
  before rendering, names rendered; ``name is None`` means the ref is skipped.
* ``render_value(template, run, parameters, *, path)``: one value rendered with the run's ``metadata`` and
  ``parameters`` (a Workflow's ``spec.concurrency.group``).
* ``check_workflow(workflow) -> list[InvalidTemplate]``: static problems (syntax, limits, form), for the
  Workflow's ``Ready`` condition; also warms the compile cache.
* Errors: ``RenderError`` (a ``TerminalError``) with ``reason`` (``RenderFailed`` or ``InvalidTemplate``),
  ``path``, ``expression`` and a ``message`` that never contains context values; ``RenderTimedOut`` (not
  terminal) when the wall-clock budget ran out: retry later.

The environment is cel-go's as OpenChoreo configures it (``cel.OptionalTypes``, ``ext.Strings``,
``ext.Encoders``, ``ext.Math``, ``ext.Lists``, ``ext.Sets``, ``ext.TwoVarComprehensions``, ``oc_*``), and the
output is what OpenChoreo's Go code writes (``gofmt``, ``finish``); ``tests/conformance`` holds it to
OpenChoreo's own output on the shared corpus.

Modules: ``scan`` (``${...}`` splitting), ``grammar`` (the parser: celpy's grammar plus optional syntax),
``cel`` (compile cache, fast path, error mapping), ``evaluator`` (optional syntax, macros, metering),
``budget`` (steps and deadlines), ``functions``/``extstrings``/``extlists``/``optionals`` (the function
table), ``celvalues`` (kinds, equality, optionals), ``values`` (CEL -> JSON), ``gofmt`` (Go's text for
doubles and JSON), ``walk`` (template walk), ``finish`` (post-processing, schema-aware arrays from
``shapes.json``), ``secretref`` (SecretReference specs as Go re-serialises them), ``run`` (context,
includeWhen, forced fields, checks), ``check`` (static checks), ``names``.
"""

from choreo_controller.render.budget import Budget
from choreo_controller.render.check import check_workflow
from choreo_controller.render.errors import InvalidTemplate, RenderError, RenderFailed, RenderTimedOut
from choreo_controller.render.run import (
    ExternalRefRequest,
    RenderedRun,
    build_context,
    external_ref_requests,
    render_run,
    render_value,
)

__all__ = [
    "Budget",
    "ExternalRefRequest",
    "InvalidTemplate",
    "RenderError",
    "RenderFailed",
    "RenderTimedOut",
    "RenderedRun",
    "build_context",
    "check_workflow",
    "external_ref_requests",
    "render_run",
    "render_value",
]
