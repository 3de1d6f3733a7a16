"""Label, annotation and finalizer names (SPEC sections 2, 4, 5); build namespaces: ``api.planes``."""

from __future__ import annotations

PREFIX = "openchoreo.dev"

LABEL_WORKFLOWRUN = f"{PREFIX}/workflowrun"
LABEL_WORKFLOWRUN_NAMESPACE = f"{PREFIX}/workflowrun-namespace"
LABEL_WORKFLOWRUN_UID = f"{PREFIX}/workflowrun-uid"
LABEL_MANAGED_BY = f"{PREFIX}/managed-by"
MANAGED_BY = "workflowrun-controller"  # OpenChoreo's value: its tooling selects on it
MANAGED_BY_BEFORE = "choreo-controller"  # written by earlier releases: their runs' objects stay ours
MANAGED_BY_VALUES = frozenset({MANAGED_BY, MANAGED_BY_BEFORE})
LABEL_PROJECT = f"{PREFIX}/project"
LABEL_COMPONENT = f"{PREFIX}/component"
LABEL_CONCURRENCY_GROUP = f"{PREFIX}/concurrency-group"  # hash of a generic run's rendered group

ANNOTATION_WORKFLOW_SCOPE = f"{PREFIX}/workflow-scope"
ANNOTATION_COMPONENT_WORKFLOW_PARAMETERS = f"{PREFIX}/component-workflow-parameters"
ANNOTATION_CANCEL = f"{PREFIX}/cancel"
ANNOTATION_SUPERSEDED_BY = f"{PREFIX}/superseded-by"  # the run whose arrival cancelled this one
ANNOTATION_COMMIT = f"{PREFIX}/autobuild-commit"  # the pushed commit an auto-build builds
ANNOTATION_COMMIT_TIME = f"{PREFIX}/autobuild-commit-time"  # its commit time (RFC 3339, UTC), if known

FINALIZER = f"{PREFIX}/workflowrun-cleanup"
FIELD_MANAGER = "choreo-controller"

WORKFLOW_SERVICE_ACCOUNT = "workflow-sa"


def run_labels(run_name: str, run_namespace: str, run_uid: str) -> dict[str, str]:
    """Labels forced onto every build-plane object rendered for a run."""
    return {
        LABEL_WORKFLOWRUN: run_name,
        LABEL_WORKFLOWRUN_NAMESPACE: run_namespace,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_WORKFLOWRUN_UID: run_uid,
    }


#: Every object we created, before and after the value became OpenChoreo's (set-based: one list, one watch).
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY} in ({MANAGED_BY},{MANAGED_BY_BEFORE})"
