"""``api.componentworkflows``: the component-workflow marker and the repository mapping of both generations."""

import pytest

from choreo_controller.api.componentworkflows import is_component_workflow, schema_mapping


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param({"labels": {"openchoreo.dev/workflow-type": "component"}}, True, id="1.x-label"),
        pytest.param(
            {"annotations": {"openchoreo.dev/workflow-scope": "component"}}, True, id="0.17-annotation"
        ),
        pytest.param({"labels": {"openchoreo.dev/workflow-scope": "component"}}, True, id="0.17-as-label"),
        pytest.param({"labels": {"openchoreo.dev/workflow-type": "generic"}}, False, id="other-type"),
        pytest.param({}, False, id="unmarked"),
    ],
)
def test_component_workflow_marker(metadata, expected):
    assert expected == is_component_workflow({"metadata": metadata})


def marked(suffix):
    return {"type": "string", f"x-openchoreo-component-parameter-repository-{suffix}": True}


def test_schema_mapping_walks_properties_refs_and_skips_arrays():
    schema = {
        "type": "object",
        "$defs": {"Git": {"type": "object", "properties": {"url": marked("url"), "ref": {"$ref": "#/$defs/Ref"}}},
                  "Ref": {"type": "object", "properties": {"branch": marked("branch"), "self": {"$ref": "#/$defs/Ref"}}}},
        "properties": {
            "source": {"type": "object", "properties": {"git": {"$ref": "#/$defs/Git"}, "dir": marked("app-path")}},
            "mirrors": {"type": "array", "items": {"type": "object", "properties": {"url": marked("commit")}}},
            "bad key": marked("secret-ref"),
            "other": {"type": "string", "x-openchoreo-component-parameter-repository-url": "yes"},
        },
    }  # fmt: skip
    assert {
        "repoUrl": "parameters.source.git.url",
        "branch": "parameters.source.git.ref.branch",
        "appPath": "parameters.source.dir",
    } == schema_mapping({"spec": {"parameters": {"openAPIV3Schema": schema}}})


@pytest.mark.parametrize("spec", [{}, {"schema": {"parameters": {"url": "string"}}}, {"parameters": {}}])
def test_no_schema_no_mapping(spec):
    assert {} == schema_mapping({"spec": spec})
