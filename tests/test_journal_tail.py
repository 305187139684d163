"""Following a journal while writers append to it (``JournalTail``), and a record glued to a torn one is
recovered by every reader (a killed writer must not hide the next writer's record)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashlab.journal import MAX_LINE_BYTES, Journal, JournalTail, scan_journal


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


def test_a_record_glued_to_a_torn_one_is_read_by_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, source="runner")
    j.write("run", "started", scenario="x")
    torn = b'{"ts":"2026-11-29T17:40:01.123Z","type":"process","event":"ex'  # killed mid-write
    _append(path, torn)
    j.write("team", "ack", actor="bo", page_id="p1", alert="CrashLoop")
    j.write("run", "ended", scenario="x")
    events, bad = scan_journal(path)
    assert [(e.type, e.event) for e in events] == [("run", "started"), ("team", "ack"), ("run", "ended")]
    assert events[1].get("actor") == "bo"
    assert [(b.line, b.why) for b in bad] == [(2, f"{len(torn)} bytes of a torn record before this one")]
    tail = JournalTail(path)
    assert [(e.type, e.event) for e in tail.poll()] == [(e.type, e.event) for e in events]
    assert [(b.line, b.why) for b in tail.bad] == [(b.line, b.why) for b in bad]


def test_a_nested_ts_key_is_not_taken_for_a_record(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    nested = b'{"ts":"2026-11-29T17:40:01.123Z","type":"run","event":"started"}'
    _append(path, b'{"params": ' + nested + b', "rest": \n')
    events, bad = scan_journal(path)
    assert events == [] and len(bad) == 1 and bad[0].why.startswith("not JSON")


def test_the_tail_returns_what_was_appended_since_the_last_poll(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    tail = JournalTail(path)
    assert tail.poll() == []  # no file yet
    j = Journal(path, source="console")
    j.write("team", "joined", actor="ana", role="incident_commander")
    first = tail.poll()
    assert [e.get("actor") for e in first] == ["ana"]
    assert tail.poll() == []
    j.write("team", "joined", actor="bo", role="on_call")
    j.write("team", "joined", actor="cy", role="scribe")
    assert [e.get("actor") for e in tail.poll()] == ["bo", "cy"]


def test_a_line_being_written_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    line = b'{"ts":"2026-11-29T17:40:01.123Z","type":"team","event":"note","source":"c","text":"hi"}\n'
    tail = JournalTail(path)
    _append(path, line[:30])
    assert tail.poll() == [] and tail.bad == []
    _append(path, line[30:])
    (event,) = tail.poll()
    assert event.get("text") == "hi" and tail.bad == []


def test_bad_lines_are_named_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, source="console")
    j.write("team", "joined", actor="ana", role="observer")
    _append(path, b"[1, 2, 3]\n\n{not json\n")
    _append(path, b"x" * (MAX_LINE_BYTES + 10))  # an over-long line, its newline still to come
    tail = JournalTail(path)
    assert [e.get("actor") for e in tail.poll()] == ["ana"]
    _append(path, b"yyy\n")
    j.write("team", "joined", actor="bo", role="observer")
    assert [e.get("actor") for e in tail.poll()] == ["bo"]
    assert [(b.line, b.why.split(" (")[0]) for b in tail.bad] == [
        (2, "not a JSON object"),
        (4, "not JSON"),
        (5, f"longer than {MAX_LINE_BYTES} bytes"),
    ]


def test_a_replaced_or_shrunk_journal_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal(path, source="console")
    j.write("team", "joined", actor="ana", role="observer")
    j.write("team", "joined", actor="bo", role="observer")
    tail = JournalTail(path)
    assert len(tail.poll()) == 2 and tail.restarts == 0
    replacement = tmp_path / "other.jsonl"
    Journal(replacement, source="console").write("team", "joined", actor="cy", role="observer")
    os.replace(replacement, path)
    assert [e.get("actor") for e in tail.poll()] == ["cy"] and tail.restarts == 1


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_the_tail_in_any_slices_reads_what_the_whole_file_holds(tmp_path_factory, cuts: list[int]) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("tail") / "journal.jsonl"
    source = Path(str(path) + ".src")
    j = Journal(source, source="console")
    for i in range(20):
        j.write("team", "note", actor=f"m{i}", note_id=str(i), kind="note", text="é" * i)
    _append(source, b"[1]\n{broken\n")
    j.write("team", "resolve", actor="ana", summary="done")
    data = source.read_bytes()
    tail = JournalTail(path)
    got = []
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        have = path.stat().st_size if path.exists() else 0
        if cut > have:
            _append(path, data[have:cut])
        got.extend(tail.poll())
    events, bad = scan_journal(source)
    assert [e.to_json() for e in got] == [e.to_json() for e in events]
    assert [(b.line, b.why) for b in tail.bad] == [(b.line, b.why) for b in bad]
