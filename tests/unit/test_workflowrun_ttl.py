"""TTL after completion: parsing and arithmetic (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from choreo_controller.reconcilers.workflowrun.ttl import (
    MAX_TTL,
    NEVER,
    expiry,
    parse_time,
    parse_ttl,
    seconds_left,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(None, None, id="missing"),
        pytest.param("", None, id="empty"),
        pytest.param("5s", timedelta(seconds=5), id="seconds"),
        pytest.param("90d", timedelta(days=90), id="days"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="hours-minutes"),
        pytest.param("1d12h30m15s", timedelta(days=1, hours=12, minutes=30, seconds=15), id="all-units"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param("90m", timedelta(minutes=90), id="unnormalised"),
        pytest.param("99999999999999d", MAX_TTL, id="clamped"),
    ],
)
def test_parse_ttl(text, expected):
    assert expected == parse_ttl(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("5", id="no-unit"),
        pytest.param("1m1h", id="wrong-order"),
        pytest.param("1w", id="weeks"),
        pytest.param("-5s", id="negative"),
        pytest.param("1h 30m", id="space"),
        pytest.param("1.5h", id="fraction"),
    ],
)
def test_parse_ttl_rejects(text):
    with pytest.raises(ValueError, match="not of the form"):
        parse_ttl(text)


DONE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ttl", "now", "expected"),
    [
        pytest.param(timedelta(seconds=5), DONE, 5.0, id="just-completed"),
        pytest.param(timedelta(seconds=5), DONE + timedelta(seconds=3.5), 1.5, id="part-way"),
        pytest.param(timedelta(seconds=5), DONE + timedelta(seconds=5), 0.0, id="due"),
        pytest.param(timedelta(seconds=5), DONE + timedelta(hours=1), 0.0, id="overdue-never-negative"),
        pytest.param(MAX_TTL, DONE, MAX_TTL.total_seconds(), id="century"),
    ],
)
def test_seconds_left(ttl, now, expected):
    assert expected == seconds_left(expiry(ttl, DONE), now)


@pytest.mark.parametrize(("ttl", "done"), [(None, DONE), (timedelta(seconds=5), None), (None, None)])
def test_without_ttl_or_completion_never_expires(ttl, done):
    assert expiry(ttl, done) == NEVER
    assert seconds_left(NEVER, DONE + MAX_TTL) == NEVER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-03-01T12:00:00Z", DONE, id="rfc3339"),
        pytest.param(None, None, id="missing"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_time(text, expected):
    assert expected == parse_time(text)
