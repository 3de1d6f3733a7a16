"""Rendering a run: whole values vs interpolation, map keys, oc_omit, includeWhen, forced fields, checks."""

import copy

import pytest

from choreo_controller.render import (
    ExternalRefRequest,
    InvalidTemplate,
    RenderFailed,
    check_workflow,
    external_ref_requests,
    render_run,
)
from choreo_controller.render.run import MAX_OBJECT_BYTES

RUN = {"metadata": {"name": "build-1", "namespace": "team-a", "uid": "uid-1", "labels": {"app": "web"}}}
PARAMS = {
    "s": "text",
    "n": 42,
    "f": 2.5,
    "b": True,
    "no": False,
    "nul": None,
    "l": ["a", "b"],
    "m": {"k": "v"},
    "e": "",
}
FORCED = {
    "openchoreo.dev/workflowrun": "build-1",
    "openchoreo.dev/workflowrun-namespace": "team-a",
    "openchoreo.dev/managed-by": "workflowrun-controller",
    "openchoreo.dev/workflowrun-uid": "uid-1",
}


def workflow(body=None, resources=None, **top):
    run_template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "${metadata.workflowRunName}"},
    }
    run_template |= top
    if body is not None:
        run_template["data"] = body
    spec = {"runTemplate": run_template}
    if resources is not None:
        spec["resources"] = resources
    return {"spec": spec}


def render(wf, params=PARAMS, refs=None, plane=None):
    return render_run(wf, RUN, refs or {}, plane, parameters=params)


def data(value):
    return render(workflow({"v": value})).workflow["data"]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("${parameters.n}", 42, id="whole-int"),
        pytest.param("${parameters.f}", 2.5, id="whole-double"),
        pytest.param("${parameters.b}", True, id="whole-bool"),
        pytest.param("${parameters.nul}", None, id="whole-null"),
        pytest.param("${parameters.l}", ["a", "b"], id="whole-list"),
        pytest.param("${parameters.m}", {"k": "v"}, id="whole-map"),
        pytest.param("  ${parameters.n}\n", 42, id="whole-trimmed-block-scalar"),
        pytest.param("${parameters.l.map(x, x + '!')}\n", ["a!", "b!"], id="block-scalar-yields-list"),
        pytest.param("n=${parameters.n}", "n=42", id="interpolated-int"),
        pytest.param("${parameters.b}/${parameters.no}", "true/false", id="interpolated-bools"),
        pytest.param("f=${parameters.f}", "f=2.5", id="interpolated-double"),
        pytest.param("l=${parameters.l}", 'l=["a","b"]', id="interpolated-list-compact-json"),
        pytest.param("m=${parameters.m}", 'm={"k":"v"}', id="interpolated-map-compact-json"),
        pytest.param("x=${parameters.nul}", "x=null", id="interpolated-null"),
        pytest.param("${parameters.s} ${parameters.s}", "text text", id="two-expressions"),
        pytest.param("$${parameters.s} ${parameters.s}", "${parameters.s} text", id="escape"),
        pytest.param(
            "{{workflow.name}} $(date) $HOME",
            "{{workflow.name}} $(date) $HOME",
            id="other-syntaxes-untouched",
        ),
        pytest.param(7, 7, id="non-string-scalar-copied"),
        pytest.param("${metadata.namespace}", "openchoreo-ci-team-a", id="build-namespace"),
        pytest.param(
            "${metadata.namespaceName}/${metadata.workflowRunName}", "team-a/build-1", id="run-identity"
        ),
        pytest.param("${metadata.labels.app}", "web", id="run-labels"),
        pytest.param("${metadata.annotations}", {}, id="run-annotations-default-empty"),
    ],
)
def test_values(template, expected):
    assert {"v": expected} == data(template)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param({"keep": 1, "drop": "${oc_omit()}"}, {"keep": 1}, id="omit-drops-map-key"),
        pytest.param(
            {"l": ["a", "${parameters.b ? oc_omit() : 'x'}", "c"]},
            {"l": ["a", "c"]},
            id="omit-drops-list-item",
        ),
        pytest.param({"cpu": "${has(parameters.cpu) ? parameters.cpu : oc_omit()}"}, {}, id="omit-with-has"),
        pytest.param({"m": "${{'a': 1, 'b': oc_omit()}}"}, {"m": {"a": 1}}, id="omit-inside-cel-map"),
        pytest.param({"${'key-' + parameters.s}": "v"}, {"key-text": "v"}, id="rendered-map-key"),
        pytest.param({"${parameters.n}": "v"}, {"42": "v"}, id="rendered-key-from-int"),
        pytest.param({"${oc_omit()}": "v", "k": 1}, {"k": 1}, id="omitted-key"),
        pytest.param({"$${x}": "v"}, {"${x}": "v"}, id="escaped-key"),
    ],
)
def test_structure(template, expected):
    assert expected == render(workflow(template)).workflow["data"]


@pytest.mark.parametrize(
    ("template", "path", "detail"),
    [
        pytest.param(
            {"v": "${parameters.repository.url}"},
            "runTemplate.data.v",
            "no such key 'repository'",
            id="missing-key-path",
        ),
        pytest.param(
            {"a": [{"b": "x-${parameters.nope}"}]},
            "runTemplate.data.a[0].b",
            "no such key 'nope'",
            id="missing-key-interpolated",
        ),
        pytest.param(
            {"labels": {"app.kubernetes.io/name": "${parameters.x}"}},
            "runTemplate.data.labels['app.kubernetes.io/name']",
            "no such key 'x'",
            id="odd-key-path",
        ),
        pytest.param(
            {"v": "x-${oc_omit()}"},
            "runTemplate.data.v",
            "oc_omit() can only be the whole value of a field or list item",
            id="omit-interpolated",
        ),
        pytest.param(
            {"${parameters.l}": "v"},
            "runTemplate.data['${parameters.l}']",
            "a map key must render to a string, not a list or map",
            id="list-key",
        ),
        pytest.param(
            {"${parameters.s}": 1, "text": 2},
            "runTemplate.data.text",
            "two keys render to the same string",
            id="key-collision",
        ),
    ],
)
def test_render_errors(template, path, detail):
    with pytest.raises(RenderFailed) as caught:
        render(workflow(template))
    assert (path, detail) == (caught.value.path, caught.value.detail)


def test_invalid_template_at_render_time_names_path_and_expression():
    with pytest.raises(InvalidTemplate) as caught:
        render(workflow({"v": "${parameters.s +}"}))
    assert (
        "InvalidTemplate: runTemplate.data.v: ${parameters.s +}: CEL syntax error at line 1, column 14"
        == str(caught.value)
    )


SECRET = {
    "id": "git",
    "includeWhen": "${parameters.e != ''}",
    "template": {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "${metadata.workflowRunName}-git"},
    },
}


@pytest.mark.parametrize(
    ("include_when", "included"),
    [
        pytest.param("${parameters.b}", True, id="true"),
        pytest.param("${parameters.no}", False, id="false"),
        pytest.param(" ${parameters.n > 40} ", True, id="expression-trimmed"),
        pytest.param(None, True, id="absent"),
        pytest.param(False, False, id="literal-false"),
    ],
)
def test_include_when(include_when, included):
    resource = {k: v for k, v in SECRET.items() if k != "includeWhen"}
    if include_when is not None:
        resource["includeWhen"] = include_when
    rendered = render(workflow(resources=[resource]))
    assert (["git"] if included else []) == [ident for ident, _ in rendered.resources]


@pytest.mark.parametrize(
    ("include_when", "error", "detail"),
    [
        pytest.param(
            "${parameters.s}", RenderFailed, "includeWhen must evaluate to a boolean, got str", id="string"
        ),
        pytest.param(
            "${parameters.n}", RenderFailed, "includeWhen must evaluate to a boolean, got int", id="int"
        ),
        pytest.param(
            "${oc_omit()}", RenderFailed, "includeWhen must evaluate to a boolean, got oc_omit()", id="omit"
        ),
        pytest.param(
            "yes ${parameters.b}",
            InvalidTemplate,
            "includeWhen must be exactly one ${...} expression",
            id="not-whole",
        ),
        pytest.param(
            "true", InvalidTemplate, "includeWhen must be exactly one ${...} expression", id="plain-text"
        ),
    ],
)
def test_include_when_must_be_one_boolean_expression(include_when, error, detail):
    with pytest.raises(error) as caught:
        render(workflow(resources=[SECRET | {"includeWhen": include_when}]))
    assert ("resources[0].includeWhen", detail) == (caught.value.path, caught.value.detail)


def test_forced_namespace_labels_and_order():
    resource = SECRET | {"includeWhen": "${true}"}
    resource["template"] = copy.deepcopy(resource["template"]) | {
        "metadata": {
            "name": "n",
            "namespace": "elsewhere",
            "labels": {"a": "b", "openchoreo.dev/workflowrun": "forged"},
        }
    }
    rendered = render(
        workflow(resources=[resource], metadata={"name": "${metadata.workflowRunName}", "namespace": "x"})
    )
    (ident, secret), argo = rendered.resources[0], rendered.workflow
    assert ("git", "openchoreo-ci-team-a", {"a": "b"} | FORCED) == (
        ident,
        secret["metadata"]["namespace"],
        secret["metadata"]["labels"],
    )
    assert ("openchoreo-ci-team-a", FORCED) == (argo["metadata"]["namespace"], argo["metadata"]["labels"])
    assert [secret, argo] == rendered.objects()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, "workflow-sa", id="defaulted"),
        pytest.param({"serviceAccountName": ""}, "workflow-sa", id="empty-defaulted"),
        pytest.param({"serviceAccountName": "builder"}, "builder", id="kept"),
    ],
)
def test_service_account_default(spec, expected):
    assert expected == render(workflow(spec=spec)).workflow["spec"]["serviceAccountName"]


def test_argo_parameter_values_become_strings():
    params = [{"name": n, "value": f"${{parameters.{n}}}"} for n in ("s", "n", "f", "b", "l", "m", "nul")] + [
        {"name": "nv"}
    ]
    rendered = render(workflow(spec={"arguments": {"parameters": params}})).workflow["spec"]["arguments"][
        "parameters"
    ]
    expected = ["text", "42", "2.5", "true", '["a","b"]', '{"k":"v"}', "null"]
    assert expected == [p["value"] for p in rendered if "value" in p]
    assert {"name": "nv"} == rendered[-1]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        pytest.param("build-1", True, id="simple"),
        pytest.param("a.b-c.d", True, id="subdomain"),
        pytest.param("x" * 253, True, id="max-length"),
        pytest.param("x" * 254, False, id="too-long"),
        pytest.param("Build-1", False, id="upper-case"),
        pytest.param("-build", False, id="leading-dash"),
        pytest.param("build_1", False, id="underscore"),
        pytest.param("a..b", False, id="empty-label"),
        pytest.param("", False, id="empty"),
    ],
)
def test_metadata_name_must_be_dns_subdomain(name, valid):
    wf = workflow(metadata={"name": "${parameters.name}"})
    if valid:
        assert name == render(wf, {"name": name}).workflow["metadata"]["name"]
        return
    with pytest.raises(RenderFailed) as caught:
        render(wf, {"name": name})
    assert "runTemplate.metadata.name" == caught.value.path
    assert caught.value.detail.startswith("metadata.name must be a DNS-1123 subdomain")


@pytest.mark.parametrize(
    ("drop", "detail"),
    [
        pytest.param("apiVersion", "rendered object has no apiVersion", id="api-version"),
        pytest.param("kind", "rendered object has no kind", id="kind"),
        pytest.param("metadata", "rendered object has no metadata", id="metadata"),
    ],
)
def test_object_identity_required(drop, detail):
    wf = workflow()
    del wf["spec"]["runTemplate"][drop]
    with pytest.raises(RenderFailed, match=detail):
        render(wf)


@pytest.mark.parametrize(
    ("label", "path"),
    [
        pytest.param("${parameters.l}", "runTemplate.metadata.labels.team", id="not-a-string"),
        pytest.param("has spaces", "runTemplate.metadata.labels.team", id="invalid-characters"),
        pytest.param("x" * 64, "runTemplate.metadata.labels.team", id="too-long"),
    ],
)
def test_label_values_are_checked(label, path):
    with pytest.raises(RenderFailed) as caught:
        render(workflow(metadata={"name": "n", "labels": {"team": label}}))
    assert (path, "not a valid label value (at most 63 of [A-Za-z0-9._-])") == (
        caught.value.path,
        caught.value.detail,
    )


def test_run_name_too_long_for_a_label_is_refused():
    run = {"metadata": {"name": "r" * 64, "namespace": "ns"}}
    with pytest.raises(RenderFailed) as caught:
        render_run(workflow(metadata={"name": "n"}), run, {}, None, parameters={})
    assert "runTemplate.metadata.labels['openchoreo.dev/workflowrun']" == caught.value.path


def test_object_over_one_mebibyte_is_refused():
    chunk = "y" * 600_000
    wf = workflow({"a": "${parameters.c}", "b": "${parameters.c}"})
    with pytest.raises(RenderFailed) as caught:
        render(wf, {"c": chunk})
    assert caught.value.detail.endswith(f"more than {MAX_OBJECT_BYTES}")
    assert {"a": chunk} == render(workflow({"a": "${parameters.c}"}), {"c": chunk}).workflow["data"]


def test_external_refs_and_build_plane_in_context():
    wf = workflow(
        {
            "data": "${externalRefs['git'].spec.data}",
            "store": "${buildplane.secretStore}",
            "alias": "${workflowplane.secretStore}",
        }
    )
    refs = {"git": {"metadata": {"name": "creds"}, "spec": {"data": [{"secretKey": "token"}]}}}
    plane = {"spec": {"secretStoreRef": {"name": "vault"}}}
    data = [{"secretKey": "token", "remoteRef": {"key": ""}}]  # as OpenChoreo's Go types re-serialise it
    assert {"data": data, "store": "vault", "alias": "vault"} == render(wf, refs=refs, plane=plane).workflow[
        "data"
    ]


def test_a_plane_without_secret_store_renders_it_empty_as_openchoreo_does():
    # OpenChoreo 1.x's GetSecretStoreName is "" when secretStoreRef is unset; so is ours, for both names.
    wf = workflow({"b": "${buildplane.secretStore}", "w": "${workflowplane.secretStore}"})
    assert {"b": "", "w": ""} == render(wf).workflow["data"]


@pytest.mark.parametrize(
    ("plane", "namespace"),
    [
        pytest.param(None, "openchoreo-ci-team-a", id="no-plane"),
        pytest.param({"kind": "BuildPlane"}, "openchoreo-ci-team-a", id="BuildPlane"),
        pytest.param({"kind": "ClusterBuildPlane"}, "openchoreo-ci-team-a", id="ClusterBuildPlane"),
        pytest.param({"kind": "WorkflowPlane"}, "workflows-team-a", id="WorkflowPlane"),
        pytest.param({"kind": "ClusterWorkflowPlane"}, "workflows-team-a", id="ClusterWorkflowPlane"),
    ],
)
def test_build_namespace_follows_the_plane_generation(plane, namespace):
    resources = [SECRET | {"includeWhen": "${true}"}]
    rendered = render(workflow({"ns": "${metadata.namespace}"}, resources=resources), plane=plane)
    assert [namespace] * 3 == [
        rendered.workflow["data"]["ns"],
        rendered.workflow["metadata"]["namespace"],
        rendered.resources[0][1]["metadata"]["namespace"],
    ]


def test_template_and_inputs_are_not_modified():
    wf = workflow(
        {"v": "${parameters.m}", "l": ["${parameters.l}"]}, resources=[SECRET | {"includeWhen": "${true}"}]
    )
    params = copy.deepcopy(PARAMS)
    before = copy.deepcopy((wf, params))
    rendered = render(wf, params)
    rendered.workflow["data"]["v"]["k"] = "changed"
    assert before == (wf, params)


def test_external_ref_requests_render_names():
    wf = {
        "spec": {
            "externalRefs": [
                {
                    "id": "git",
                    "apiVersion": "openchoreo.dev/v1alpha1",
                    "kind": "SecretReference",
                    "name": "${parameters.s}-creds",
                },
                {
                    "id": "opt",
                    "apiVersion": "openchoreo.dev/v1alpha1",
                    "kind": "SecretReference",
                    "name": "${parameters.e}",
                },
            ]
        }
    }
    expected = [
        ExternalRefRequest("git", "openchoreo.dev/v1alpha1", "SecretReference", "text-creds"),
        ExternalRefRequest("opt", "openchoreo.dev/v1alpha1", "SecretReference", None),
    ]
    assert expected == external_ref_requests(wf, RUN, PARAMS)


def test_check_workflow_finds_every_static_problem():
    wf = {
        "spec": {
            "runTemplate": {
                "a": "${parameters.x +}",
                "b": "${'unterminated}",
                "${1 +}": "k",
                "ok": "${parameters.x}",
            },
            "resources": [
                {"id": "r", "includeWhen": "x ${true}", "template": {"n": "${" + "'" + "y" * 5000 + "'}"}},
                {"id": "r", "template": {}},
                {"template": {}},
            ],
            "externalRefs": [{"id": "e", "name": "${parameters.}"}],
        }
    }
    expected = [
        "InvalidTemplate: runTemplate.a: ${parameters.x +}: CEL syntax error at line 1, column 14",
        "InvalidTemplate: runTemplate.b: unterminated ${ (unbalanced braces or quotes)",
        "InvalidTemplate: runTemplate['${1 +}']: ${1 +}: CEL syntax error at line 1, column 3",
        "InvalidTemplate: resources[1].id: duplicate id 'r'",
        "InvalidTemplate: resources[2].id: id is required",
        "InvalidTemplate: resources[0].template.n: ${'"
        + "y" * 236
        + "...}: expression longer than 4096 bytes",
        "InvalidTemplate: resources[0].includeWhen: includeWhen must be exactly one ${...} expression",
        "InvalidTemplate: externalRefs[0].name: ${parameters.}: CEL syntax error at line 1, column 11",
    ]
    assert expected == [str(problem) for problem in check_workflow(wf)]


def test_check_workflow_accepts_a_valid_workflow_and_requires_run_template():
    assert [] == check_workflow(workflow({"v": "${parameters.s}"}, resources=[SECRET]))
    assert ["InvalidTemplate: runTemplate: spec.runTemplate is required and must be an object"] == [
        str(p) for p in check_workflow({"spec": {}})
    ]
