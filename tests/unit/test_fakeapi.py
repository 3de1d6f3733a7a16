"""The unit-test fake honours the apiserver semantics the reconciler tests rely on (``apisemantics``).

The same cases run on the real control plane in ``tests/integration/test_fakeapi_parity.py``, against the
same expected answers.
"""

from __future__ import annotations

import pytest
from apisemantics import CASES
from fakeapi import FakeApi

from choreo_controller.api import resources as r
from choreo_controller.contracts import Gone


@pytest.mark.parametrize(("case", "expected"), [pytest.param(f, e, id=i) for i, f, e in CASES])
async def test_the_fake_answers_as_the_apiserver(case, expected):
    assert expected == await case(FakeApi(), "ns")


async def test_a_watch_from_a_compacted_resource_version_is_gone():
    api = FakeApi()
    await api.create(
        r.CONFIG_MAP, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}
    )
    api.compact()
    with pytest.raises(Gone):
        await anext(api.watch(r.CONFIG_MAP, "ns", resource_version="0"))
