"""/metrics exposes controller-runtime's and client-go workqueue's names, label sets and buckets exactly."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from choreo_controller.metrics import RECONCILE_TIME_BUCKETS, Metrics
from choreo_controller.runtime.clock import FakeClock
from choreo_controller.runtime.queue import RateLimitingQueue
from choreo_controller.runtime.ratelimit import default_controller_rate_limiter

CONTROLLER_RUNTIME = {
    # name: (type, label names) - pkg/internal/controller/metrics/metrics.go
    "controller_runtime_reconcile_total": ("counter", {"controller", "result"}),
    "controller_runtime_reconcile_errors_total": ("counter", {"controller"}),
    "controller_runtime_terminal_reconcile_errors_total": ("counter", {"controller"}),
    "controller_runtime_reconcile_panics_total": ("counter", {"controller"}),
    "controller_runtime_reconcile_time_seconds": ("histogram", {"controller"}),
    "controller_runtime_max_concurrent_reconciles": ("gauge", {"controller"}),
    "controller_runtime_active_workers": ("gauge", {"controller"}),
    # pkg/metrics/workqueue.go
    "workqueue_depth": ("gauge", {"name", "controller", "priority"}),
    "workqueue_adds_total": ("counter", {"name", "controller"}),
    "workqueue_queue_duration_seconds": ("histogram", {"name", "controller"}),
    "workqueue_work_duration_seconds": ("histogram", {"name", "controller"}),
    "workqueue_unfinished_work_seconds": ("gauge", {"name", "controller"}),
    "workqueue_longest_running_processor_seconds": ("gauge", {"name", "controller"}),
    "workqueue_retries_total": ("counter", {"name", "controller"}),
}
ENGINE = {
    "choreo_workflowruns_total": ("counter", {"result"}),
    "choreo_workflowrun_duration_seconds": ("histogram", set()),
    "choreo_render_seconds": ("histogram", set()),
    "choreo_status_lag_seconds": ("histogram", set()),
    "choreo_relay_connections": ("gauge", {"plane"}),
    "choreo_relay_request_seconds": ("histogram", {"plane"}),
    "choreo_relay_reconnects_total": ("counter", {"plane"}),
    "choreo_event_loop_lag_seconds": ("histogram", set()),
}
# Go's ExponentialBuckets(10e-9, 10, 12) as client_golang prints them (Python prints 1.0 where Go prints 1).
WORKQUEUE_LE = [
    *("1e-08", "1e-07", "1e-06", "9.999999999999999e-06", "9.999999999999999e-05", "0.001", "0.01"),
    *("0.1", "1.0", "10.0", "100.0", "1000.0", "+Inf"),
]


def scrape(metrics):
    body, content_type = metrics.render_latest()
    samples = [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]
    return content_type, samples, {f.name: f.type for f in text_string_to_metric_families(body.decode())}


@pytest.fixture
def exercised():
    """A Metrics with one controller initialised and one key through its queue, plus engine series."""
    metrics = Metrics()
    clock = FakeClock()
    metrics.init_controller("things", 2)
    queue = RateLimitingQueue(
        "things", clock, default_controller_rate_limiter(clock), metrics=metrics.workqueue
    )
    queue.add("a")
    queue.add_rate_limited("b")
    metrics.workflowruns.labels("Succeeded").inc()
    metrics.relay_connections.labels("plane-a").set(1)
    metrics.relay_request_seconds.labels("plane-a").observe(0.01)
    metrics.relay_reconnects.labels("plane-a").inc()
    for histogram in (metrics.workflowrun_duration, metrics.render_seconds, metrics.status_lag):
        histogram.observe(1)
    metrics.event_loop_lag.observe(0.001)
    metrics.reconcile_time.labels("things").observe(0.2)
    queue.shutdown()
    return metrics


def test_names_types_and_label_sets_are_controller_runtime_s(exercised):
    _, samples, types = scrape(exercised)
    suffixes = ("_bucket", "_count", "_sum")

    actual = {}
    for sample in samples:
        name = sample.name
        if name.startswith(("controller_runtime_", "workqueue_", "choreo_")):
            base = next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name)
            family = base.removesuffix("_total") if base.endswith("_total") else base
            actual[base] = (types[family], set(sample.labels) - {"le"})

    assert CONTROLLER_RUNTIME | ENGINE == actual


def test_series_are_preinitialised_and_labelled_like_controller_runtime(exercised):
    _, samples, _ = scrape(exercised)
    by_name = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append((dict(sample.labels), sample.value))

    assert sorted(
        [
            ({"controller": "things", "result": r}, 0.0)
            for r in ("error", "requeue", "requeue_after", "success")
        ],
        key=str,
    ) == sorted(by_name["controller_runtime_reconcile_total"], key=str)
    assert [({"controller": "things"}, 2.0)] == by_name["controller_runtime_max_concurrent_reconciles"]
    assert [({"controller": "things"}, 0.0)] == by_name["controller_runtime_active_workers"]
    assert [({"name": "things", "controller": "things", "priority": ""}, 1.0)] == by_name["workqueue_depth"]
    assert [({"name": "things", "controller": "things"}, 1.0)] == by_name["workqueue_adds_total"]
    assert [({"name": "things", "controller": "things"}, 1.0)] == by_name["workqueue_retries_total"]


def test_no_created_series_and_process_collectors_present(exercised):
    _, samples, _ = scrape(exercised)
    names = {s.name for s in samples}

    assert set() == {n for n in names if n.endswith("_created")}
    assert "process_cpu_seconds_total" in names
    assert "python_info" in names


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        pytest.param(
            "controller_runtime_reconcile_time_seconds",
            [*(repr(float(b)) for b in RECONCILE_TIME_BUCKETS), "+Inf"],
            id="reconcile-time",
        ),
        pytest.param("workqueue_queue_duration_seconds", WORKQUEUE_LE, id="queue-duration"),
        pytest.param("workqueue_work_duration_seconds", WORKQUEUE_LE, id="work-duration"),
    ],
)
def test_buckets(exercised, metric, expected):
    _, samples, _ = scrape(exercised)

    actual = [s.labels["le"] for s in samples if s.name == metric + "_bucket"]

    assert expected == actual
    assert 40 == len(RECONCILE_TIME_BUCKETS)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(None, "text/plain; version=0.0.4; charset=utf-8", id="default-classic-text"),
        pytest.param(
            "application/openmetrics-text; version=1.0.0",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
            id="openmetrics",
        ),
    ],
)
def test_content_type_negotiation(accept, expected):
    body, content_type = Metrics(process_collectors=False).render_latest(accept)

    assert expected == content_type
    assert b"controller_runtime_reconcile_time_seconds" in body


def test_each_instance_has_its_own_registry():
    first, second = Metrics(), Metrics()
    first.init_controller("x", 1)

    assert 1 == first.registry.get_sample_value(
        "controller_runtime_max_concurrent_reconciles", {"controller": "x"}
    )
    assert None is second.registry.get_sample_value(
        "controller_runtime_max_concurrent_reconciles", {"controller": "x"}
    )
