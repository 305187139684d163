"""The game day's state, derived from the run's journal only.

The journal is the source of truth (GAMEDAY.md): the console keeps nothing that is not in it, so a
console that crashed and restarted folds the same records into the same state. The reporter and the
runner read the same fold, so a page, an ack or a crash means the same thing everywhere.

- ``team`` records: who joined, pages the webhook delivered (a ``page_id`` counts once: its first
  delivery; Alertmanager's repeats are not pages), acks (the first ack of a page counts), the
  declaration, notes (hypotheses and their drops), actions and their undos, hints, the resolution;
- ``gameday`` records: started, extended, end requested, revealed, ended;
- ``process exited``: crashes, by the evaluator's crash rule (``chaos.verdict.crashes``);
- ``fault`` records: what the facilitator sees (never the team, until the faults are revealed);
- ``flag set``: a switch flipped from a terminal (``crashlab flag set``).

Every item is a frozen dataclass; times are the records' ``ts`` (UTC datetimes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from chaos.verdict import crashes as crash_rule
from crashlab.journal import BadLine, JournalEvent, scan_journal
from crashlab.timeutil import iso, parse_iso

#: a member's role in the console (the join form, the team script, the journal's ``joined`` records)
Role = Literal["incident_commander", "on_call", "scribe", "observer"]
ROLES: tuple[str, ...] = get_args(Role)
ROLE_LABELS = {
    "incident_commander": "incident commander",
    "on_call": "on-call",
    "scribe": "scribe",
    "observer": "observer",
}
NOTE_KINDS = ("note", "hypothesis", "decision", "drop")
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
RESULTS = ("ok", "failed", "not_available")
#: the facilitator's ``actor``
FACILITATOR = "facilitator"


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except (ValueError, OverflowError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _strings(value: Any) -> dict[str, str]:
    return {str(k): _text(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


@dataclass(frozen=True)
class Member:
    name: str
    role: str
    joined_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "joined_at": iso(self.joined_at)}


@dataclass(frozen=True)
class Page:
    """An alert delivered to the pager. ``delivered_at`` is its first delivery; ``status`` the latest."""

    page_id: str
    alert: str
    severity: str
    status: str
    starts_at: datetime | None
    delivered_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    receiver: str = ""
    group_key: str = ""
    resolved_at: datetime | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None

    @property
    def runbook_url(self) -> str | None:
        return self.annotations.get("runbook_url") or None

    @property
    def graph_url(self) -> str | None:
        return self.annotations.get("graph_url") or None

    @property
    def ringing(self) -> bool:
        """Firing and nobody acked it yet: the pager rings."""
        return self.status == "firing" and self.acked_by is None

    def to_json(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "alert": self.alert,
            "severity": self.severity,
            "status": self.status,
            "starts_at": _iso(self.starts_at),
            "delivered_at": iso(self.delivered_at),
            "resolved_at": _iso(self.resolved_at),
            "acked_by": self.acked_by,
            "acked_at": _iso(self.acked_at),
            "ringing": self.ringing,
            "summary": self.annotations.get("summary", ""),
            "description": self.annotations.get("description", ""),
            "runbook_url": self.runbook_url,
            "graph_url": self.graph_url,
            "labels": self.labels,
        }


@dataclass(frozen=True)
class Incident:
    declared_at: datetime
    declared_by: str
    severity: str
    ic: str
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    summary: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "declared_at": iso(self.declared_at),
            "declared_by": self.declared_by,
            "severity": self.severity,
            "ic": self.ic,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Note:
    note_id: str
    at: datetime
    actor: str
    kind: str
    text: str
    ref: str | None = None
    #: for a hypothesis: when a ``drop`` named it
    dropped_at: datetime | None = None


@dataclass(frozen=True)
class TeamAction:
    action_id: str
    at: datetime
    actor: str
    action: str
    params: dict[str, Any]
    result: str
    error: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    undo_of: str | None = None
    #: the ``action_id`` of the undo that reverted this one (a successful one)
    undone_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "at": iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "params": self.params,
            "result": self.result,
            "error": self.error,
            "before": self.before,
            "after": self.after,
            "undo_of": self.undo_of,
            "undone_by": self.undone_by,
        }


@dataclass(frozen=True)
class Hint:
    at: datetime
    actor: str
    text: str


@dataclass(frozen=True)
class Crash:
    at: datetime
    service: str
    reason: str
    exit_code: Any = None
    pid: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"at": iso(self.at), "service": self.service, "reason": self.reason}


@dataclass(frozen=True)
class FaultRun:
    """One injection of a drill step (the facilitator's view)."""

    name: str
    fault_type: str
    target: str
    params: dict[str, Any]
    injected_at: datetime
    ended_at: datetime | None = None
    #: ``reverted``, ``expired``, ``revert_failed``; None while active
    outcome: str | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fault_type": self.fault_type,
            "target": self.target,
            "params": self.params,
            "injected_at": iso(self.injected_at),
            "ended_at": _iso(self.ended_at),
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class Lifecycle:
    """The ``gameday`` records: when it started, how long it may last, who asked it to end, how it ended."""

    started_at: datetime | None = None
    max_duration_s: float | None = None
    team_url: str | None = None
    end_requested_at: datetime | None = None
    end_requested_by: str | None = None
    end_reason: str | None = None
    revealed_at: datetime | None = None
    ended_at: datetime | None = None
    ended_reason: str | None = None

    @property
    def ends_at(self) -> datetime | None:
        """The hard stop (``max_duration`` plus every extension)."""
        if self.started_at is None or self.max_duration_s is None:
            return None
        return self.started_at + timedelta(seconds=self.max_duration_s)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "max_duration_s": self.max_duration_s,
            "ends_at": _iso(self.ends_at),
            "end_requested_at": _iso(self.end_requested_at),
            "end_requested_by": self.end_requested_by,
            "revealed_at": _iso(self.revealed_at),
            "ended_at": _iso(self.ended_at),
            "ended_reason": self.ended_reason,
        }


def timeline_entry(event: JournalEvent) -> dict[str, Any]:
    """A ``team`` record as the consoles show it: ``at``, ``event`` and its fields (never ``source``)."""
    return {"at": iso(event.ts), "event": event.event, **event.fields}


@dataclass
class GameDayState:
    """The fold of a game day's journal. ``apply`` takes events in journal order."""

    members: dict[str, Member] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    incident: Incident | None = None
    notes: dict[str, Note] = field(default_factory=dict)
    actions: dict[str, TeamAction] = field(default_factory=dict)
    hints: list[Hint] = field(default_factory=list)
    crashes: list[Crash] = field(default_factory=list)
    faults: list[FaultRun] = field(default_factory=list)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    #: every ``team`` record, in journal order (:func:`timeline_entry`)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    #: switches flipped from a terminal (``flag set``): switch -> value, latest last
    flag_sets: list[dict[str, Any]] = field(default_factory=list)
    #: events applied (for change detection by followers)
    applied: int = 0
    _crash_keys: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    # --- reading the journal ------------------------------------------------------------------------
    @classmethod
    def from_events(cls, events: Iterable[JournalEvent]) -> GameDayState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    @classmethod
    def from_journal(cls, path: Path, bad: list[BadLine] | None = None) -> GameDayState:
        """The state of the journal at ``path`` (lines that are not events go to ``bad``)."""
        events, bad_lines = scan_journal(path)
        if bad is not None:
            bad.extend(bad_lines)
        return cls.from_events(events)

    def apply(self, event: JournalEvent) -> bool:
        """Fold one event in; True when it is one the game day's state depends on."""
        handler = _HANDLERS.get(event.type)
        if handler is None:
            return False
        changed = handler(self, event)
        if changed:
            self.applied += 1
        return changed

    # --- queries -------------------------------------------------------------------------------------
    def ringing(self) -> list[Page]:
        return [p for p in self.pages.values() if p.ringing]

    def active_faults(self) -> list[FaultRun]:
        return [f for f in self.faults if f.active]

    def is_page_news(self, page_id: str, status: str) -> bool:
        """Whether a delivery of ``page_id`` with ``status`` changes the pager: a first delivery, or the
        resolution of a page that was firing (Alertmanager's repeats do not)."""
        known = self.pages.get(page_id)
        return known is None or (known.status != "resolved" and status != known.status)

    def hypotheses(self) -> list[Note]:
        return [n for n in self.notes.values() if n.kind == "hypothesis"]

    # --- handlers ------------------------------------------------------------------------------------
    def _team(self, e: JournalEvent) -> bool:
        actor = _text(e.get("actor"))
        handler = _TEAM_HANDLERS.get(e.event)
        if handler is None:
            return False
        if not handler(self, e, actor):
            return False
        self.timeline.append(timeline_entry(e))
        return True

    def _joined(self, e: JournalEvent, actor: str) -> bool:
        if not actor or actor in self.members:
            return False
        self.members[actor] = Member(actor, _text(e.get("role")) or "observer", e.ts)
        return True

    def _page(self, e: JournalEvent, _actor: str) -> bool:
        page_id = _text(e.get("page_id"))
        if not page_id:
            return False
        status = _text(e.get("status")) or "firing"
        if not self.is_page_news(page_id, status):
            return False
        known = self.pages.get(page_id)
        if known is None:
            self.pages[page_id] = Page(
                page_id=page_id,
                alert=_text(e.get("alert")),
                severity=_text(e.get("severity")),
                status=status,
                starts_at=_when(e.get("starts_at")),
                delivered_at=e.ts,
                labels=_strings(e.get("labels")),
                annotations=_strings(e.get("annotations")),
                receiver=_text(e.get("receiver")),
                group_key=_text(e.get("group_key")),
                resolved_at=e.ts if status == "resolved" else None,
            )
            return True
        self.pages[page_id] = dataclasses.replace(
            known, status=status, resolved_at=e.ts if status == "resolved" else known.resolved_at
        )
        return True

    def _ack(self, e: JournalEvent, actor: str) -> bool:
        page = self.pages.get(_text(e.get("page_id")))
        if page is None or page.acked_by is not None:
            return False
        self.pages[page.page_id] = dataclasses.replace(page, acked_by=actor, acked_at=e.ts)
        return True

    def _declare(self, e: JournalEvent, actor: str) -> bool:
        severity, ic = _text(e.get("severity")), _text(e.get("ic"))
        if self.incident is None:
            self.incident = Incident(e.ts, actor, severity, ic)
        else:
            self.incident = dataclasses.replace(self.incident, severity=severity, ic=ic)
        return True

    def _note(self, e: JournalEvent, actor: str) -> bool:
        note_id = _text(e.get("note_id"))
        if not note_id or note_id in self.notes:
            return False
        kind = _text(e.get("kind")) or "note"
        ref = e.get("ref")
        note = Note(note_id, e.ts, actor, kind, _text(e.get("text")), ref if isinstance(ref, str) else None)
        self.notes[note_id] = note
        target = self.notes.get(note.ref or "")
        if kind == "drop" and target is not None and target.dropped_at is None:
            self.notes[target.note_id] = dataclasses.replace(target, dropped_at=e.ts)
        return True

    def _action(self, e: JournalEvent, actor: str) -> bool:
        action_id = _text(e.get("action_id"))
        if not action_id or action_id in self.actions:
            return False
        undo_of = e.get("undo_of")
        error = e.get("error")
        action = TeamAction(
            action_id=action_id,
            at=e.ts,
            actor=actor,
            action=_text(e.get("action")),
            params=_mapping(e.get("params")),
            result=_text(e.get("result")) or "ok",
            error=None if error is None else _text(error),
            before=_mapping(e.get("before")),
            after=_mapping(e.get("after")),
            undo_of=undo_of if isinstance(undo_of, str) else None,
        )
        self.actions[action_id] = action
        undone = self.actions.get(action.undo_of or "")
        if undone is not None and action.result == "ok" and undone.undone_by is None:
            self.actions[undone.action_id] = dataclasses.replace(undone, undone_by=action_id)
        return True

    def _hint(self, e: JournalEvent, actor: str) -> bool:
        self.hints.append(Hint(e.ts, actor or FACILITATOR, _text(e.get("text"))))
        return True

    def _resolve(self, e: JournalEvent, actor: str) -> bool:
        summary = _text(e.get("summary"))
        if self.incident is None:
            # resolved without a declaration: the incident is the resolution itself
            self.incident = Incident(
                e.ts, actor, "", "", resolved_at=e.ts, resolved_by=actor, summary=summary
            )
        elif self.incident.resolved_at is None:
            self.incident = dataclasses.replace(
                self.incident, resolved_at=e.ts, resolved_by=actor, summary=summary
            )
        else:
            return False
        return True

    def _gameday(self, e: JournalEvent) -> bool:
        life = self.lifecycle
        match e.event:
            case "started":
                self.lifecycle = dataclasses.replace(
                    life,
                    started_at=e.ts,
                    max_duration_s=_seconds(e.get("max_duration_s")),
                    team_url=_text(e.get("team_url")) or None,
                )
            case "extended":
                total = _seconds(e.get("max_duration_s"))
                if total is None and life.max_duration_s is not None:
                    by = _seconds(e.get("by_s")) or 0.0
                    total = life.max_duration_s + by
                self.lifecycle = dataclasses.replace(life, max_duration_s=total)
            case "end_requested":
                if life.end_requested_at is not None:
                    return False
                self.lifecycle = dataclasses.replace(
                    life,
                    end_requested_at=e.ts,
                    end_requested_by=_text(e.get("actor")) or FACILITATOR,
                    end_reason=_text(e.get("reason")) or None,
                )
            case "revealed":
                if life.revealed_at is not None:
                    return False
                self.lifecycle = dataclasses.replace(life, revealed_at=e.ts)
            case "ended":
                self.lifecycle = dataclasses.replace(
                    life, ended_at=e.ts, ended_reason=_text(e.get("reason")) or None
                )
            case _:
                return False
        return True

    def _process(self, e: JournalEvent) -> bool:
        changed = False
        for crash in crash_rule([e], e.ts, e.ts):
            key = (crash.ts.isoformat(), crash.service, str(crash.pid))
            if key in self._crash_keys:
                continue
            self._crash_keys.add(key)
            self.crashes.append(Crash(crash.ts, crash.service, crash.reason, crash.exit_code, crash.pid))
            changed = True
        return changed

    def _fault(self, e: JournalEvent) -> bool:
        name = _text(e.get("fault"))
        if e.event == "injected":
            self.faults.append(
                FaultRun(
                    name=name,
                    fault_type=_text(e.get("fault_type")),
                    target=_text(e.get("target")),
                    params=_mapping(e.get("params")),
                    injected_at=e.ts,
                )
            )
            return True
        if e.event in ("reverted", "expired", "revert_failed"):
            for i in range(len(self.faults) - 1, -1, -1):
                run = self.faults[i]
                if run.name == name and run.active:
                    self.faults[i] = dataclasses.replace(run, ended_at=e.ts, outcome=e.event)
                    return True
        return False

    def _flag(self, e: JournalEvent) -> bool:
        if e.event != "set":
            return False
        self.flag_sets.append(
            {
                "at": iso(e.ts),
                "flag": _text(e.get("flag")),
                "enabled": e.get("enabled") is True,
                "actor": _text(e.get("actor")),
            }
        )
        return True


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_HANDLERS = {
    "team": GameDayState._team,
    "gameday": GameDayState._gameday,
    "process": GameDayState._process,
    "fault": GameDayState._fault,
    "flag": GameDayState._flag,
}
_TEAM_HANDLERS = {
    "joined": GameDayState._joined,
    "page": GameDayState._page,
    "ack": GameDayState._ack,
    "declare": GameDayState._declare,
    "note": GameDayState._note,
    "action": GameDayState._action,
    "hint": GameDayState._hint,
    "resolve": GameDayState._resolve,
}
