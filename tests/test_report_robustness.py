"""The reporter on broken or unusual run directories: no traceback, every readable part used, every
unreadable part named in the Missing data box; a killed run is judged ``incomplete``; a copied run reads
its own data; only the services' exits are crashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from crashlab.cli import cli
from crashlab.journal import Journal
from crashlab.timeutil import iso
from reports.writer import report_run
from tests.helpers_report import load_summary
from tests.synthetic import ALERT, Truth, synthesize


def _report(run: Path) -> dict[str, object]:
    """``crashlab report RUN`` (the CLI: a traceback would be exit code 1 and no summary)."""
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return load_summary(run)


def _sources(summary: dict[str, object]) -> dict[str, dict[str, object]]:
    sources = summary["sources"]
    assert isinstance(sources, list)
    return {str(s["name"]): s for s in sources}


def _lines(run: Path) -> list[str]:
    return (run / "journal.jsonl").read_text(encoding="utf-8").splitlines()


def _write_lines(run: Path, lines: list[str]) -> None:
    (run / "journal.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_list_shaped_manifest_is_named_not_a_traceback(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    (truth.run.path / "manifest.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    s = _report(truth.run.path)
    manifest = _sources(s)["manifest"]
    assert manifest["ok"] is False and "not a JSON object" in str(manifest["why"])
    assert s["crashes"] == 1  # the window came from the journal's run events


def test_bad_journal_lines_cost_only_themselves_and_are_named(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    lines = _lines(truth.run.path)
    lines.insert(3, "[1, 2, 3]")
    lines.insert(5, json.dumps({"type": "fault", "event": "injected", "fault": "no-ts"}))
    _write_lines(truth.run.path, lines)
    s = _report(truth.run.path)
    sources = _sources(s)
    assert sources["journal"]["ok"] is True
    why = str(sources["journal lines"]["why"])
    assert sources["journal lines"]["ok"] is False
    assert "journal.jsonl:4: not a JSON object" in why and "journal.jsonl:6: no 'ts'" in why
    assert s["crashes"] == 1 and s["restarts"] == 1 and list(s["alerts_fired"]) == [ALERT]  # the rest is used
    html = (truth.run.path / "report" / "index.html").read_text(encoding="utf-8")
    missing = html.split('id="missing-data"')[1][:3000]
    assert "journal.jsonl:4" in missing


def test_malformed_otlp_lines_are_skipped(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    traces = truth.run.traces / "game.jsonl"
    bad = [
        '{"resourceSpans": 5}',
        '{"resourceSpans": [5, {"scopeSpans": 7}]}',
        '{"resourceSpans": [{"scopeSpans": [{"spans": [3]}]}]}',
    ]
    with traces.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(bad) + "\n")
    s = _report(truth.run.path)
    assert _sources(s)["traces"]["ok"] is True
    assert s["traces_shown"]


def test_a_corrupt_tsdb_is_not_an_ok_source(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    for meta in (truth.run.prometheus / "data").glob("*/meta.json"):
        meta.write_text("garbage\n", encoding="utf-8")
    s = _report(truth.run.path)
    prom = _sources(s)["prometheus"]
    assert prom["ok"] is False and "no sample in the drill window" in str(prom["why"])
    assert s["requests_total"] is None


def test_a_copied_run_reads_its_own_data(tmp_path: Path) -> None:
    truth = synthesize(tmp_path / "a", minutes=1, crashes=1)
    # as the drill runner records a stack it brought up itself: the run's own (absolute) directory
    truth.run.update_manifest(stack_run_dir=str(truth.run.path.resolve()))
    copy = tmp_path / "b" / truth.run.path.name
    shutil.copytree(truth.run.path, copy)
    # the original then changes (another crash appears in its journal, its TSDB goes away)
    Journal(truth.run.journal_path, "supervisor").write(
        "process", "exited", ts=truth.fault_start, service="game", pid=1, exit_code=2, reason="panic"
    )
    shutil.rmtree(truth.run.prometheus / "data")
    s = _report(copy)
    assert s["crashes"] == 1 and s["requests_total"] == truth.requests_total
    assert all(src["ok"] for src in _sources(s).values()), _sources(s)


def test_a_shared_stack_is_found_next_to_the_copied_run(tmp_path: Path) -> None:
    truth = synthesize(tmp_path / "a", minutes=1, crashes=1)
    stack = _move_crashes_to_a_stack_run(truth, tmp_path / "a" / "stack-run")
    target = tmp_path / "b"
    shutil.copytree(tmp_path / "a", target)
    shutil.rmtree(tmp_path / "a")
    s = _report(target / truth.run.path.name)
    assert s["crashes"] == 1 and s["restarts"] == 1
    assert _sources(s)["journal"]["ok"] is True and stack.name not in json.dumps(s["sources"])


def _move_crashes_to_a_stack_run(truth: Truth, stack: Path) -> Path:
    """The supervisor's events go to another run directory (a stack that was already up)."""
    lines = _lines(truth.run.path)
    mine = [ln for ln in lines if '"type":"process"' not in ln]
    theirs = [ln for ln in lines if '"type":"process"' in ln]
    _write_lines(truth.run.path, mine)
    stack.mkdir(parents=True)
    (stack / "journal.jsonl").write_text("\n".join(theirs) + "\n", encoding="utf-8")
    truth.run.update_manifest(stack_run_dir=str(stack.resolve()))
    return stack


def test_a_killed_run_is_incomplete(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    _write_lines(
        truth.run.path, [ln for ln in _lines(truth.run.path) if '"type":"run","event":"ended"' not in ln]
    )
    s = _report(truth.run.path)
    assert s["verdict"] == "incomplete"
    assert "no 'run ended'" in str(s["verdict_reason"])
    result = CliRunner().invoke(cli, ["runs", "--runs-dir", str(tmp_path), "--no-index"])
    assert result.exit_code == 0 and "incomplete" in result.output


def test_the_runner_reporting_before_its_teardown_is_not_incomplete(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    _write_lines(
        truth.run.path, [ln for ln in _lines(truth.run.path) if '"type":"run","event":"ended"' not in ln]
    )
    written = report_run(truth.run.path, ending=True)
    assert written.report.verdict == "failed"  # availability_min 0.99 is not met


def test_a_prometheus_exit_is_not_a_crash(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    journal = Journal(truth.run.journal_path, "supervisor")
    for service in ("prometheus", "supervisor"):
        journal.write(
            "process", "exited", ts=truth.fault_start, service=service, pid=7, exit_code=137, reason="killed"
        )
        journal.write("process", "restarted", ts=truth.fault_start, service=service, pid=8, restarts=1)
    s = _report(truth.run.path)
    assert s["crashes"] == 1 and s["crash_reasons"] == {"panic": 1} and s["restarts"] == 1


def test_report_md_shows_arrows_as_written(tmp_path: Path) -> None:
    truth = synthesize(tmp_path, minutes=1, crashes=1)
    written = report_run(truth.run.path)
    md = written.markdown.read_text(encoding="utf-8")
    assert f"odds-stall -> {ALERT}" in md
    assert "-&gt;" not in md and "→" not in md
    assert iso(truth.start)[:10] in md
