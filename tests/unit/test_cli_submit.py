"""``runs submit``'s pure parts: the parameters file, ``--set`` on top, the run object."""

import pytest

from choreo_controller.cli.preflight import ConfigProblem
from choreo_controller.cli.submit import load_parameters, parameters, run_object


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "repository:\n  url: https://x\nstepSeconds: 3\n",
            {"repository": {"url": "https://x"}, "stepSeconds": 3},
            id="yaml",
        ),
        pytest.param('{"publish": false, "tags": ["a"]}', {"publish": False, "tags": ["a"]}, id="json"),
        pytest.param(
            "flag: y\nwhen: 2026-03-01\n", {"flag": True, "when": "2026-03-01"}, id="as-kubectl-reads"
        ),
        pytest.param("", {}, id="empty"),
        pytest.param("---\n# nothing\n", {}, id="only-a-comment"),
    ],
)
def test_a_parameters_file_is_read_as_kubectl_reads_yaml(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert expected == load_parameters(str(path))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("- a\n- b\n", "expected one mapping of parameters", id="a-list"),
        pytest.param("a: 1\n---\nb: 2\n", "expected one mapping of parameters", id="two-documents"),
        pytest.param("a: [1, 2\n", "not YAML or JSON (", id="broken"),
        pytest.param(None, "cannot be read (No such file or directory)", id="missing"),
    ],
)
def test_an_unusable_parameters_file_is_one_line_naming_it(tmp_path, text, problem):
    path = tmp_path / "params.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigProblem) as raised:
        load_parameters(str(path))
    assert str(raised.value).startswith(f"--from-file {path}: {problem}")


def test_sets_apply_on_top_of_the_file():
    from_file = {"repository": {"url": "https://x", "branch": "dev"}, "stepSeconds": 3}
    assert {
        "repository": {"url": "https://x", "branch": "main"},
        "stepSeconds": 3,
        "image": {"tag": "v2"},
    } == (parameters(from_file, ["repository.branch=main", "image.tag=v2"]))
    assert {"repository": {"url": "https://x", "branch": "dev"}, "stepSeconds": 3} == from_file, (
        "not modified"
    )


@pytest.mark.parametrize(
    ("name", "workflow", "expected"),
    [
        pytest.param("mine", "docker", {"name": "mine"}, id="named"),
        pytest.param(None, "docker", {"generateName": "docker-"}, id="generated"),
        pytest.param(None, "w" * 70 + "-x", {"generateName": "w" * 50 + "-"}, id="long-workflow-name"),
    ],
)
def test_the_run_names_the_kind_it_was_checked_against(name, workflow, expected):
    assert {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {"namespace": "acme", **expected},
        "spec": {"workflow": {"kind": "ClusterWorkflow", "name": workflow, "parameters": {"a": 1}}},
    } == run_object("acme", "ClusterWorkflow", workflow, {"a": 1}, name)
