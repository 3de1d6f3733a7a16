"""Prometheus metrics: controller-runtime and workqueue names, plus the engine's own."""
