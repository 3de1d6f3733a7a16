"""Prometheus metrics: controller-runtime and workqueue names, plus the engine's own.

``Metrics`` owns a private ``CollectorRegistry`` (one per instance, so tests never collide on duplicate
registration) holding:

* controller-runtime's controller metrics (``pkg/internal/controller/metrics``), same names, labels and
  buckets, pre-initialised per controller by ``init_controller`` as controller-runtime's ``initMetrics``;
* client-go workqueue metrics as controller-runtime registers them (``pkg/metrics/workqueue.go``): labels
  ``name`` and ``controller`` (both the controller's name), ``depth`` also ``priority`` (empty);
* the engine's ``choreo_*`` metrics, for the reconcilers and the relay;
* process, platform and GC collectors.

Counters and histograms export no ``*_created`` series (prometheus-client adds them by default;
controller-runtime's Go client does not), so a dashboard built for a Go controller reads ours unchanged.

The queue records its metrics through ``WorkqueueMetricsProvider``, a seam with a no-op implementation
(``NOOP_WORKQUEUE_METRICS``) for tests that do not look at metrics. Unfinished-work and longest-running
gauges are computed when scraped (client-go refreshes them every 500 ms); scrape on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from collections.abc import Callable

# controller-runtime pkg/internal/controller/metrics/metrics.go
RECONCILE_TIME_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)


def _exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    # Multiplied step by step as Go's prometheus.ExponentialBuckets, so the float values (and hence the
    # `le` labels, e.g. 9.999999999999999e-06) are the ones a Go controller exports.
    buckets = []
    for _ in range(count):
        buckets.append(start)
        start *= factor
    return tuple(buckets)


# prometheus.ExponentialBuckets(10e-9, 10, 12): 10 ns ... 1000 s
WORKQUEUE_BUCKETS = _exponential_buckets(10e-9, 10, 12)
RESULTS = ("error", "requeue_after", "requeue", "success")

_RUN_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0)
_RENDER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
_RELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream


class CounterMetric(Protocol):
    """What the queue needs of a counter."""

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        ...


class GaugeMetric(Protocol):
    """What the queue needs of a gauge."""

    def inc(self, amount: float = 1) -> None:
        """Add ``amount``."""
        ...

    def dec(self, amount: float = 1) -> None:
        """Subtract ``amount``."""
        ...


class HistogramMetric(Protocol):
    """What the queue needs of a histogram."""

    def observe(self, amount: float) -> None:
        """Record one observation."""
        ...


class WorkqueueMetricsProvider(Protocol):
    """client-go's ``workqueue.MetricsProvider``: one metric handle per queue name."""

    def depth(self, name: str) -> GaugeMetric:
        """``workqueue_depth``."""
        ...

    def adds(self, name: str) -> CounterMetric:
        """``workqueue_adds_total``."""
        ...

    def latency(self, name: str) -> HistogramMetric:
        """``workqueue_queue_duration_seconds``."""
        ...

    def work_duration(self, name: str) -> HistogramMetric:
        """``workqueue_work_duration_seconds``."""
        ...

    def retries(self, name: str) -> CounterMetric:
        """``workqueue_retries_total``."""
        ...

    def unfinished(self, name: str, unfinished: Callable[[], float], longest: Callable[[], float]) -> None:
        """Export ``workqueue_unfinished_work_seconds`` / ``..._longest_running_processor_seconds``."""
        ...


class _Noop:
    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


class NoopWorkqueueMetrics:
    """Records nothing."""

    _metric = _Noop()

    def depth(self, name: str) -> GaugeMetric:  # noqa: ARG002 - interface
        """No-op gauge."""
        return self._metric

    def adds(self, name: str) -> CounterMetric:  # noqa: ARG002 - interface
        """No-op counter."""
        return self._metric

    def latency(self, name: str) -> HistogramMetric:  # noqa: ARG002 - interface
        """No-op histogram."""
        return self._metric

    def work_duration(self, name: str) -> HistogramMetric:  # noqa: ARG002 - interface
        """No-op histogram."""
        return self._metric

    def retries(self, name: str) -> CounterMetric:  # noqa: ARG002 - interface
        """No-op counter."""
        return self._metric

    def unfinished(self, name: str, unfinished: Callable[[], float], longest: Callable[[], float]) -> None:
        """Nothing to export."""


NOOP_WORKQUEUE_METRICS = NoopWorkqueueMetrics()


class Metrics:
    """All metrics of one process, in a registry of their own."""

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.registry = reg = CollectorRegistry()
        if process_collectors:
            prometheus_client.ProcessCollector(registry=reg)
            prometheus_client.PlatformCollector(registry=reg)
            prometheus_client.GCCollector(registry=reg)
        c = ("controller",)
        self.reconcile_total = Counter(
            "controller_runtime_reconcile_total",
            "Total number of reconciliations per controller",
            (*c, "result"),
            registry=reg,
        )
        self.reconcile_errors = Counter(
            "controller_runtime_reconcile_errors_total",
            "Total number of reconciliation errors per controller",
            c,
            registry=reg,
        )
        self.terminal_reconcile_errors = Counter(
            "controller_runtime_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller",
            c,
            registry=reg,
        )
        self.reconcile_panics = Counter(
            "controller_runtime_reconcile_panics_total",
            "Total number of reconciliation panics per controller",
            c,
            registry=reg,
        )
        self.reconcile_time = Histogram(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            c,
            buckets=RECONCILE_TIME_BUCKETS,
            registry=reg,
        )
        self.max_concurrent_reconciles = Gauge(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            c,
            registry=reg,
        )
        self.active_workers = Gauge(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            c,
            registry=reg,
        )
        self._init_workqueue(reg)
        self._init_engine(reg)

    def _init_workqueue(self, reg: CollectorRegistry) -> None:
        q = ("name", "controller")
        self.wq_depth = Gauge(
            "workqueue_depth",
            "Current depth of workqueue by workqueue and priority",
            (*q, "priority"),
            registry=reg,
        )
        self.wq_adds = Counter(
            "workqueue_adds_total", "Total number of adds handled by workqueue", q, registry=reg
        )
        self.wq_latency = Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            q,
            buckets=WORKQUEUE_BUCKETS,
            registry=reg,
        )
        self.wq_work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            q,
            buckets=WORKQUEUE_BUCKETS,
            registry=reg,
        )
        self.wq_unfinished = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads "
            "by observing the rate at which this increases.",
            q,
            registry=reg,
        )
        self.wq_longest = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            q,
            registry=reg,
        )
        self.wq_retries = Counter(
            "workqueue_retries_total", "Total number of retries handled by workqueue", q, registry=reg
        )

    def _init_engine(self, reg: CollectorRegistry) -> None:
        self.workflowruns = Counter(
            "choreo_workflowruns_total", "WorkflowRuns finished, by result", ("result",), registry=reg
        )
        self.workflowrun_duration = Histogram(
            "choreo_workflowrun_duration_seconds",
            "WorkflowRun duration from creation to a terminal phase",
            buckets=_RUN_BUCKETS,
            registry=reg,
        )
        self.render_seconds = Histogram(
            "choreo_render_seconds",
            "Time to render one Workflow template",
            buckets=_RENDER_BUCKETS,
            registry=reg,
        )
        self.status_lag = Histogram(
            "choreo_status_lag_seconds",
            "Delay from a build-plane workflow change to the WorkflowRun status reflecting it",
            buckets=_LAG_BUCKETS,
            registry=reg,
        )
        self.relay_connections = Gauge(
            "choreo_relay_connections", "Connected relay agents, by build plane", ("plane",), registry=reg
        )
        self.relay_request_seconds = Histogram(
            "choreo_relay_request_seconds",
            "Round-trip time of one request through the relay, by build plane",
            ("plane",),
            buckets=_RELAY_BUCKETS,
            registry=reg,
        )
        self.relay_reconnects = Counter(
            "choreo_relay_reconnects_total",
            "Relay agent reconnections, by build plane",
            ("plane",),
            registry=reg,
        )
        self.event_loop_lag = Histogram(
            "choreo_event_loop_lag_seconds",
            "How late a periodic event-loop probe ran (a blocked loop shows here)",
            buckets=_LOOP_LAG_BUCKETS,
            registry=reg,
        )

    def init_controller(self, controller: str, max_concurrent: int) -> None:
        """Export every controller series at 0 (and the worker count), as controller-runtime does."""
        for result in RESULTS:
            self.reconcile_total.labels(controller, result)
        for counter in (self.reconcile_errors, self.terminal_reconcile_errors, self.reconcile_panics):
            counter.labels(controller)
        self.max_concurrent_reconciles.labels(controller).set(max_concurrent)
        self.active_workers.labels(controller).set(0)

    @property
    def workqueue(self) -> WorkqueueMetricsProvider:
        """The provider a queue named after its controller records through."""
        return _PrometheusWorkqueueMetrics(self)

    def render_latest(self, accept: str | None = None) -> tuple[bytes, str]:
        """``(body, content type)`` for ``/metrics``; OpenMetrics if ``accept`` asks for it.

        Send the content type as a header: aiohttp's ``content_type=`` argument rejects the charset in it.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _PrometheusWorkqueueMetrics:
    """controller-runtime's ``PrometheusWorkqueueMetricsProvider``: label values ``(name, name)``."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def depth(self, name: str) -> GaugeMetric:
        return self._m.wq_depth.labels(name, name, "")

    def adds(self, name: str) -> CounterMetric:
        return self._m.wq_adds.labels(name, name)

    def latency(self, name: str) -> HistogramMetric:
        return self._m.wq_latency.labels(name, name)

    def work_duration(self, name: str) -> HistogramMetric:
        return self._m.wq_work_duration.labels(name, name)

    def retries(self, name: str) -> CounterMetric:
        return self._m.wq_retries.labels(name, name)

    def unfinished(self, name: str, unfinished: Callable[[], float], longest: Callable[[], float]) -> None:
        self._m.wq_unfinished.labels(name, name).set_function(unfinished)
        self._m.wq_longest.labels(name, name).set_function(longest)
