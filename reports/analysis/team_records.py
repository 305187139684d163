"""The team's records of a game day, read from the journal's ``team`` and ``gameday`` events
(docs/contracts.md, "The game day"): members, pages and their acks, the incident declared, notes,
actions, hints, the resolution, and every record as a line of the team's timeline. Times are unix
seconds, like every other time of the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crashlab.journal import JournalEvent
from crashlab.timeutil import parse_iso

#: actions that change the system (they start a new regime for the effect rule); ``silence`` only mutes
#: notifications and ``unavailable`` is a wish
CHANGES_SYSTEM = frozenset({"flag", "restart", "deploy", "memory_limit", "undo"})


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    at: float


@dataclass
class PageRecord:
    page_id: str
    alert: str
    severity: str
    delivered_at: float
    starts_at: float | None
    runbook_url: str
    labels: dict[str, str] = field(default_factory=dict)
    acked_by: str | None = None
    acked_at: float | None = None
    #: the alert resolved (Alertmanager's resolved notification), when it came
    resolved_at: float | None = None

    @property
    def delivery_latency_s(self) -> float | None:
        return None if self.starts_at is None else self.delivered_at - self.starts_at

    @property
    def tta_s(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.delivered_at


@dataclass(frozen=True)
class Note:
    note_id: str
    at: float
    actor: str
    kind: str
    text: str
    ref: str = ""


@dataclass(frozen=True)
class Hypothesis:
    note: Note
    #: the ``drop`` note that dropped it (None: held to the end)
    dropped: Note | None


@dataclass(frozen=True)
class Action:
    action_id: str
    at: float
    actor: str
    action: str
    params: dict[str, Any]
    result: str
    error: str = ""
    undo_of: str = ""

    @property
    def done(self) -> bool:
        """The action was carried out (not a wish, not failed)."""
        return self.action != "unavailable" and self.result == "ok"

    @property
    def changes_system(self) -> bool:
        return self.done and self.action in CHANGES_SYSTEM

    def describe(self) -> str:
        if self.action == "unavailable":
            return f"wanted: {self.params.get('wanted', '')}"
        params = ", ".join(f"{k}={_show(v)}" for k, v in self.params.items())
        return f"{self.action} {params}".strip() + (f" (undo of {self.undo_of})" if self.undo_of else "")


@dataclass(frozen=True)
class Incident:
    declared_at: float
    actor: str
    severity: str
    ic: str


@dataclass(frozen=True)
class TeamRecord:
    """One row of the team's timeline (any ``team`` record), as the page shows it."""

    at: float
    actor: str
    what: str


@dataclass
class TeamRecords:
    members: list[Member] = field(default_factory=list)
    pages: list[PageRecord] = field(default_factory=list)
    incident: Incident | None = None
    notes: list[Note] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    hints: list[Note] = field(default_factory=list)
    resolved: Note | None = None
    timeline: list[TeamRecord] = field(default_factory=list)
    #: the manifest's ``team: scripted`` (a rehearsal played by a script)
    scripted: bool = False


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _time(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return parse_iso(value).timestamp()
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def source(e: JournalEvent) -> str:
    """Who a record without an actor comes from: the pager (a page) or the game day itself."""
    return "pager" if e.type == "team" and e.event == "page" else "game day"


def describe(e: JournalEvent) -> str:
    """A ``team`` or ``gameday`` record as one timeline line (the actor is in its own column)."""
    f = e.fields
    if e.type == "gameday":
        extra = {
            "started": f"max {f.get('max_duration_s', '?')} s",
            "extended": f"by {f.get('by_s', '?')} s",
            "end_requested": _text(f.get("reason")),
            "ended": _text(f.get("reason")),
        }.get(e.event, "")
        return f"game day {e.event}" + (f" ({extra})" if extra else "")
    if e.event == "joined":
        return f"joined as {_text(f.get('role')).replace('_', ' ')}"
    if e.event == "page":
        status = _text(f.get("status")) or "firing"
        return f"page {_text(f.get('alert'))} delivered ({status}, severity {_text(f.get('severity'))})"
    if e.event == "ack":
        return f"acked page {_text(f.get('alert'))}"
    if e.event == "declare":
        return f"declared the incident {_text(f.get('severity'))} (IC {_text(f.get('ic'))})"
    if e.event == "note":
        kind = _text(f.get("kind")) or "note"
        return f"{kind}: {_text(f.get('text'))}"
    if e.event == "action":
        action = _action(e)
        result = action.result + (f": {action.error}" if action.error else "")
        return f"action {action.describe()} -> {result}"
    if e.event == "hint":
        return f"hint: {_text(f.get('text'))}"
    if e.event == "resolve":
        return f"resolved: {_text(f.get('summary'))}"
    return f"team {e.event}"


def _action(e: JournalEvent) -> Action:
    return Action(
        action_id=_text(e.get("action_id")),
        at=e.ts.timestamp(),
        actor=_text(e.get("actor")),
        action=_text(e.get("action")),
        params=_dict(e.get("params")),
        result=_text(e.get("result")),
        error=_text(e.get("error")),
        undo_of=_text(e.get("undo_of")),
    )


def _note(e: JournalEvent, kind: str, text_key: str = "text") -> Note:
    return Note(
        _text(e.get("note_id")),
        e.ts.timestamp(),
        _text(e.get("actor")),
        kind,
        _text(e.get(text_key)),
        _text(e.get("ref")),
    )


def team_records(events: Iterable[JournalEvent], manifest: dict[str, Any] | None = None) -> TeamRecords:
    """The team's records of a game day's journal (``team`` and ``gameday`` events), in time order."""
    out = TeamRecords(scripted=(manifest or {}).get("team") == "scripted")
    pages: dict[str, PageRecord] = {}
    for e in events:
        if e.type not in ("team", "gameday"):
            continue
        at = e.ts.timestamp()
        actor = _text(e.get("actor"))
        out.timeline.append(TeamRecord(at, actor or source(e), describe(e)))
        if e.type != "team":
            continue
        if e.event == "joined":
            out.members.append(Member(actor, _text(e.get("role")), at))
        elif e.event == "page":
            page_id = _text(e.get("page_id")) or f"{e.get('alert')}@{e.get('starts_at')}"
            if _text(e.get("status")) == "resolved":
                if page_id in pages and pages[page_id].resolved_at is None:
                    pages[page_id].resolved_at = at
                continue
            if page_id not in pages:  # a repeated notification of the same page: its first delivery counts
                annotations = _dict(e.get("annotations"))
                pages[page_id] = PageRecord(
                    page_id=page_id,
                    alert=_text(e.get("alert")),
                    severity=_text(e.get("severity")),
                    delivered_at=at,
                    starts_at=_time(e.get("starts_at")),
                    runbook_url=_text(annotations.get("runbook_url")),
                    labels={str(k): _text(v) for k, v in _dict(e.get("labels")).items()},
                )
        elif e.event == "ack":
            page = pages.get(_text(e.get("page_id")))
            if page is not None and page.acked_at is None:
                page.acked_by, page.acked_at = actor, at
        elif e.event == "declare" and out.incident is None:
            out.incident = Incident(at, actor, _text(e.get("severity")), _text(e.get("ic")))
        elif e.event == "note":
            out.notes.append(_note(e, _text(e.get("kind")) or "note"))
        elif e.event == "action":
            out.actions.append(_action(e))
        elif e.event == "hint":
            out.hints.append(_note(e, "hint"))
        elif e.event == "resolve" and out.resolved is None:
            out.resolved = _note(e, "resolve", "summary")
    out.pages = sorted(pages.values(), key=lambda p: p.delivered_at)
    return out
