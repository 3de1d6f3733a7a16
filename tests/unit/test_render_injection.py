"""Parameter values are data: placed whole they come out byte-identical, and they are never evaluated."""

from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from choreo_controller.cli.render import _format
from choreo_controller.render import render_run, walk
from choreo_controller.render.cel import compile_expression

# celpy's Environment raises the recursion limit when it is created; do that before hypothesis watches.
compile_expression("true")
RUN = {"metadata": {"name": "run-1", "namespace": "ns", "uid": "u"}}
WORKFLOW = {
    "spec": {
        "resources": [
            {
                "id": "cm",
                "includeWhen": "${parameters.x == parameters.x}",
                "template": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "cm"},
                    "data": {
                        "whole": "${parameters.x}",
                        "padded": "  ${parameters.x}\n",
                        "key": {"${parameters.x}": "k"},
                    },
                },
            }
        ],
        "runTemplate": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "${metadata.workflowRunName}"},
            "spec": {
                "arguments": {"parameters": [{"name": "p", "value": "${parameters.x}"}]},
                "list": ["${parameters.x}", "${parameters.y}"],
                "mixed": "pre-${parameters.x}-mid-${parameters.y}-post",
                "cel": "${parameters.x + parameters.y}",
            },
        },
    }
}
TEMPLATE_EXPRESSIONS = {
    "parameters.x == parameters.x",
    "parameters.x",
    "parameters.y",
    "metadata.workflowRunName",
    "parameters.x + parameters.y",
}

PAYLOADS = [
    "${parameters.y}", "${ parameters.y }", "${oc_hash('x')}", "$${parameters.y}", "$$${parameters.y}", "${",
    "${}", "}", "${{", "${'}'}", '${"${x}"}', "x ${parameters.y} y", "${metadata.workflowRunName}",
    "${externalRefs['git'].spec.data}", "${[1,2,3].map(a, a)}", "{{workflow.parameters.p}}", "{{inputs.parameters.x}}",
    "{{=sprig.env('HOME')}}", "{{ .Values.secret }}", "$(cat /etc/passwd)", "`id`", "$HOME", "${HOME}", "%{x}", "#{x}",
    "'; rm -rf / #", '"; echo pwned; "', "\\", "\\\\${x}", "'", '"', "'''", '"""', "\n", "\r\n", "a\nb: c",
    "- item", "key: value", "&anchor", "*alias", "!!python/object/apply:os.system ['id']", "---", "...", "null",
    "true", "42", "1e3", "0x1F", "2024-01-01", "~", "", " ", "\t", "\x00", "\u202eevil\u202c", "ünïcödé ✓ 𝔘",  # noqa: RUF001 - confusable on purpose
    "😀" * 10, '","injected":"', "]}{[", "<script>alert(1)</script>", "x" * 10_000,
]  # fmt: skip


def rendered_values(x, y="Y"):
    seen = set()
    original = walk.compile_expression

    def spy(text):
        seen.add(text)
        return original(text)

    with mock.patch.object(walk, "compile_expression", spy):
        out = render_run(WORKFLOW, RUN, {}, None, parameters={"x": x, "y": y})
    return out, seen


def check(x):
    out, compiled = rendered_values(x)
    (_, cm), argo = out.resources[0], out.workflow
    assert x == cm["data"]["whole"]
    assert x == cm["data"]["padded"]
    assert {x: "k"} == cm["data"]["key"]
    assert x == argo["spec"]["arguments"]["parameters"][0]["value"]
    assert [x, "Y"] == argo["spec"]["list"]
    assert f"pre-{x}-mid-Y-post" == argo["spec"]["mixed"]
    assert x + "Y" == argo["spec"]["cel"]
    assert compiled <= TEMPLATE_EXPRESSIONS, compiled - TEMPLATE_EXPRESSIONS
    return out


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_string_comes_out_byte_identical_and_is_never_evaluated(x):
    check(x)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("${}()'\"\\`\n:#[]=.-|&*!%@ abc")), max_size=60))
def test_template_like_strings_come_out_byte_identical(x):
    check(x)


def test_corpus_is_large_enough():
    assert len(set(PAYLOADS)) >= 50


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_injection_corpus(payload):
    out = check(payload)
    documents = list(yaml.safe_load_all(_format(out.objects(), "yaml")))
    assert payload == documents[-1]["spec"]["arguments"]["parameters"][0]["value"]
    assert payload == documents[0]["data"]["whole"]
