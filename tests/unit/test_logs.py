"""JSON logs through stdlib, redaction, and the reconcile context."""

import io
import json
import logging

import pytest
import structlog

from choreo_controller import logs


@pytest.fixture
def lines():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream, cache_loggers=False)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if isinstance(h, logs._OurHandler)]:
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        structlog.reset_defaults()


def test_structlog_event_is_one_json_line(lines):
    structlog.get_logger("choreo").info("reconciled", phase="Running")

    [line] = lines()

    assert {"event": "reconciled", "phase": "Running", "level": "info", "logger": "choreo"} == {
        k: line[k] for k in ("event", "phase", "level", "logger")
    }
    assert line["timestamp"].endswith("Z")


def test_stdlib_records_come_out_as_json_too(lines):
    logging.getLogger("aiohttp.access").warning("GET /healthz %s", 200)

    [line] = lines()

    assert ("GET /healthz 200", "warning", "aiohttp.access") == (line["event"], line["level"], line["logger"])


def test_level_filters(lines):
    log = structlog.get_logger("choreo")
    log.debug("hidden")
    log.info("shown")

    assert ["shown"] == [line["event"] for line in lines()]


def test_configure_twice_keeps_one_handler(lines):
    logs.configure("INFO", stream=io.StringIO(), cache_loggers=False)

    assert 1 == sum(isinstance(h, logs._OurHandler) for h in logging.getLogger().handlers)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({"token": "abc"}, {"token": "[REDACTED]"}, id="token"),
        pytest.param({"bearerToken": "abc"}, {"bearerToken": "[REDACTED]"}, id="camel-case"),
        pytest.param({"client_secret": "x"}, {"client_secret": "[REDACTED]"}, id="secret"),
        pytest.param({"Password": "x"}, {"Password": "[REDACTED]"}, id="password-any-case"),
        pytest.param({"authorization": "Bearer x"}, {"authorization": "[REDACTED]"}, id="authorization"),
        pytest.param({"response_body": b"{}"}, {"response_body": "[REDACTED]"}, id="body"),
        pytest.param({"payload": {"a": 1}}, {"payload": "[REDACTED]"}, id="payload"),
        pytest.param(
            {"request": {"headers": {"Authorization": "x", "Accept": "json"}}},
            {"request": {"headers": {"Authorization": "[REDACTED]", "Accept": "json"}}},
            id="nested",
        ),
        pytest.param(
            {"items": [{"password": "x", "name": "n"}]},
            {"items": [{"password": "[REDACTED]", "name": "n"}]},
            id="in-a-list",
        ),
        pytest.param(
            {"key": "ns/name", "reason": "Conflict", "retries": 3},
            {"key": "ns/name", "reason": "Conflict", "retries": 3},
            id="ordinary-fields-untouched",
        ),
    ],
)
def test_redact(fields, expected):
    actual = logs.redact(None, "info", {"event": "e", **fields})

    assert {"event": "e", **expected} == actual


def test_redaction_reaches_the_output(lines):
    structlog.get_logger("choreo").info("calling", authorization="Bearer hunter2", path="/api")

    [line] = lines()

    assert ("[REDACTED]", "/api") == (line["authorization"], line["path"])
    assert "hunter2" not in json.dumps(line)


def test_reconcile_context_binds_and_restores(lines):
    log = structlog.get_logger("choreo")
    structlog.contextvars.bind_contextvars(request="outer")
    try:
        with logs.reconcile_context("things", "ns/a") as reconcile_id:
            log.info("inside")
        log.info("outside")
    finally:
        structlog.contextvars.clear_contextvars()

    inside, outside = lines()

    assert {"controller": "things", "key": "ns/a", "reconcile_id": reconcile_id, "request": "outer"} == {
        k: inside[k] for k in ("controller", "key", "reconcile_id", "request")
    }
    assert {"event": "outside", "request": "outer"} == {k: outside[k] for k in ("event", "request")}
    assert "reconcile_id" not in outside


def test_reconcile_context_restores_an_outer_binding_of_its_keys(lines):
    log = structlog.get_logger("choreo")
    structlog.contextvars.bind_contextvars(key="outer-key")
    try:
        with logs.reconcile_context("things", "ns/a"):
            with logs.reconcile_context("others", "ns/b"):
                log.info("nested")
            log.info("inside")
        log.info("outside")
    finally:
        structlog.contextvars.clear_contextvars()

    assert [("others", "ns/b"), ("things", "ns/a"), (None, "outer-key")] == [
        (line.get("controller"), line.get("key")) for line in lines()
    ]


def test_bind_and_clear_reconcile(lines):
    log = structlog.get_logger("choreo")

    logs.bind_reconcile("things", "ns/a", "abc123")
    log.info("bound")
    logs.clear_reconcile()
    log.info("cleared")

    bound, cleared = lines()
    assert ("things", "ns/a", "abc123") == (bound["controller"], bound["key"], bound["reconcile_id"])
    assert set() == {"controller", "key", "reconcile_id"} & set(cleared)


def test_reconcile_ids_are_short_and_distinct():
    ids = {logs.new_reconcile_id() for _ in range(100)}

    assert 100 == len(ids)
    assert {16} == {len(i) for i in ids}
    assert all(int(i, 16) >= 0 for i in ids)
