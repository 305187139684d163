"""The run's journal (``journal.jsonl``, crashlab.journal): every event that parses, and the lines that do
not (named, so one bad line costs that line only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from crashlab.journal import BadLine, JournalEvent, scan_journal
from reports.model import SourceProblem


@dataclass
class JournalData:
    #: in time order
    events: list[JournalEvent]
    bad: list[BadLine] = field(default_factory=list)

    def bad_lines(self, limit: int = 5) -> str:
        """The bad lines, named (``journal.jsonl:3: not a JSON object``)."""
        shown = "; ".join(f"{b.path.name}:{b.line}: {b.why}" for b in self.bad[:limit])
        more = f"; and {len(self.bad) - limit} more" if len(self.bad) > limit else ""
        return f"{len(self.bad)} line(s) skipped: {shown}{more}"


def load_journal(path: Path) -> JournalData | SourceProblem:
    if not path.exists():
        return SourceProblem(
            "journal", f"{path}: missing; timeline, faults and crashes come from metrics only"
        )
    try:
        events, bad = scan_journal(path)
    except OSError as exc:
        return SourceProblem("journal", f"{path}: unreadable ({exc.strerror or exc})")
    if not events:
        return SourceProblem("journal", f"{path}: no event" + (f" ({bad[0]})" if bad else ""))
    return JournalData(sorted(events, key=lambda e: e.ts), bad)
