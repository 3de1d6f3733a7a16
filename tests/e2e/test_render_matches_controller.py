"""``choreo-controller render`` on files predicts what the controller creates for the same files applied.

The files are applied with the real ``kubectl`` to the real control plane, so YAML 1.1 reading, the
apiserver's JSON and the controller's render all take part: a ``number`` written ``3.0``, an ``integer``
written ``7.0``, a map key ``n`` (a YAML 1.1 boolean), a JSON-array string in ``command`` and in a
parameter value, a map under ``value``, doubles as Argo arguments, an optional field, a SecretReference
``refreshInterval``. Every field of the predicted objects must be in the created ones with the same value
(lists item by item); the created ones may have more (the apiserver adds CRD defaults, Argo empty
``inputs``/``outputs``). The unknown parameter is rendered and reported: a
stderr warning offline, an ``UnknownParameters`` Event on the run.
"""

from __future__ import annotations

import asyncio
import json
import textwrap

import pytest

from choreo_controller.api import conditions as c
from choreo_controller.api import labels
from choreo_controller.api import resources as r
from choreo_controller.cli import EXIT_OK, main

pytestmark = [pytest.mark.cluster, pytest.mark.e2e]

WORKFLOW = """\
apiVersion: openchoreo.dev/v1alpha1
kind: Workflow
metadata: {{name: predict, namespace: {ns}}}
spec:
  schema:
    parameters:
      ratio: number
      count: integer
      tag: string
      flags: map<string>
  externalRefs:
    - {{id: git, apiVersion: openchoreo.dev/v1alpha1, kind: SecretReference, name: git}}
  resources:
    - id: secret
      template:
        apiVersion: external-secrets.io/v1
        kind: ExternalSecret
        metadata: {{name: "${{metadata.workflowRunName}}-git", namespace: "${{metadata.namespace}}"}}
        spec:
          refreshInterval: ${{externalRefs.git.spec.refreshInterval}}
          secretStoreRef: {{name: "${{buildplane.secretStore}}", kind: ClusterSecretStore}}
          target: {{name: "${{metadata.workflowRunName}}-git"}}
          data: '${{externalRefs.git.spec.data.map(d, {{"secretKey": d.secretKey, "remoteRef": d.remoteRef}})}}'
  runTemplate:
    apiVersion: argoproj.io/v1alpha1
    kind: Workflow
    metadata: {{name: "${{metadata.workflowRunName}}", namespace: "${{metadata.namespace}}"}}
    spec:
      entrypoint: main
      arguments:
        parameters:
          - {{name: ratio, value: "${{parameters.ratio * 2.0}}"}}
          - {{name: count, value: "${{parameters.count + 1}}"}}
          - {{name: million, value: "${{1e6}}"}}
          - {{name: flags, value: "${{parameters.flags}}"}}
          - {{name: list, value: '["a", "b"]'}}
          - {{name: extra, value: "${{parameters.?extra.orValue(0)}}"}}
      templates:
        - name: main
          container:
            image: alpine
            command: '["sh", "-c"]'
            args: ['echo ${{parameters.tag}} ${{string(parameters.ratio)}} ${{parameters.flags}}']
            env:
              - {{name: OBJ, value: '${{{{"b": 1, "a": "<&>"}}}}'}}
              - {{name: NAME, value: '${{oc_dns_label(metadata.workflowRunName, parameters.tag)}}'}}
"""
RUN = """\
apiVersion: openchoreo.dev/v1alpha1
kind: WorkflowRun
metadata: {{name: predict-1, namespace: {ns}}}
spec:
  workflow:
    name: predict
    parameters:
      ratio: 3.0
      count: 7.0
      tag: v1
      flags: {{n: "x", z: "1"}}
      extra: 5
"""
SECRET_REFERENCE = """\
apiVersion: openchoreo.dev/v1alpha1
kind: SecretReference
metadata: {{name: git, namespace: {ns}}}
spec:
  refreshInterval: 90m
  template: {{type: kubernetes.io/basic-auth}}
  data:
    - {{secretKey: password, remoteRef: {{key: git/acme, property: token}}}}
"""
BUILD_PLANE = """\
apiVersion: openchoreo.dev/v1alpha1
kind: BuildPlane
metadata: {{name: default, namespace: {ns}}}
spec:
  planeID: default
  clusterAgent: {{clientCA: {{value: {ca}}}}}
  secretStoreRef: {{name: openbao}}
"""


def subset(expected, actual) -> bool:
    """Every field of ``expected`` is in ``actual`` with the same value (list items likewise)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list) and len(expected) == len(actual) and all(map(subset, expected, actual))
        )
    return expected == actual


async def test_render_on_files_predicts_the_controller(world, control_plane, tmp_path, capsys):
    await world.setup(build_plane=False, secret_reference=False)
    ns = world.namespace
    files = {
        "workflow.yaml": WORKFLOW.format(ns=ns),
        "run.yaml": RUN.format(ns=ns),
        "ref.yaml": SECRET_REFERENCE.format(ns=ns),
        "plane.yaml": BUILD_PLANE.format(ns=ns, ca=json.dumps(world.client_ca)),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")

    code = await asyncio.to_thread(main, [  # the first render imports and builds the parser: not on the loop
        "render", "--workflow", str(tmp_path / "workflow.yaml"), "--run", str(tmp_path / "run.yaml"),
        "--ref", str(tmp_path / "ref.yaml"), "--build-plane", str(tmp_path / "plane.yaml"), "--output", "json",
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert EXIT_OK == code, err
    assert [
        "Warning: UnknownParameters: parameters.extra: not in the Workflow's schema (rendered as given)"
    ] == err.splitlines()
    predicted_secret, predicted_argo = json.loads(out)

    for name in ("plane.yaml", "ref.yaml", "workflow.yaml", "run.yaml"):
        await asyncio.to_thread(control_plane.kubectl, "apply", "-f", str(tmp_path / name))
    run = await world.wait_run("predict-1", "a runReference", lambda o: "runReference" in o.get("status", {}))
    argo = await world.argo("predict-1")
    secret = await world.bp.get(r.EXTERNAL_SECRET, "predict-1-git", world.build_namespace)

    assert subset(predicted_argo["spec"], argo["spec"]), (predicted_argo["spec"], argo["spec"])
    uid = run["metadata"]["uid"]
    expected_labels = {**predicted_argo["metadata"]["labels"], labels.LABEL_WORKFLOWRUN_UID: uid}
    assert expected_labels.items() <= argo["metadata"]["labels"].items()
    assert subset(predicted_secret["spec"], secret["spec"]), (predicted_secret["spec"], secret["spec"])
    assert "1h30m0s" == secret["spec"]["refreshInterval"]
    arguments = {p["name"]: p["value"] for p in argo["spec"]["arguments"]["parameters"]}
    assert {"ratio": "6", "count": "8", "million": "1e+06", "flags": '{"false":"x","z":"1"}',
            "list": '["a", "b"]', "extra": "5"} == arguments  # fmt: skip
    assert ["sh", "-c"] == argo["spec"]["templates"][0]["container"]["command"]

    events = await world.cp.list(r.EVENT, ns)
    unknown = [e for e in events.items if e["reason"] == c.R_UNKNOWN_PARAMETERS]
    assert unknown, [e["reason"] for e in events.items]
    assert "parameters.extra" in unknown[0]["message"]
