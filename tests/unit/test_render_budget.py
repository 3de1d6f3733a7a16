"""Bounded evaluation: CEL bombs fail fast with RenderFailed; budgets per evaluation and per render."""

import re
import time

import pytest

from choreo_controller.contracts import TerminalError
from choreo_controller.render import Budget, RenderFailed, RenderTimedOut, check_workflow, render_run
from choreo_controller.render.budget import EVAL_STEPS, MAX_STRING, MAX_WEIGHT
from choreo_controller.render.cel import compile_expression

RUN = {"metadata": {"name": "run", "namespace": "dev", "uid": "u"}}
RANGE = "[" + ",".join(str(i) for i in range(100)) + "]"
STEPS = re.escape(f"evaluation step budget exhausted ({EVAL_STEPS} steps)")
LONG = re.escape(f"string longer than {MAX_STRING} characters")
LARGE = re.escape(f"value larger than {MAX_WEIGHT} elements")


def nest(seed, layer, times):
    text = seed
    for _ in range(times):
        text = layer.format(text)
    return text


def workflow(*values):
    spec = {"values": [f"${{{value}}}" for value in values]}
    return {
        "spec": {
            "runTemplate": {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "x"},
                "data": spec,
            }
        }
    }


def render(*values, params=None, budget=None):
    return render_run(workflow(*values), RUN, {}, None, parameters=params or {}, budget=budget)


@pytest.mark.parametrize(
    ("expression", "params", "detail"),
    [
        pytest.param(
            f"{RANGE}.map(a, {RANGE}.map(b, {RANGE}.map(c, a + b + c)))",
            {},
            STEPS,
            id="nested-map-over-ranges",
        ),
        pytest.param(
            f"{RANGE}.all(a, {RANGE}.all(b, {RANGE}.exists(c, c < 0)))", {}, STEPS, id="nested-all-exists"
        ),
        pytest.param(
            nest("'xxxxxxxxxxxxxxxx'", "[{}].map(a, a + a)[0]", 24),
            {},
            f"{STEPS}|{LONG}",
            id="string-doubling",
        ),
        pytest.param(
            nest("parameters.s", "[{}].map(a, a + a)[0]", 24),
            {"s": "y" * 64},
            f"{STEPS}|{LONG}",
            id="parameter-doubling",
        ),
        pytest.param(
            nest("parameters.s", "[{}].map(a, a + a)[0]", 8),
            {"s": "y" * 300_000},
            LONG,
            id="big-parameter-doubling",
        ),
        pytest.param(
            nest("[1, 2, 3, 4]", "[{}].map(a, a + a)[0]", 24), {}, f"{STEPS}|{LARGE}", id="list-doubling"
        ),
        pytest.param(nest("[1]", "[{}].map(a, [a, a])[0]", 24), {}, LARGE, id="shared-structure"),
        pytest.param(
            "parameters.s.split('')",
            {"s": "z" * 300_000},
            "split would build a list of more than 200000 items",
            id="split-huge",
        ),
        pytest.param(
            "parameters.s.replace('', parameters.s)",
            {"s": "z" * 2000},
            "replace would build a string longer than 1048576 characters",
            id="replace-blowup",
        ),
        pytest.param("parameters.l.map(x, x)", {"l": list(range(100_000))}, STEPS, id="huge-parameter-list"),
    ],
)
def test_cel_bombs_fail_fast(expression, params, detail):
    assert [] == check_workflow(workflow(expression))  # statically fine (and compiled, as at admission)
    # CPU time, not wall time: other processes on a loaded machine must not decide the outcome (a wall-clock
    # overrun is RenderTimedOut, retried - see the deadline test below).
    start = time.process_time()
    with pytest.raises(RenderFailed) as caught:
        render(expression, params=params, budget=Budget(clock=time.process_time))
    elapsed = time.process_time() - start
    assert "RenderFailed" == caught.value.reason
    assert re.fullmatch(detail, caught.value.detail), caught.value.detail
    assert elapsed < 1.0, f"took {elapsed:.2f}s of CPU"


def test_fast_path_is_metered_too():
    expression = " + ".join(["size(oc_merge(parameters.m, parameters.m))"] * 60)
    assert compile_expression(expression).fast is not None
    start = time.monotonic()
    with pytest.raises(RenderFailed) as caught:
        render(expression, params={"m": {f"k{i}": i for i in range(50_000)}})
    assert re.fullmatch(STEPS, caught.value.detail)
    assert time.monotonic() - start < 1.0


def test_render_step_budget_spans_expressions():
    # Each expression fits its own budget; together they exhaust the render's.
    expression = f"{RANGE}.map(a, a + 1)"
    with pytest.raises(RenderFailed) as caught:
        render(*[expression] * 20, budget=Budget(steps=5000))
    assert "render step budget exhausted" == caught.value.detail
    assert caught.value.path.startswith("runTemplate.data.values[")


def test_render_deadline_is_checked_between_and_inside_evaluations_and_is_not_terminal():
    ticks = iter(range(1000))
    budget = Budget(seconds=5, clock=lambda: float(next(ticks)))  # every clock read is a second later
    with pytest.raises(RenderTimedOut) as caught:  # wall clock: load, not the template; retried by the caller
        render("parameters.l.map(x, x + 1)", params={"l": list(range(100))}, budget=budget)
    assert (False, True) == (
        isinstance(caught.value, TerminalError),
        caught.value.detail in {"render time budget exhausted", "evaluation time budget exhausted"},
    )


def test_legitimate_comprehensions_fit_comfortably():
    params = {"env": {f"VAR_{i}": str(i) for i in range(50)}}
    rendered = render("parameters.env.map(k, {'name': k, 'value': parameters.env[k]})", params=params)
    assert 50 == len(rendered.workflow["data"]["values"][0])


LIMIT = re.escape("format: precision larger than ") + r"\d+"


@pytest.mark.parametrize(
    ("expression", "params", "detail"),
    [
        pytest.param("lists.range(100000)", {}, STEPS, id="lists-range"),
        pytest.param("lists.range(100000).map(x, x)", {}, STEPS, id="lists-range-map"),
        pytest.param(
            "lists.range(100).transformList(i, v, lists.range(100).transformList(j, w, i * j))",
            {},
            STEPS,
            id="nested-transformList",
        ),
        pytest.param(
            "lists.range(50).transformMap(i, v, lists.range(50).transformMap(j, w, lists.range(50)))",
            {},
            STEPS,
            id="nested-transformMap",
        ),
        pytest.param("'%.900000000f'.format([1.0])", {}, LIMIT, id="format-huge-precision"),
        pytest.param(
            "'%.1000000f%.1000000f'.format([1.0, 2.0])",
            {},
            re.escape(f"format: result longer than {MAX_STRING} characters"),
            id="format-wide-precision",
        ),
        pytest.param(
            nest("'ab'", "[{0}].map(a, '%s%s'.format([a, a]))[0]", 22), {}, STEPS, id="format-doubling"
        ),
        pytest.param(
            nest("'x'", "[{0}].map(a, [a, a].join(''))[0]", 22), {}, STEPS, id="repeat-by-join-doubling"
        ),
        pytest.param(
            nest("['x']", "[{0}].map(a, [a, a].flatten())[0]", 22), {}, STEPS, id="flatten-doubling"
        ),
        pytest.param(
            "sets.contains(parameters.l, parameters.l)", {"l": list(range(20_000))}, STEPS, id="sets-product"
        ),
        pytest.param(
            "parameters.l.distinct().sort().reverse().size() > 0 && lists.range(20000).size() > 0",
            {"l": list(range(1000))},
            STEPS,
            id="chained-list-functions",
        ),
        pytest.param(
            "parameters.l.sortBy(x, -x).size()", {"l": list(range(20_000))}, STEPS, id="sortBy-large"
        ),
        pytest.param(
            "strings.quote(parameters.s.replace('a', 'aaaaaaaa'))",
            {"s": "a" * 200_000},
            re.escape("replace would build a string longer than 1048576 characters"),
            id="quote-growth",
        ),
    ],
)
def test_extension_bombs_fail_fast(expression, params, detail):
    # CPU time, for the budget's clock and for the check: load on a shared machine must not turn the step
    # budget's verdict into a wall-clock one, nor make a fast failure look slow.
    start = time.process_time()
    with pytest.raises(RenderFailed) as caught:
        render(expression, params=params, budget=Budget(clock=time.process_time))
    elapsed = time.process_time() - start
    assert "RenderFailed" == caught.value.reason
    assert re.fullmatch(detail, caught.value.detail), caught.value.detail
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
