#!/usr/bin/env python3
"""Benchmark: render the Docker sample, engine vs naive celpy, in one run.

engine: choreo_controller.render.render_run (compile cache keyed by expression text, field paths resolved
        without the interpreter, metered evaluation for the rest).
naive:  the same template walk, but every ${...} compiled with celpy and evaluated each time (one
        celpy.Environment, context converted once per render), i.e. what a straightforward port does.

cold:   compiling a Workflow of 40 distinct expressions with empty caches (``check_workflow``, what the
        Workflow controller does when a Workflow changes); the parser itself is built once per process, at
        import, and is reported on its own line.

Usage: hack/bench/bench_render.py [--iterations N]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Any

import celpy
import yaml
from celpy.adapter import CELJSONEncoder, json_to_cel

from choreo_controller import render, schema
from choreo_controller.render import scan
from choreo_controller.render.cel import compile_expression
from choreo_controller.render.functions import FUNCTIONS

IMPORT_TIMER = """
import time
started = time.perf_counter()
import choreo_controller.render
print(time.perf_counter() - started)
"""
SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8"))


def naive_walk(node: Any, env: celpy.Environment, activation: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {naive_walk(k, env, activation): naive_walk(v, env, activation) for k, v in node.items()}
    if isinstance(node, list):
        return [naive_walk(item, env, activation) for item in node]
    if not isinstance(node, str):
        return node
    parsed = scan.parse(node)
    values = []
    for expr in parsed.expressions():
        program = env.program(env.compile(expr.text), functions=FUNCTIONS)
        values.append(json.loads(json.dumps(program.evaluate(activation), cls=CELJSONEncoder)))
    if parsed.whole is not None:
        return values[0]
    if parsed.is_literal:
        return parsed.literal()
    it = iter(values)
    return "".join(
        p if isinstance(p, str) else (v if isinstance(v := next(it), str) else json.dumps(v))
        for p in parsed.parts
    )


def naive_render(workflow: dict[str, Any], context: dict[str, Any], env: celpy.Environment) -> list[Any]:
    activation = {name: json_to_cel(value) for name, value in context.items()}
    spec = workflow["spec"]
    out = [
        naive_walk(resource["template"], env, activation)
        for resource in spec.get("resources", [])
        if naive_walk(resource["includeWhen"], env, activation)
    ]
    return [*out, naive_walk(spec["runTemplate"], env, activation)]


def timed(fn: Any, iterations: int) -> list[float]:
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def forty_expressions(workflow: dict[str, Any]) -> dict[str, Any]:
    """The Docker sample's own expressions, topped up with distinct everyday ones to 40."""
    texts = list(
        dict.fromkeys(e.text for s in _strings(workflow["spec"]) for e in scan.parse(s).expressions())
    )
    extra = [
        f"parameters.docker.platforms.size() > {i} ? parameters.docker.platforms[0] + '-{i}' : 'none'"
        for i in range(40)
    ]
    texts = (texts + extra)[:40]
    parameters = [{"name": f"p{i}", "value": "${" + text + "}"} for i, text in enumerate(texts)]
    argo = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "cold"}}
    return {"spec": {"runTemplate": {**argo, "spec": {"arguments": {"parameters": parameters}}}}}


def cold_compile(workflow: dict[str, Any], iterations: int) -> float:
    samples = []
    for _ in range(iterations):
        compile_expression.cache_clear()
        scan.parse.cache_clear()
        start = time.perf_counter()
        problems = render.check_workflow(workflow)
        samples.append(time.perf_counter() - start)
        if problems:
            raise SystemExit(f"the 40-expression Workflow is invalid: {problems}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()

    workflow = load("workflow-docker.yaml")
    run = load("workflowrun-docker-private.yaml")
    refs = {"git-credentials": load("secretreference-git.yaml")}
    plane = load("buildplane.yaml")
    params = schema.resolve_parameters(workflow, run["spec"]["workflow"]["parameters"]).values
    expressions = sum(len(scan.parse(s).expressions()) for s in _strings(workflow["spec"]))

    def engine() -> None:
        render.render_run(workflow, run, refs, plane, parameters=params)

    def full() -> None:
        p = schema.resolve_parameters(workflow, run["spec"]["workflow"]["parameters"]).values
        render.render_run(workflow, run, refs, plane, parameters=p)

    env = celpy.Environment()
    context = render.build_context(run, params, refs, plane)

    def naive() -> None:
        naive_render(workflow, context, env)

    for fn in (engine, full, naive):
        fn()  # warm caches (and compile every expression once for the engine)
    engine_s = statistics.median(timed(engine, args.iterations))
    full_s = statistics.median(timed(full, args.iterations))
    naive_s = statistics.median(timed(naive, max(args.iterations // 10, 10)))
    print(
        f"Docker sample: {expressions} expressions (workflow-docker.yaml + workflowrun-docker-private.yaml)"
    )
    print(f"engine render_run        median {engine_s * 1e3:7.3f} ms   {1 / engine_s:8.0f} renders/s")
    print(f"engine resolve+render    median {full_s * 1e3:7.3f} ms   {1 / full_s:8.0f} renders/s")
    print(
        f"naive celpy (compile+eval each time) median {naive_s * 1e3:7.3f} ms   {1 / naive_s:8.0f} renders/s"
    )
    print(f"speed-up render_run vs naive: {naive_s / engine_s:.1f}x")
    cold = forty_expressions(workflow)
    cold_s = cold_compile(cold, 20)
    print(f"cold compile of 40 expressions (check_workflow, empty caches) median {cold_s * 1e3:7.3f} ms")
    code = IMPORT_TIMER
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    imported_ms = float(done.stdout) * 1e3
    print(f"import of choreo_controller.render in a new process (builds the parser) {imported_ms:.1f} ms")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


if __name__ == "__main__":
    main()
