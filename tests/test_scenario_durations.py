"""Durations in drill files: 250ms, 30s, 2m, 1h30m, numbers of seconds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashlab.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1h0m5s", 3605.0),
        ("1.5s", 1.5),
        ("2m500ms", 120.5),
        ("0", 0.0),
        ("45", 45.0),
        (" 10s ", 10.0),
        (12, 12.0),
        (0.5, 0.5),
    ],
)
def test_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "10x", "s", "1d", "5m1h", "-5s", "ms", "1.s", "nan", "inf", True, None, [1]]
)
def test_parse_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (3605, "1h0m5s"), (2.5, "2.5s")],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10 * 24 * 3600 * 1000))
def test_format_then_parse_round_trips(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-9)
