"""JSON log lines: one object a line with the contract's fields, whatever the values."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from crashlab.timeutil import iso, now_iso, parse_iso, utcnow
from service.logs import JsonLog

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_lines_are_json_with_the_contract_fields(tmp_path: Path) -> None:
    stream = io.StringIO()
    log = JsonLog("game", stream=stream, path=tmp_path / "game.jsonl")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    log.info("hello", big=2**70, path=Path("a/b"), when=when, text="d\u00e9j\u00e0 \u2603", keys={1: "one"})
    log.line(
        "warning", "request", {"trace_id": "ab" * 16, "span_id": "cd" * 8, "route": "/play", "status": 503}
    )
    log.debug("below the level")
    log.close()
    for text in (stream.getvalue(), (tmp_path / "game.jsonl").read_text(encoding="utf-8")):
        first, second = (json.loads(line) for line in text.splitlines())
        assert TS.fullmatch(first["ts"]) and first["level"] == "info" and first["service"] == "game"
        assert first["big"] == 2**70 and first["path"] == "a/b" and first["when"] == str(when)
        assert first["text"] == "d\u00e9j\u00e0 \u2603" and first["keys"] == {"1": "one"}
        assert list(second) == ["ts", "level", "service", "msg", "trace_id", "span_id", "route", "status"]
        assert second["level"] == "warning" and second["status"] == 503


def test_now_iso_is_iso_of_now() -> None:
    before = parse_iso(iso(utcnow()))
    stamp = now_iso()
    after = utcnow()
    assert TS.fullmatch(stamp)
    assert before <= parse_iso(stamp) <= after
