"""``choreo-controller render``: golden output for the samples; exit 1 and one line per problem otherwise.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest tests/unit/test_cli_render.py``.
"""

import json
import os
import pathlib
import textwrap

import pytest

from choreo_controller.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from choreo_controller.cli.render import PLACEHOLDER_UID

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"
GOLDEN = pathlib.Path(__file__).resolve().parent / "data" / "render"


def run_cli(capsys, *args):
    code = main(["render", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("golden", "args"),
    [
        pytest.param(
            "docker-public.yaml",
            ["--workflow", "workflow-docker.yaml", "--run", "workflowrun-docker.yaml"],
            id="docker-public",
        ),
        pytest.param(
            "docker-private.yaml",
            [
                "--workflow",
                "workflow-docker.yaml",
                "--run",
                "workflowrun-docker-private.yaml",
                "--ref",
                "secretreference-git.yaml",
                "--build-plane",
                "buildplane.yaml",
            ],
            id="docker-private-with-external-secret",
        ),
        pytest.param(
            "generic.yaml",
            ["--workflow", "workflow-generic.yaml", "--run", "workflowrun-generic.yaml"],
            id="generic",
        ),
        pytest.param(
            "openapi.json",
            ["--workflow", "workflow-openapi.yaml", "--run", "workflowrun-openapi.yaml", "--output", "json"],
            id="openapi-json",
        ),
    ],
)
def test_samples_render_to_golden_output(capsys, golden, args):
    paths = [SAMPLES / a if a.endswith(".yaml") else a for a in args]
    code, out, err = run_cli(capsys, *paths)
    assert (EXIT_OK, "") == (code, err)
    if os.environ.get("UPDATE_GOLDEN"):
        (GOLDEN / golden).write_text(out, encoding="utf-8")
    assert (GOLDEN / golden).read_text(encoding="utf-8") == out


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def docker_run(tmp_path, parameters, namespace="default"):
    body = textwrap.indent(textwrap.dedent(parameters), "      ")
    return write(
        tmp_path,
        "run.yaml",
        f"""\
apiVersion: openchoreo.dev/v1alpha1
kind: WorkflowRun
metadata:
  name: bad-run
  namespace: {namespace}
spec:
  workflow:
    name: docker
    parameters:
{body}""",
    )


def test_invalid_parameters_one_line_each(capsys, tmp_path):
    run = docker_run(
        tmp_path,
        """\
        repository:
          revision:
            branch: 42
        docker:
          platforms: []
        colour: blue
        """,
    )
    code, out, err = run_cli(capsys, "--workflow", SAMPLES / "workflow-docker.yaml", "--run", run)
    expected = [
        "InvalidParameters: parameters.docker.platforms: [] should be non-empty",
        "InvalidParameters: parameters.repository.revision.branch: 42 is not of type 'string'",
        "InvalidParameters: parameters.repository.url: 'url' is a required property",
    ]
    assert (EXIT_FAILED, "", expected) == (code, out, err.splitlines())


def test_missing_external_ref(capsys, tmp_path):
    run = docker_run(
        tmp_path, "repository: {url: 'https://github.com/acme/x', secretRef: other}\n", namespace="acme"
    )
    args = [
        "--workflow",
        SAMPLES / "workflow-docker.yaml",
        "--run",
        run,
        "--ref",
        SAMPLES / "secretreference-git.yaml",
    ]
    code, out, err = run_cli(capsys, *args)
    expected = "ExternalRefNotFound: externalRefs[0] (git-credentials): SecretReference 'other' not found in namespace 'acme' (pass it with --ref FILE)\n"
    assert (EXIT_FAILED, "", expected) == (code, out, err)


def test_render_failure_names_path_and_expression(capsys, tmp_path):
    workflow = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: openchoreo.dev/v1alpha1
        kind: Workflow
        metadata: {name: labelled}
        spec:
          runTemplate:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {name: x}
            spec:
              arguments:
                parameters:
                - {name: team, value: "${metadata.labels['team']}"}
        """,
    )
    run = write(
        tmp_path, "run.yaml", "kind: WorkflowRun\nmetadata: {name: r}\nspec: {workflow: {name: labelled}}\n"
    )
    code, out, err = run_cli(capsys, "--workflow", workflow, "--run", run)
    expected = (
        "RenderFailed: runTemplate.spec.arguments.parameters[0].value: ${metadata.labels['team']}: "
        "no such key 'team'\n"
    )
    assert (EXIT_FAILED, "", expected) == (code, out, err)


def test_a_plane_without_secret_store_renders_it_empty(capsys, tmp_path):
    run = docker_run(
        tmp_path, "repository: {url: 'https://github.com/acme/x', secretRef: acme-github}\n", namespace="acme"
    )
    args = [
        "--workflow",
        SAMPLES / "workflow-docker.yaml",
        "--run",
        run,
        "--ref",
        SAMPLES / "secretreference-git.yaml",
    ]
    code, out, err = run_cli(capsys, *args, "--output", "json")
    stores = [o["spec"]["secretStoreRef"]["name"] for o in json.loads(out) if o["kind"] == "ExternalSecret"]
    assert (EXIT_OK, "", [""]) == (code, err, stores)


def test_workflow_problems_are_all_listed(capsys, tmp_path):
    workflow = write(
        tmp_path,
        "wf.yaml",
        """\
        apiVersion: openchoreo.dev/v1alpha1
        kind: Workflow
        metadata: {name: broken}
        spec:
          schema:
            parameters:
              a: string | required
          runTemplate:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {name: "${metadata.workflowRunName"}
            spec: {entrypoint: "${parameters.a +}"}
        """,
    )
    run = write(
        tmp_path, "run.yaml", "kind: WorkflowRun\nmetadata: {name: r}\nspec: {workflow: {name: broken}}\n"
    )
    code, out, err = run_cli(capsys, "--workflow", workflow, "--run", run)
    expected = [
        "InvalidTemplate: runTemplate.metadata.name: unterminated ${ (unbalanced braces or quotes)",
        "InvalidTemplate: runTemplate.spec.entrypoint: ${parameters.a +}: CEL syntax error at line 1, column 14",
        "InvalidSchema: parameters.a: unknown marker 'required' (a field is required unless it has a default)",
    ]
    assert (EXIT_FAILED, "", expected) == (code, out, err.splitlines())


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"run": None},
            "InvalidInput: {tmp}/missing.yaml: cannot read (No such file or directory)",
            id="missing-file",
        ),
        pytest.param(
            {"run": "kind: WorkflowRun\nmetadata: [\n"},
            "InvalidInput: {tmp}/run.yaml: not valid YAML at line 3, column 1",
            id="bad-yaml",
        ),
        pytest.param(
            {"run": "kind: Workflow\nmetadata: {name: x}\n"},
            "InvalidInput: {tmp}/run.yaml: expected WorkflowRun documents",
            id="wrong-kind",
        ),
        pytest.param(
            {"run": "kind: WorkflowRun\n---\nkind: WorkflowRun\n"},
            "InvalidInput: {tmp}/run.yaml: expected exactly one WorkflowRun",
            id="two-runs",
        ),
        pytest.param(
            {"run": "kind: WorkflowRun\nmetadata: {name: r}\nspec: {workflow: {name: other}}\n"},
            "InvalidInput: the run refers to Workflow or ClusterWorkflow 'other', but --workflow is Workflow 'docker'",
            id="run-for-another-workflow",
        ),
        pytest.param(
            {
                "run": "kind: WorkflowRun\nmetadata: {name: r, namespace: a}\nspec: {workflow: {name: docker}}\n",
                "workflow_namespace": "b",
            },
            "InvalidInput: the run is in namespace 'a', the Workflow in 'b'",
            id="namespaces-differ",
        ),
    ],
)
def test_bad_input_files(capsys, tmp_path, files, expected):
    run = tmp_path / "missing.yaml" if files["run"] is None else write(tmp_path, "run.yaml", files["run"])
    workflow = SAMPLES / "workflow-docker.yaml"
    if "workflow_namespace" in files:
        text = workflow.read_text(encoding="utf-8").replace(
            "  name: docker\n", f"  name: docker\n  namespace: {files['workflow_namespace']}\n", 1
        )
        workflow = write(tmp_path, "wf.yaml", text)
    code, out, err = run_cli(capsys, "--workflow", workflow, "--run", run)
    assert (EXIT_FAILED, "", expected.format(tmp=tmp_path) + "\n") == (code, out, err)


def test_secret_from_a_ref_never_reaches_stderr(capsys, tmp_path):
    secret = "ghp_ThisIsASecretTokenValue123456"
    ref = write(
        tmp_path,
        "ref.yaml",
        "kind: SecretReference\nmetadata: {name: acme-github, namespace: acme}\n"
        f"spec: {{data: [{{secretKey: t, remoteRef: {{key: {secret}}}}}]}}\n",
    )
    workflow = write(
        tmp_path,
        "wf.yaml",
        """\
        kind: Workflow
        metadata: {name: docker}
        spec:
          externalRefs: [{id: git, apiVersion: openchoreo.dev/v1alpha1, kind: SecretReference, name: acme-github}]
          runTemplate:
            apiVersion: argoproj.io/v1alpha1
            kind: Workflow
            metadata: {name: x}
            data: {v: "${externalRefs['git'].spec.data[0].remoteRef.key + nosuch}"}
        """,
    )
    run = write(
        tmp_path,
        "run.yaml",
        "kind: WorkflowRun\nmetadata: {name: r, namespace: acme}\nspec: {workflow: {name: docker}}\n",
    )
    code, out, err = run_cli(capsys, "--workflow", workflow, "--run", run, "--ref", ref)
    assert (EXIT_FAILED, "") == (code, out)
    assert (
        "RenderFailed: runTemplate.data.v: ${externalRefs['git'].spec.data[0].remoteRef.key + nosuch}: "
        "undeclared reference to 'nosuch'\n" == err
    )
    assert secret not in err


def test_help_explains_the_placeholder_uid(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["render", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert EXIT_OK == caught.value.code
    assert PLACEHOLDER_UID in out
    assert "--ref FILE" in out


def test_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["render", "--workflow", "x.yaml"])
    assert EXIT_USAGE == caught.value.code
    assert "--run" in capsys.readouterr().err
