"""OpenChoreo's post-processing of rendered objects, and the schema-aware JSON arrays (beyond)."""

from choreo_controller.render.finish import engine_fixes, finish


def test_array_fields_come_from_the_schemas():
    argo = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"annotations": {"a": '["x"]'}, "finalizers": '["f"]'},
        "spec": {
            "templates": [
                {
                    "container": {"command": '["sh", "-c"]', "args": ['["a"]'], "image": "[x]"},
                    "steps": '[[{"name": "s"}]]',
                    "inputs": {"parameters": [{"name": "p", "default": "[]", "enum": '["a"]'}]},
                }
            ],
            "arguments": {"parameters": [{"name": "q", "value": "[1]"}]},
        },
    }
    out = finish(argo)
    template = out["spec"]["templates"][0]
    assert ({"a": '["x"]'}, ["f"]) == (out["metadata"]["annotations"], out["metadata"]["finalizers"])
    assert (["sh", "-c"], ['["a"]'], "[x]") == tuple(
        template["container"][k] for k in ("command", "args", "image")
    )
    assert [[{"name": "s"}]] == template["steps"]
    assert {"name": "p", "default": "[]", "enum": ["a"]} == template["inputs"]["parameters"][0]
    assert "[1]" == out["spec"]["arguments"]["parameters"][0]["value"]
    config_map = finish({"apiVersion": "v1", "kind": "ConfigMap", "data": {"l": "[1]"}})
    assert {"l": "[1]"} == config_map["data"]


def test_maps_under_value_keys_become_go_json_text_lists_stay():
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "data": {"value": {"b": "<", "a": 1.0}},
        "x": [{"value": [1]}],
    }
    out = finish(obj)
    assert ('{"a":1,"b":"\\u003c"}', [{"value": [1]}]) == (out["data"]["value"], out["x"])


def test_whole_doubles_are_written_as_integers_others_stay():
    out = finish({"apiVersion": "v1", "kind": "ConfigMap", "n": [3.0, 2.5, 1e21]})
    assert [(3, int), (2.5, float), (1e21, float)] == [(v, type(v)) for v in out["n"]]


def test_argo_argument_values_become_text_as_openchoreo_writes_them():
    obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "spec": {"arguments": {"parameters": [
        {"name": "d", "value": 1e6}, {"name": "i", "value": 3}, {"name": "b", "value": True},
        {"name": "m", "value": {"z": 1, "a": [2.5]}}, {"name": "s", "value": "[1, 2]"}, {"name": "n", "value": None},
    ]}}}  # fmt: skip
    engine_fixes(obj)
    assert ["1e+06", "3", "true", '{"a":[2.5],"z":1}', "[1, 2]", "null"] == [
        p["value"] for p in obj["spec"]["arguments"]["parameters"]
    ]
