"""The game day's state is a fold of the journal: the same records give the same state, however they are
read (at once, or followed line by line), and Alertmanager's repeats, second acks and crashes of parts
that are not services change nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from crashlab.journal import Journal, JournalTail
from crashlab.timeutil import utcnow
from gameday.state import GameDayState

PAGE = {
    "alert": "ErrorBudgetBurnPage",
    "severity": "page",
    "labels": {"alertname": "ErrorBudgetBurnPage", "severity": "page", "slo": "availability"},
    "annotations": {
        "summary": "burning",
        "runbook_url": "http://127.0.0.1:9/docs/runbooks/ErrorBudgetBurnPage.md",
        "graph_url": "http://127.0.0.1:9/graph?g0.expr=x",
    },
    "receiver": "pager",
    "group_key": '{}/{severity="page"}:{alertname="ErrorBudgetBurnPage"}',
}


def write_game_day(path: Path) -> None:
    t0 = utcnow()

    def at(s: float) -> dict[str, Any]:
        return {"ts": t0 + timedelta(seconds=s)}

    runner = Journal(path, source="gameday")
    console = Journal(path, source="console")
    supervisor = Journal(path, source="supervisor")
    runner.write("gameday", "started", max_duration_s=600.0, team_url="http://127.0.0.1:1/", **at(0))
    console.write("team", "joined", actor="ana", role="incident_commander", **at(1))
    console.write("team", "joined", actor="bo", role="on_call", **at(2))
    console.write("team", "joined", actor="ana", role="observer", **at(3))
    runner.write(
        "fault", "injected", fault="stall", fault_type="dependency.stall", target="odds", params={}, **at(4)
    )
    supervisor.write("process", "exited", service="game", pid=11, reason="panic", exit_code=2, **at(5))
    supervisor.write("process", "exited", service="game", pid=11, reason="panic", exit_code=2, **at(5))
    supervisor.write("process", "exited", service="prometheus", pid=12, reason="crash", **at(5.5))
    supervisor.write("process", "exited", service="odds", pid=13, reason="clean", **at(5.6))
    console.write(
        "team", "page", page_id="f1-a", status="firing", starts_at="2026-01-01T00:00:00Z", **PAGE, **at(6)
    )
    console.write(
        "team", "page", page_id="f1-a", status="firing", starts_at="2026-01-01T00:00:00Z", **PAGE, **at(7)
    )
    console.write("team", "ack", actor="bo", page_id="f1-a", alert="ErrorBudgetBurnPage", **at(8))
    console.write("team", "ack", actor="ana", page_id="f1-a", alert="ErrorBudgetBurnPage", **at(9))
    console.write("team", "ack", actor="ana", page_id="nope", alert="x", **at(9))
    console.write("team", "declare", actor="ana", severity="SEV2", ic="ana", **at(10))
    console.write("team", "declare", actor="ana", severity="SEV1", ic="bo", **at(11))
    console.write(
        "team", "note", actor="bo", note_id="n1", kind="hypothesis", text="odds <b>slow</b>", **at(12)
    )
    console.write("team", "note", actor="ana", note_id="n2", kind="drop", text="not it", ref="n1", **at(13))
    console.write(
        "team",
        "action",
        actor="bo",
        action_id="a1",
        action="flag",
        params={"circuit_breaker": True},
        result="ok",
        before={"circuit_breaker": False},
        after={"circuit_breaker": True},
        **at(14),
    )
    console.write(
        "team",
        "action",
        actor="ana",
        action_id="a2",
        action="undo",
        params={},
        result="ok",
        undo_of="a1",
        before={"circuit_breaker": True},
        after={"circuit_breaker": False},
        **at(15),
    )
    console.write(
        "team",
        "action",
        actor="bo",
        action_id="a3",
        action="unavailable",
        params={"wanted": "scale out"},
        result="not_available",
        **at(16),
    )
    runner.write("fault", "reverted", fault="stall", fault_type="dependency.stall", target="odds", **at(17))
    console.write(
        "team", "page", page_id="f1-a", status="resolved", starts_at="2026-01-01T00:00:00Z", **PAGE, **at(18)
    )
    console.write("team", "hint", actor="facilitator", text="look at odds", **at(19))
    console.write("gameday", "extended", actor="facilitator", by_s=120.0, max_duration_s=720.0, **at(20))
    console.write("team", "resolve", actor="ana", summary="breaker on", **at(21))
    console.write("gameday", "revealed", actor="facilitator", **at(22))
    console.write("gameday", "end_requested", actor="facilitator", reason="done", **at(23))
    runner.write("gameday", "ended", reason="facilitator", **at(24))


def test_the_fold_of_a_game_day(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    write_game_day(path)
    state = GameDayState.from_journal(path)
    assert {m.name: m.role for m in state.members.values()} == {"ana": "incident_commander", "bo": "on_call"}
    (page,) = state.pages.values()
    assert (page.status, page.acked_by, page.runbook_url) == (
        "resolved",
        "bo",
        PAGE["annotations"]["runbook_url"],
    )
    assert page.delivered_at < page.acked_at < page.resolved_at
    assert not page.ringing and state.ringing() == []
    assert state.incident is not None
    assert (state.incident.severity, state.incident.ic, state.incident.declared_by) == ("SEV1", "bo", "ana")
    assert state.incident.summary == "breaker on" and state.incident.resolved_by == "ana"
    assert state.notes["n1"].text == "odds <b>slow</b>" and state.notes["n1"].dropped_at is not None
    assert state.actions["a1"].undone_by == "a2" and state.actions["a2"].undo_of == "a1"
    assert state.actions["a3"].params == {"wanted": "scale out"}
    assert [(c.service, c.reason) for c in state.crashes] == [("game", "panic")]
    (fault,) = state.faults
    assert fault.outcome == "reverted" and not state.active_faults()
    assert [h.text for h in state.hints] == ["look at odds"]
    life = state.lifecycle
    assert life.max_duration_s == 720.0 and life.started_at is not None
    assert life.ends_at == life.started_at + timedelta(seconds=720)
    assert life.revealed_at and life.end_requested_by == "facilitator" and life.ended_reason == "facilitator"
    # the timeline holds what counted: two joins, a page, its resolution, one ack, ...
    events = [entry["event"] for entry in state.timeline]
    assert events.count("joined") == 2 and events.count("page") == 2 and events.count("ack") == 1


def test_following_the_journal_line_by_line_gives_the_same_state(tmp_path: Path) -> None:
    source = tmp_path / "source.jsonl"
    write_game_day(source)
    whole = GameDayState.from_journal(source)
    path = tmp_path / "journal.jsonl"
    tail = JournalTail(path)
    followed = GameDayState()
    for line in source.read_bytes().splitlines(keepends=True):
        with path.open("ab") as fh:
            fh.write(line)
        for event in tail.poll():
            followed.apply(event)
    assert followed == whole
