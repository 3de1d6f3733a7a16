"""The unit-test fake's semantics checked against the real kube-apiserver: the same cases, the same answers.

``tests/apisemantics.py`` holds the cases (preconditions, RFC 7386 merge patch, the status subresource,
generation, finalizers, 404/409/422, label selectors); ``tests/unit/test_fakeapi.py`` runs them on
``fakeapi.FakeApi``. If the apiserver answered differently, the fake - and every reconciler test built on
it - would be wrong; this test says so.
"""

from __future__ import annotations

import uuid

import pytest
from apisemantics import CASES

from choreo_controller.api import resources as r
from choreo_controller.kube import connect

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(("case", "expected"), [pytest.param(f, e, id=i) for i, f, e in CASES])
async def test_the_apiserver_answers_as_the_fake(control_plane, case, expected):
    namespace = f"parity-{uuid.uuid4().hex[:8]}"
    async with connect(control_plane.kubeconfig) as api:
        await api.create(
            r.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        try:
            assert expected == await case(api, namespace)
        finally:
            await api.delete(r.NAMESPACE, namespace)
