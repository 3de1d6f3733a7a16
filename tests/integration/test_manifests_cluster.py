"""manifests/ against real apiservers: ``kubectl kustomize`` builds each entry point, and a server-side dry
run of the result is accepted - schemas, defaulting and admission included - with no Pod Security warning
(the namespaces enforce ``restricted``), and every container of the built Deployments - kustomize patches
applied - runs a command line our argparse accepts. The control-plane kustomization goes to the control
plane, the agent's to the build plane."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from choreo_controller.cli import build_parser

pytestmark = pytest.mark.cluster
MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


@pytest.mark.parametrize(
    ("entry", "plane_name"),
    [
        pytest.param("", "control_plane", id="control-plane"),
        pytest.param("build-plane", "build_plane", id="build-plane"),
    ],
)
def test_kustomization_is_accepted_by_the_apiserver(entry, plane_name, request):
    plane = request.getfixturevalue(plane_name)
    built = plane.kubectl("kustomize", str(MANIFESTS / entry)).stdout
    objects = [doc for doc in yaml.safe_load_all(built) if doc]
    for namespace in [o for o in objects if o["kind"] == "Namespace"]:  # dry runs cannot create a namespace
        plane.apply(stdin=yaml.safe_dump(namespace))
    result = plane.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-", stdin=built, check=False
    )
    assert (0, "") == (result.returncode, result.stderr.strip())
    kinds = {o["kind"] for o in objects}
    expected = {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    assert expected <= kinds
    for deployment in [o for o in objects if o["kind"] == "Deployment"]:  # patches included
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert callable(build_parser().parse_args(container["args"]).handler)
