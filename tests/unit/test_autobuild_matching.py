"""Which Components a push builds (repository, provider/host, branch, app path) and the run it creates."""

from pathlib import Path

import pytest
import yaml
from gitpayloads import COMMIT

from choreo_controller.contracts import ObjectKey
from choreo_controller.reconcilers.autobuild.matching import (
    build_run,
    clean_path,
    component_source,
    match,
    parse_mapping,
    run_name,
)
from choreo_controller.reconcilers.autobuild.providers import PushedBranch, PushEvent

MAPPING = """\
repoUrl: parameters.repository.url
branch: parameters.repository.revision.branch
commit: parameters.repository.revision.commit
appPath: parameters.repository.appPath
secretRef: parameters.repository.secretRef
"""


def workflow(mapping=MAPPING, annotations=None):
    notes = {"openchoreo.dev/workflow-scope": "component"}
    if mapping is not None:
        notes["openchoreo.dev/component-workflow-parameters"] = mapping
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "docker", "namespace": "team", "annotations": annotations or notes},
        "spec": {
            "schema": {
                "parameters": {
                    "repository": {
                        "url": "string",
                        "revision": {
                            "branch": "string | default=main",
                            "commit": 'string | default=""',
                        },
                        "appPath": "string | default=.",
                    }
                }
            },
            "runTemplate": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"},
        },
    }


def component(name="shop", url="https://github.com/acme/shop", branch=None, app_path=None, extra=None):
    repository = {"url": url, "revision": {}}
    if branch is not None:
        repository["revision"]["branch"] = branch
    if app_path is not None:
        repository["appPath"] = app_path
    return {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": "team"},
        "spec": {
            "owner": {"projectName": "web"},
            "componentType": "deployment/service",
            "autoBuild": True,
            "workflow": {"name": "docker", "parameters": {"repository": repository, **(extra or {})}},
        },
    }


def push(provider="github", repos=("https://github.com/acme/shop",), paths=("svc/main.go",)):
    return PushEvent(provider, frozenset(repos), (PushedBranch("main", COMMIT),), paths)


MAIN = PushedBranch("main", COMMIT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MAPPING,
            {
                "repoUrl": "parameters.repository.url",
                "branch": "parameters.repository.revision.branch",
                "commit": "parameters.repository.revision.commit",
                "appPath": "parameters.repository.appPath",
                "secretRef": "parameters.repository.secretRef",
            },
            id="yaml-lines",
        ),
        pytest.param(
            "repoUrl: parameters.repo.url, commit: parameters.repo.sha",
            {"repoUrl": "parameters.repo.url", "commit": "parameters.repo.sha"},
            id="openchoreo-one-line",
        ),
        pytest.param(
            "repoUrl: systemParameters.repository.url\nbranch: parameters.b\nunknown: parameters.x",
            {"branch": "parameters.b"},
            id="only-known-keys-under-parameters",
        ),
        pytest.param("", {}, id="empty"),
        pytest.param("{{{", {}, id="garbage"),
    ],
)
def test_parse_mapping(text, expected):
    assert expected == parse_mapping(text)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(".", "", id="dot"),
        pytest.param("/", "", id="slash"),
        pytest.param("", "", id="empty"),
        pytest.param("./svc/", "svc", id="dot-slash"),
        pytest.param("/svc/api", "svc/api", id="leading-slash"),
    ],
)
def test_clean_path(path, expected):
    assert expected == clean_path(path)


@pytest.mark.parametrize(
    ("comp", "wf", "expected"),
    [
        pytest.param(
            component(app_path="svc"),
            workflow(),
            ("https://github.com/acme/shop", "main", "svc"),
            id="branch-from-schema-default",
        ),
        pytest.param(
            component(url="git@github.com:Acme/Shop.git", branch="dev", app_path="./svc/"),
            workflow(),
            ("https://github.com/acme/shop", "dev", "svc"),
            id="normalised",
        ),
        pytest.param(
            component(),
            workflow(mapping="repoUrl: parameters.repository.url"),
            ("https://github.com/acme/shop", "", ""),
            id="no-branch-mapping-any-branch",
        ),
        pytest.param(
            component(),
            workflow(mapping=None),
            "its workflow maps no repository parameter",
            id="component-workflow-without-mapping",
        ),
        pytest.param(
            component(),
            workflow(mapping=None, annotations={"openchoreo.dev/description": "x"}),
            "its workflow is no component workflow",
            id="not-a-component-workflow",
        ),
        pytest.param(
            component(), workflow(mapping="branch: parameters.b"), "no repoUrl", id="no-repo-mapping"
        ),
        pytest.param(component(url=""), workflow(), "is not a repository URL", id="empty-url"),
    ],
)
def test_component_source(comp, wf, expected):
    source = component_source(comp, wf)
    if isinstance(expected, str):
        assert isinstance(source, str)
        assert expected in source
    else:
        assert expected == (source.repository, source.branch, source.app_path)


@pytest.mark.parametrize(
    ("comp", "event", "expected"),
    [
        pytest.param(component(app_path="svc"), push(), None, id="matches"),
        pytest.param(component(), push(paths=("docs/readme.md",)), None, id="whole-repo-app-path"),
        pytest.param(
            component(app_path="svc"),
            push(paths=("docs/readme.md",)),
            "no changed path under 'svc'",
            id="path-filtered",
        ),
        pytest.param(component(app_path="svc"), push(paths=("svc",)), None, id="app-path-itself"),
        pytest.param(
            component(app_path="svc"),
            push(paths=("svc-old/x",)),
            "no changed path under 'svc'",
            id="prefix-is-not-a-dir",
        ),
        pytest.param(component(app_path="svc"), push(paths=None), None, id="unknown-paths-match"),
        pytest.param(component(branch="dev"), push(), "branch 'main' is not 'dev'", id="branch-filtered"),
        pytest.param(
            component(url="https://github.com/acme/other"), push(), "another repository", id="other-repo"
        ),
        pytest.param(
            component(),
            push(provider="gitlab"),
            "the repository is hosted by github, the push came from gitlab",
            id="wrong-provider-for-host",
        ),
        pytest.param(
            component(url="https://git.example.com/acme/shop"),
            push(provider="gitlab", repos=("https://git.example.com/acme/shop",)),
            "the repository is on a host configured for no provider, the push came from gitlab",
            id="self-hosted-unconfigured-is-refused",
        ),
        pytest.param(
            component(url="https://git.acme.dev/acme/shop"),
            push(provider="gitlab", repos=("https://git.acme.dev/acme/shop",)),
            None,
            id="self-hosted-configured-provider",
        ),
        pytest.param(
            component(url="https://git.acme.dev/acme/shop"),
            push(provider="github", repos=("https://git.acme.dev/acme/shop",)),
            "the repository is hosted by gitlab, the push came from github",
            id="self-hosted-other-provider",
        ),
    ],
)
def test_match(comp, event, expected):
    source = component_source(comp, workflow())
    assert expected == match(source, event, MAIN, {"git.acme.dev": "gitlab"})


@pytest.mark.parametrize(
    "app_path", ["../../etc", "svc/../..", "$(id)", "svc; rm -rf /", "-rf", "a//b/../c", "svc\nx"]
)
def test_a_component_with_an_unsafe_app_path_takes_no_part(app_path):
    reason = component_source(component(app_path=app_path), workflow())

    assert isinstance(reason, str)
    assert reason.startswith("its app path")


def test_build_run_writes_commit_and_keeps_parameters():
    source = component_source(component(app_path="svc", extra={"docker": {"context": "."}}), workflow())
    run = build_run(source, push(), MAIN, "delivery-1")
    assert {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "WorkflowRun",
        "metadata": {
            "name": run_name("shop", f"github\nhttps://github.com/acme/shop\nteam/shop\nmain\n{COMMIT}"),
            "namespace": "team",
            "labels": {"openchoreo.dev/project": "web", "openchoreo.dev/component": "shop"},
            "annotations": {
                "openchoreo.dev/autobuild-provider": "github",
                "openchoreo.dev/autobuild-commit": COMMIT,
                "openchoreo.dev/autobuild-delivery": "delivery-1",
            },
        },
        "spec": {
            "workflow": {
                "kind": "Workflow",
                "name": "docker",
                "parameters": {
                    "repository": {
                        "url": "https://github.com/acme/shop",
                        "revision": {"commit": COMMIT},
                        "appPath": "svc",
                    },
                    "docker": {"context": "."},
                },
            }
        },
    } == run


def test_build_run_records_the_commit_time_that_orders_builds_of_one_second():
    source = component_source(component(), workflow())
    pushed = PushedBranch("main", COMMIT, "2026-05-01T10:00:05Z")
    annotations = build_run(source, push(), pushed, "")["metadata"]["annotations"]
    assert "2026-05-01T10:00:05Z" == annotations["openchoreo.dev/autobuild-commit-time"]


def test_build_run_any_branch_component_gets_the_pushed_branch():
    source = component_source(
        component(), workflow(mapping="repoUrl: parameters.repository.url\nbranch: parameters.b")
    )
    pushed = PushedBranch("feature/x", COMMIT)
    assert "feature/x" == build_run(source, push(), pushed, "d")["spec"]["workflow"]["parameters"]["b"]


OTHER_COMMIT = "0" * 39 + "1"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(("d-1", MAIN), ("d-1", MAIN), True, id="redelivery-same-name"),
        pytest.param(("d-1", MAIN), ("d-2", MAIN), True, id="replay-with-a-new-id-same-name"),
        pytest.param(("d-1", MAIN), ("", MAIN), True, id="replay-without-an-id-same-name"),
        pytest.param(("d-1", MAIN), ("d-1", PushedBranch("main", OTHER_COMMIT)), False, id="new-commit"),
        pytest.param(("d-1", MAIN), ("d-1", PushedBranch("dev", COMMIT)), False, id="other-branch"),
    ],
)
def test_run_names_hash_what_the_signature_covers(a, b, same):
    source = component_source(component(), workflow())
    name_a = build_run(source, push(), a[1], a[0])["metadata"]["name"]
    name_b = build_run(source, push(), b[1], b[0])["metadata"]["name"]
    assert same == (name_a == name_b)
    a = name_a
    assert a.startswith("shop-run-")
    assert len(a) == len("shop-run-") + 8


def test_run_name_is_a_dns_label_for_long_components():
    name = run_name("c" * 80, "seed")
    assert 63 == len(name)
    assert name.startswith("c" * 50 + "-run-")


def test_build_run_refuses_a_malformed_commit():
    source = component_source(component(), workflow())
    with pytest.raises(ValueError, match="not a hexadecimal SHA"):
        build_run(source, push(), PushedBranch("main", "$(rm -rf /)"), "d")


def test_source_key():
    assert ObjectKey("team", "shop") == component_source(component(), workflow()).key


V1 = Path(__file__).resolve().parents[1] / "data" / "openchoreo" / "v1.2.3"


def test_a_1x_component_is_matched_through_the_schema_extensions_of_its_clusterworkflow():
    """OpenChoreo v1.2.3's own dockerfile-builder and latency-lab frontend, unchanged."""
    (builder,) = yaml.safe_load_all(
        (V1 / "samples/getting-started/ci-workflows/dockerfile-builder.yaml").read_text()
    )
    frontend = next(
        yaml.safe_load_all(
            (V1 / "samples/from-source/projects/latency-lab/components/frontend.yaml").read_text()
        )
    )
    source = component_source({**frontend, "spec": {**frontend["spec"], "autoBuild": True}}, builder)
    assert not isinstance(source, str), source
    assert (
        "ClusterWorkflow",
        "https://github.com/openchoreo/sample-workloads",
        "main",
        "project-latency-lab/frontend",
        {
            "repoUrl": "parameters.repository.url",
            "branch": "parameters.repository.revision.branch",
            "commit": "parameters.repository.revision.commit",
            "appPath": "parameters.repository.appPath",
            "secretRef": "parameters.repository.secretRef",
        },
    ) == (source.workflow_kind, source.repository, source.branch, source.app_path, source.mapping)
