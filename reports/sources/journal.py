"""The run's journal (``journal.jsonl``, crashlab.journal)."""

from __future__ import annotations

from pathlib import Path

from crashlab.journal import JournalEvent, read_journal
from reports.model import SourceProblem


def load_journal(path: Path) -> list[JournalEvent] | SourceProblem:
    if not path.exists():
        return SourceProblem(
            "journal", f"{path}: missing; timeline, faults and crashes come from metrics only"
        )
    try:
        events = read_journal(path)
    except (OSError, KeyError, ValueError) as exc:
        return SourceProblem("journal", f"{path}: unreadable ({type(exc).__name__}: {exc})")
    if not events:
        return SourceProblem("journal", f"{path}: empty")
    return sorted(events, key=lambda e: e.ts)
