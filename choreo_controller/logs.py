"""Structured JSON logging (structlog through stdlib, so library records come out as JSON too).

Secrets never reach a log line: reconcilers log keys and reasons, never objects or payloads, and the
``redact`` processor drops any event key that looks like it carries one, as a second line of defence.
"""
