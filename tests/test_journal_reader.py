"""One malformed line never breaks everything: the journal reader leaves out what is not an event and says
which file and line; ``crashlab chaos revert --all`` and later drills carry on. The manifest reader
answers a mapping or one error naming the file. Both fuzzed with arbitrary JSON and bytes."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashlab.journal import BadLine, Journal, read_journal, scan_journal
from crashlab.rundir import ManifestError, RunDir
from crashlab.timeutil import iso, utcnow
from tests.helpers_scenario import run_cli

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
EVENTISH = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.sampled_from(["2026-11-29T17:40:01.123Z", "yesterday", "0001-01-01T00:00:00+01:00", ""])
        | JSON,
        "type": st.sampled_from(["fault", "run", "process"]) | JSON,
        "event": st.sampled_from(["injected", "started"]) | JSON,
        "source": st.sampled_from(["runner", ""]) | JSON,
        "handle": JSON,
    },
)
LINES = st.one_of(
    EVENTISH.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")),
)

MALFORMED = [
    (b'{"type": "fault", "event": "injected", "source": "x"}', "no 'ts'"),
    (b"[1, 2, 3]", "not a JSON object (got list)"),
    (b"{not json", "not JSON"),
    (b'{"ts": "yesterday", "type": "run", "event": "started"}', "'ts' is not an ISO timestamp"),
    (
        b'{"ts": "0001-01-01T00:00:00+01:00", "type": "run", "event": "started"}',
        "'ts' is not an ISO timestamp",
    ),
    (b'{"ts": 5, "type": "run", "event": "started"}', "'ts' is not a timestamp string"),
    (b'{"ts": "2026-11-29T17:40:01.123Z", "type": ["run"], "event": "started"}', "must be strings"),
    (b"\xff\xfe not utf-8", "not JSON"),
    (b"[" * 100_000, "nested too deep"),
]


def _journal_with(path: Path, bad: list[bytes], *, torn: bytes = b"") -> list[str]:
    journal = Journal(path, source="test")
    names = []
    for i, line in enumerate(bad):
        journal.write("phase", "started", phase=f"p{i}")
        names.append(f"p{i}")
        with path.open("ab") as fh:
            fh.write(line + b"\n\n")  # and a blank line, which is no problem
    journal.write("run", "ended", verdict="passed")
    if torn:
        with path.open("ab") as fh:
            fh.write(torn)
    return names


def test_malformed_lines_are_left_out_and_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "journal.jsonl"
    names = _journal_with(path, [line for line, _ in MALFORMED], torn=b'{"ts": "2026-11-29T17:4')
    events, bad = scan_journal(path)
    assert [e.get("phase") for e in events if e.type == "phase"] == names
    assert events[-1].type == "run" and events[-1].get("verdict") == "passed"
    # the file's own line numbers: an event, the bad line, a blank line, ...
    lines = [3 * i + 2 for i in range(len(MALFORMED))] + [3 * len(MALFORMED) + 2]
    assert [b.line for b in bad] == lines
    for line, (_, why) in zip(bad, MALFORMED, strict=False):
        assert why in line.why and str(line) == f"{path}:{line.line}: {line.why}"
    assert bad[-1].why.startswith("not JSON")  # the torn last line
    # read_journal: the same events; the bad lines in the list given, else logged (the first three, a count)
    given: list[BadLine] = []
    assert read_journal(path, given) == events and given == bad
    caplog.set_level("WARNING", logger="crashlab.journal")
    assert read_journal(path) == events
    logged = [r.getMessage() for r in caplog.records if r.name == "crashlab.journal"]
    assert logged[0] == f"journal line skipped: {path}:2: no 'ts'"
    assert logged[-1] == f"journal: {path}: {len(lines) - 3} more lines skipped"


@pytest.mark.parametrize("kind", ["directory", "dev-zero", "fifo"])
def test_what_is_not_a_journal_file_has_no_events(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    path = tmp_path / "journal.jsonl"
    if kind == "directory":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)
    caplog.set_level("WARNING", logger="crashlab.journal")
    assert read_journal(path) == []  # at once: /dev/zero is never read, a FIFO never opened
    assert [r.getMessage() for r in caplog.records] == [
        f"journal {path} skipped: cannot read it (not a regular file)"
    ]
    with pytest.raises(OSError, match="not a regular file"):
        scan_journal(path)  # the reporter names the source as unreadable


def test_revert_all_carries_on_past_malformed_lines(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    injected = {
        "ts": iso(utcnow() - timedelta(hours=2)),
        "type": "fault",
        "event": "injected",
        "source": "runner",
        "fault": "slow",
        "fault_type": "service.latency",
        "target": "game",
        "params": {"ms": 10},
        "ttl_s": 1,
        "handle": {"url": "http://127.0.0.1:9", "id": "f1"},
    }
    journal = run / "journal.jsonl"
    journal.write_bytes(
        json.dumps(injected).encode() + b"\n" + b"\n".join(line for line, _ in MALFORMED[:4]) + b"\n"
    )
    runs = str(tmp_path / "runs")
    done = run_cli(
        "chaos", "revert", "--all", "--runs-dir", runs, env={"CRASHLAB_STATE_DIR": str(tmp_path / "state")}
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "r1: slow (service.latency -> game): expired"
    assert f"journal line skipped: {journal}:2: no 'ts'" in done.stderr
    # the leftover is closed in its own journal: found no more
    assert read_journal(journal)[-1].event == "expired"


def test_fuzz_the_journal_reader(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"

    @FUZZ
    @given(st.lists(LINES, max_size=8))
    def check(lines: list[bytes]) -> None:
        path.write_bytes(b"\n".join(lines) + b"\n")
        events, bad = scan_journal(path)
        counted = sum(1 for line in lines if line.strip())
        assert len(events) + len(bad) == counted
        for event in events:
            assert (
                event.ts.tzinfo is not None and isinstance(event.type, str) and isinstance(event.event, str)
            )
            json.dumps(event.to_json(), default=str)  # every event can be written again

    check()


def test_fuzz_the_manifest_reader(tmp_path: Path) -> None:
    run = RunDir(tmp_path)

    @FUZZ
    @given(JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=60))
    def check(content: bytes) -> None:
        run.manifest_path.write_bytes(content)
        try:
            manifest: Any = run.read_manifest()
        except ManifestError as exc:
            assert str(exc).startswith(f"{run.manifest_path}: ") and "\n" not in str(exc)
            # the readers of the reports catch the JSON error they knew, and this is one
            assert isinstance(exc, json.JSONDecodeError)
            return
        assert isinstance(manifest, dict)
        assert run.update_manifest(checked=True)["checked"] is True

    check()
