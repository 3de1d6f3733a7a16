"""Declared results: ``Workflow.spec.results`` -> ``status.results`` when the run succeeds (``results``)."""

from __future__ import annotations

import pytest
from runworld import BUILD_NS, NS, RunWorld, sample

from choreo_controller.api import conditions as c
from choreo_controller.api import resources as r
from choreo_controller.engines import Observation, StepOutputs
from choreo_controller.reconcilers.workflowrun import results

DECLARED = [
    {"name": "image", "description": "the built image", "valueFrom": {"taskResult": {"task": "run", "result": "image"}}},
    {"name": "commit", "valueFrom": {"taskResult": {"task": "run", "result": "git-revision"}}},
]  # fmt: skip


def _seen(**values):
    step = StepOutputs(frozenset({"run"}), "Succeeded", "2026-01-01T00:00:05Z", values)
    return Observation("Succeeded", "", [], outputs=(step,))


def test_each_declared_result_takes_its_steps_output_in_the_declared_order():
    wanted = results.declared({"spec": {"results": DECLARED}})

    found = results.collect(
        wanted, _seen(image="registry.local/shop:9f3c2b1a", **{"git-revision": "9f3c2b1a"})
    )

    assert [
        {"name": "image", "value": "registry.local/shop:9f3c2b1a"},
        {"name": "commit", "value": "9f3c2b1a"},
    ] == found
    assert "image=registry.local/shop:9f3c2b1a commit=9f3c2b1a" == results.summary(found)


def test_a_result_its_step_did_not_produce_says_so_without_a_value():
    found = results.collect(results.declared({"spec": {"results": DECLARED}}), _seen(image="shop:1"))

    assert {"name": "commit", "message": "step 'run' produced no output 'git-revision'"} == found[1]


def test_values_are_capped_one_by_one_and_in_total():
    many = [
        {"name": f"r{i}", "valueFrom": {"taskResult": {"task": "run", "result": "big"}}} for i in range(10)
    ]

    found = results.collect(results.declared({"spec": {"results": many}}), _seen(big="x" * 5000))

    sizes = [len(entry["value"]) for entry in found]
    assert [results.MAX_VALUE] * 8 + [0, 0] == sizes  # 8 x 4 KiB fill the 32 KiB budget
    assert all(entry["truncated"] for entry in found)
    assert results.MAX_SUMMARY == len(results.summary(found))


def test_a_multibyte_value_is_cut_on_a_character_boundary():
    found = results.collect(results.declared({"spec": {"results": DECLARED[:1]}}), _seen(image="é" * 3000))

    assert (results.MAX_VALUE // 2, True) == (len(found[0]["value"]), found[0]["truncated"])


def test_a_declared_workload_cr_result_names_where_the_workload_comes_from():
    declared = [{"name": "workload-cr", "valueFrom": {"taskResult": {"task": "describe", "result": "doc"}}}]

    assert ("describe", "doc") == results.workload_source(
        results.declared({"spec": {"results": declared}}), "workload-cr"
    )
    assert results.workload_source(results.declared({"spec": {"results": DECLARED}}), "workload-cr") is None


# ---- through the reconciler ------------------------------------------------------------------------------
@pytest.fixture
async def world():
    made = RunWorld()
    workflow = sample("workflow-generic.yaml")
    workflow["spec"]["results"] = DECLARED
    await made.setup(workflow=workflow)
    return made


async def _finish(world, phase, **values):
    argo = world.bp.stored(r.ARGO_WORKFLOW, BUILD_NS, "run-1")
    node = {"displayName": "run", "templateName": "run", "type": "Pod", "phase": phase,
            "templateRef": {"name": "run-container", "template": "run"}, "finishedAt": "2026-01-01T00:00:05Z",
            "outputs": {"parameters": [{"name": k, "value": v} for k, v in values.items()]}}  # fmt: skip
    argo["status"] = {"phase": phase, "nodes": {"run-1-1": node}}
    await world.bp.put(r.ARGO_WORKFLOW, argo, event="MODIFIED")
    await world.step()


async def test_a_succeeded_run_records_its_two_declared_results(world):
    await world.submit()
    await world.step()
    await world.argo_phase("Running")
    await world.step()
    assert "results" not in world.run()["status"]

    await _finish(world, "Succeeded", image="registry.local/shop:9f3c2b1a", **{"git-revision": "9f3c2b1a"})

    st = world.run()["status"]
    assert (("True", c.R_SUCCEEDED), ["registry.local/shop:9f3c2b1a", "9f3c2b1a"]) == (
        world.completed(),
        [entry["value"] for entry in st["results"]],
    )
    assert "image=registry.local/shop:9f3c2b1a commit=9f3c2b1a" == st["resultSummary"]


async def test_a_failed_run_records_no_results(world):
    await world.submit()
    await world.step()

    await _finish(world, "Failed", image="half-built")

    assert (("True", c.R_FAILED), False) == (world.completed(), "results" in world.run()["status"])


async def test_results_are_recorded_once_a_later_workflow_change_does_not_rewrite_them(world):
    await world.submit()
    await world.step()
    await _finish(world, "Succeeded", image="shop:1", **{"git-revision": "1"})
    recorded = world.run()["status"]["results"]
    await world.cp.merge_patch(r.WORKFLOW, "run-container", {"spec": {"results": None}}, namespace=NS)

    await world.step()

    assert recorded == world.run()["status"]["results"]
