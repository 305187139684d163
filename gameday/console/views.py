"""What each console shows: the game day's state as JSON for the team and for the facilitator.

The team's view never holds a fault (not its name, type, target nor timing) until the facilitator
reveals them; the facilitator's adds the faults (active, past and next, from the manifest's plan), the
live SLIs and the drill's expected mitigations.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crashlab.journal import JournalEvent
from crashlab.rundir import ManifestError, RunDir
from crashlab.timeutil import iso, parse_iso
from gameday.state import GameDayState, Page
from stack.prometheus.config import RUNBOOKS_DIR

#: the team's view of journal records: these types only (never ``fault``)
TEAM_TYPES = frozenset({"team", "gameday"})
RUNBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
#: how many planned fault steps the facilitator sees ahead
NEXT_FAULTS = 5


def json_text(value: Any) -> str:
    """JSON with ``<``, ``>`` and ``&`` escaped: what a person typed never appears as markup on the wire,
    even where JSON would be mistaken for HTML."""
    text = json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def runbook_name(url: str | None) -> str | None:
    """The runbook a ``runbook_url`` names, when this checkout has it (``docs/runbooks/<name>.md``)."""
    if not url:
        return None
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    name = last.removesuffix(".md")
    if last.endswith(".md") and RUNBOOK_NAME.match(name) and (RUNBOOKS_DIR / last).is_file():
        return name
    return None


def link(url: str | None) -> str | None:
    """A link the browser may open: http(s) only (an annotation is not trusted to be a link)."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


def page_json(page: Page) -> dict[str, Any]:
    out = page.to_json()
    name = runbook_name(page.runbook_url)
    # the console serves this checkout's runbooks, so the link opens in the room too
    out["runbook_url"] = f"/runbooks/{name}.md" if name else link(page.runbook_url)
    out["graph_url"] = link(page.graph_url)
    return out


def record_json(event: JournalEvent, *, facilitator: bool) -> dict[str, Any] | None:
    """A journal record as an event stream sends it (None: not for this audience)."""
    if facilitator:
        fields = {k: v for k, v in event.fields.items() if k != "handle"}
        return {"at": iso(event.ts), "event": event.event, **fields}
    if event.type in TEAM_TYPES:
        return {"at": iso(event.ts), "event": event.event, **event.fields}
    if event.type == "process" and event.event == "exited":
        return {"at": iso(event.ts), "service": event.get("service"), "reason": event.get("reason")}
    if event.type == "flag" and event.event == "set":
        return {"at": iso(event.ts), "flag": event.get("flag"), "enabled": event.get("enabled")}
    return None


#: a page on the timeline: the rest (labels, annotations) is in ``pages``
_PAGE_KEYS = ("at", "event", "page_id", "alert", "severity", "status")


def _slim(entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("event") == "page":
        return {k: entry[k] for k in _PAGE_KEYS if k in entry}
    return entry


def _lifecycle(state: GameDayState, now: datetime) -> dict[str, Any]:
    life = state.lifecycle
    out = life.to_json()
    ends = life.ends_at
    out["remaining_s"] = None if ends is None else max(0.0, round((ends - now).total_seconds(), 1))
    out["ended"] = life.ended
    out["revealed"] = life.revealed_at is not None
    return out


def team_view(
    state: GameDayState,
    now: datetime,
    *,
    actions: list[dict[str, Any]],
    switches: dict[str, bool],
    facilitator: bool = False,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "now": iso(now),
        "gameday": _lifecycle(state, now),
        "members": [m.to_json() for m in state.members.values()],
        "pages": [page_json(p) for p in state.pages.values()],
        "incident": None if state.incident is None else state.incident.to_json(),
        "timeline": [_slim(entry) for entry in state.timeline],
        "hypotheses": [
            {
                "note_id": n.note_id,
                "actor": n.actor,
                "text": n.text,
                "at": iso(n.at),
                "dropped": n.dropped_at is not None,
            }
            for n in state.hypotheses()
        ],
        "actions": actions,
        "done": [a.to_json() for a in state.actions.values()],
        "switches": switches,
        "crashes": [c.to_json() for c in state.crashes],
    }
    if state.lifecycle.revealed_at is not None or facilitator:
        view["faults"] = {"past": [f.to_json() for f in state.faults if not f.active]}
        view["faults"]["active"] = [f.to_json() for f in state.active_faults()]
    return view


class Plan:
    """The drill's planned fault steps and expected mitigations, from the run's manifest (re-read when
    the file changes)."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self._stamp: tuple[int, int] | None = None
        self._manifest: dict[str, Any] = {}

    def manifest(self) -> dict[str, Any]:
        path = self.run.manifest_path
        try:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._manifest, self._stamp = self.run.read_manifest(), stamp
        except (OSError, ManifestError):
            self._manifest, self._stamp = {}, None
        return self._manifest

    def next_faults(self, now: datetime, limit: int = NEXT_FAULTS) -> list[dict[str, Any]]:
        """The next planned injections after ``now`` (a recurring step: its next occurrence)."""
        manifest = self.manifest()
        started = manifest.get("timeline_started_at")
        plan = manifest.get("plan")
        if not isinstance(started, str) or not isinstance(plan, list):
            return []
        try:
            t0 = parse_iso(started)
        except (ValueError, OverflowError):
            return []
        upcoming = []
        for step in plan:
            if not isinstance(step, dict) or not isinstance(step.get("start_s"), int | float):
                continue
            at = t0 + timedelta(seconds=float(step["start_s"]))
            repeat = step.get("repeat")
            every = repeat.get("every_s") if isinstance(repeat, dict) else None
            if at < now and isinstance(every, int | float) and every > 0:
                at += timedelta(seconds=float(every) * -(-(now - at).total_seconds() // float(every)))
            if at >= now:
                upcoming.append(
                    {
                        "at": iso(at),
                        "in_s": round((at - now).total_seconds(), 1),
                        "label": step.get("label"),
                        "type": step.get("type"),
                        "duration_s": step.get("duration_s"),
                        "params": step.get("params"),
                        "recurring": every is not None,
                    }
                )
        return sorted(upcoming, key=lambda s: str(s["at"]))[:limit]

    def expected_mitigations(self) -> list[Any]:
        gameday = self.manifest().get("gameday")
        found = gameday.get("expected_mitigations") if isinstance(gameday, dict) else None
        return found if isinstance(found, list) else []


def facilitator_view(
    state: GameDayState,
    now: datetime,
    *,
    actions: list[dict[str, Any]],
    switches: dict[str, bool],
    plan: Plan,
    slis: dict[str, Any] | None,
) -> dict[str, Any]:
    view = team_view(state, now, actions=actions, switches=switches, facilitator=True)
    view["faults"]["next"] = plan.next_faults(now)
    view["expected_mitigations"] = plan.expected_mitigations()
    view["hints"] = [{"at": iso(h.at), "actor": h.actor, "text": h.text} for h in state.hints]
    view["slis"] = slis
    return view


def runbook_path(name: str) -> Path | None:
    """This checkout's runbook ``name`` (``docs/runbooks/<name>.md``), when there is one."""
    if not RUNBOOK_NAME.match(name):
        return None
    path = RUNBOOKS_DIR / f"{name}.md"
    return path if path.is_file() else None
