"""Workflow engines: what runs a rendered ``runTemplate`` in a build plane, behind one port (``port.Engine``).

The run object's ``apiVersion``/``kind`` choose the engine - of a freshly rendered object, or of the
``runReference`` a run recorded. An engine's kinds are its rows of ``api.buildkinds`` (and their
descriptors in ``api.resources``); besides those, no module outside this package names an engine. Pure: no
IO, no logging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

from choreo_controller.api import buildkinds
from choreo_controller.engines.argo import ARGO
from choreo_controller.engines.port import Engine, Fixes, Observation, Phase, StepOutputs, StepPod, clip
from choreo_controller.engines.tekton import TEKTON

if TYPE_CHECKING:
    from typing import Any

    from choreo_controller.contracts import ApiResource

ENGINES: Final[tuple[Engine, ...]] = (ARGO, TEKTON)


class RunKind(NamedTuple):
    """A run object's engine, and its resource in the version the object names."""

    engine: Engine
    resource: ApiResource


def engine_for(api_version: Any, kind: Any) -> RunKind | None:
    """The engine whose run object is ``apiVersion``/``kind`` (a version the table accepts), or ``None``."""
    resource = buildkinds.run_kind(str(api_version), str(kind))
    if resource is None:
        return None
    found = (e for e in ENGINES if (e.run.group, e.run.kind) == (resource.group, resource.kind))
    engine = next(found, None)
    return None if engine is None else RunKind(engine, resource)


__all__ = [
    "ENGINES",
    "Engine",
    "Fixes",
    "Observation",
    "Phase",
    "RunKind",
    "StepOutputs",
    "StepPod",
    "clip",
    "engine_for",
]
