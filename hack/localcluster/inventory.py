"""What a plane holds in some namespaces: every namespaced kind it serves (discovery), not a list of ours.

Tests and the chaos benchmark count leaks with this, deliberately *not* with the product's table of kinds
(``choreo_controller.api.buildkinds``): an object of a kind the engine forgot to clean up must show too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localcluster.plane import Plane

RUN_UID_LABEL = "openchoreo.dev/workflowrun-uid"


def objects_in(plane: Plane, prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every object of every listable namespaced kind in the namespaces whose names start with ``prefixes``.

    Events are left out: they are records about objects, not objects anyone created.
    """
    kinds = plane.kubectl("api-resources", "--namespaced=true", "--verbs=list", "-o", "name").stdout.split()
    wanted = ",".join(k for k in kinds if k.split(".", 1)[0] != "events")
    listed = json.loads(plane.kubectl("get", wanted, "--all-namespaces", "-o", "json", timeout=120).stdout)
    return [
        obj
        for obj in listed.get("items") or []
        if str((obj.get("metadata") or {}).get("namespace") or "").startswith(prefixes)
    ]


def labelled_with(objects: list[dict[str, Any]], uids: set[str]) -> list[tuple[str, str, str]]:
    """``(kind, namespace/name, run uid)`` of the objects labelled with one of ``uids``, not being deleted."""
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        uid = (meta.get("labels") or {}).get(RUN_UID_LABEL)
        if uid in uids and not meta.get("deletionTimestamp"):
            found.append((str(obj.get("kind")), f"{meta.get('namespace')}/{meta.get('name')}", str(uid)))
    return sorted(found)
