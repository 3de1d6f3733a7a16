"""The Workflow's Ready condition: Valid, InvalidSchema, InvalidTemplate (pure checks)."""

from __future__ import annotations

import pytest

from choreo_controller.api import conditions as c
from choreo_controller.reconcilers.workflow import readiness

TEMPLATE = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "${metadata.workflowRunName}"},
}


def workflow(parameters=None, template=None):
    spec = {"runTemplate": template if template is not None else TEMPLATE}
    if parameters is not None:
        spec["schema"] = {"parameters": parameters}
    return {"metadata": {"name": "w", "namespace": "n"}, "spec": spec}


@pytest.mark.parametrize(
    ("obj", "expected_status", "expected_reason", "message_part"),
    [
        pytest.param(
            workflow({"branch": "string | default=main"}), "True", c.R_VALID, "compiles", id="valid"
        ),
        pytest.param(
            workflow({"branch": "strung"}), "False", c.R_INVALID_SCHEMA, "strung", id="unknown-type"
        ),
        pytest.param(
            workflow(template={**TEMPLATE, "spec": {"x": "${parameters.a +}"}}),
            "False",
            c.R_INVALID_TEMPLATE,
            "runTemplate.spec.x",
            id="cel-syntax",
        ),
        pytest.param(
            workflow(template={**TEMPLATE, "spec": {"x": "${parameters.a"}}),
            "False",
            c.R_INVALID_TEMPLATE,
            "runTemplate.spec.x",
            id="unclosed",
        ),
    ],
)
def test_readiness(obj, expected_status, expected_reason, message_part):
    status, reason, message = readiness(obj)
    assert (expected_status, expected_reason, True) == (status, reason, message_part in message)
