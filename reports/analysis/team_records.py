"""The team's records as the report shows them. The records themselves are read by the game day's one
fold of the journal (:class:`gameday.state.GameDayState`, the console reads the same); this module only
says what they mean for the report (which actions changed the system) and how a record reads as one line
of a timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crashlab.journal import JournalEvent
from gameday.state import GameDayState, Page, TeamAction

#: actions that change the system (each starts a new regime for the effect rule); ``silence`` only mutes
#: notifications and ``unavailable`` is a wish
CHANGES_SYSTEM = frozenset({"flag", "restart", "deploy", "memory_limit", "undo"})


@dataclass(frozen=True)
class TeamRecord:
    """One ``team`` or ``gameday`` record as a line of the team's timeline."""

    at: float
    actor: str
    what: str


def done(action: TeamAction) -> bool:
    """The action was carried out (not a wish for one the team did not have, not failed)."""
    return action.action != "unavailable" and action.result == "ok"


def changes_system(action: TeamAction) -> bool:
    return done(action) and action.action in CHANGES_SYSTEM


def at(action: TeamAction) -> float:
    return action.at.timestamp()


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def what(action: TeamAction) -> str:
    """``flag circuit_breaker=on``, ``undo (of a2)``, ``wanted: shed load at the edge``."""
    if action.action == "unavailable":
        return f"wanted: {_text(action.params.get('wanted'))}"
    params = ", ".join(f"{k}={_show(v)}" for k, v in action.params.items())
    undo = f" (undo of {action.undo_of})" if action.undo_of else ""
    return f"{action.action} {params}".strip() + undo


def delivery_latency_s(page: Page) -> float | None:
    """Alertmanager's startsAt -> the page delivered to the pager."""
    return None if page.starts_at is None else (page.delivered_at - page.starts_at).total_seconds()


def tta_s(page: Page) -> float | None:
    return None if page.acked_at is None else (page.acked_at - page.delivered_at).total_seconds()


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
        return f"{_text(f.get('kind')) or 'note'}: {_text(f.get('text'))}"
    if e.event == "action":
        # the one reading of an action record (the game day's fold)
        for action in GameDayState.from_events([e]).actions.values():
            error = f": {action.error}" if action.error else ""
            return f"action {what(action)} -> {action.result}{error}"
    if e.event == "hint":
        return f"hint: {_text(f.get('text'))}"
    if e.event == "resolve":
        return f"resolved: {_text(f.get('summary'))}"
    return f"team {e.event}"


def timeline(events: list[JournalEvent]) -> list[TeamRecord]:
    """Every ``team`` and ``gameday`` record as a line, in journal order."""
    return [
        TeamRecord(e.ts.timestamp(), _text(e.get("actor")) or source(e), describe(e))
        for e in events
        if e.type in ("team", "gameday")
    ]
