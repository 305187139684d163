"""The console's one view of the game day: the journal, followed.

The console writes its records to the run's journal and folds every record (its own, the runner's, the
supervisor's) into a :class:`GameDayState` by following the file (``JournalTail``); it keeps nothing else.
A write is followed at once by a catch-up read, so the state a handler checks next already holds it
(handlers run on one event loop: a check and the write that follows it are never interleaved with
another request's). Listeners (the event streams) get every batch of events that changed the state.

When the stack's run directory is another one (a game day on a stack it did not start), its journal is
followed too: the supervisor journals the crashes there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crashlab.journal import BadLine, Journal, JournalEvent, JournalTail
from gameday.state import GameDayState

log = logging.getLogger("gameday.console")
#: how often the journal is looked at for records other processes appended
FOLLOW_INTERVAL_S = 0.1

Listener = Callable[[Sequence[JournalEvent]], None]


class Hub:
    def __init__(self, journal: Path, also: Sequence[Path] = (), source: str = "console") -> None:
        self.writer = Journal(journal, source=source)
        self.paths = [journal, *[p for p in also if p != journal]]
        self.state = GameDayState()
        self.listeners: list[Listener] = []
        self._tails = [JournalTail(p) for p in self.paths]
        self._logged_bad = 0
        self.rebuilds = 0

    @property
    def bad_lines(self) -> list[BadLine]:
        return [line for tail in self._tails for line in tail.bad]

    def load(self) -> None:
        """Read everything the journals hold now (the start, or a restart after a crash)."""
        while self._catch_up():
            pass

    def _read(self) -> tuple[list[JournalEvent], bool]:
        events: list[JournalEvent] = []
        restarted = False
        for tail in self._tails:
            before = tail.restarts
            try:
                events.extend(tail.poll())
            except OSError as exc:
                log.warning("journal %s: cannot read it (%s)", tail.path, exc.strerror or exc)
            restarted = restarted or tail.restarts != before
        return events, restarted

    def _catch_up(self) -> list[JournalEvent]:
        events, restarted = self._read()
        if restarted:
            # a journal was replaced: fold everything again from the start
            log.warning("a journal was replaced or shrank; rebuilding the game day's state")
            self.rebuilds += 1
            self._tails = [JournalTail(p) for p in self.paths]
            self.state = GameDayState()
            events = []
            while batch := self._read()[0]:
                events.extend(batch)
        if len(self._tails) > 1:
            events.sort(key=lambda e: e.ts)
        changed = [e for e in events if self.state.apply(e)]
        self._log_bad()
        return changed

    def _log_bad(self) -> None:
        bad = self.bad_lines
        for line in bad[self._logged_bad :]:
            log.warning("journal line skipped: %s", line)
        self._logged_bad = len(bad)

    def catch_up(self) -> list[JournalEvent]:
        """Fold what was appended since the last look; tell the listeners what changed."""
        changed = self._catch_up()
        for listener in list(self.listeners) if changed else []:
            try:
                listener(changed)
            except Exception:  # a listener's failure is not the writer's: the record is journaled
                log.exception("telling a listener about %d journal records failed", len(changed))
        return changed

    def write(self, type: str, event: str, **fields: Any) -> JournalEvent:
        """Journal a record, fold it in (with anything other writers appended before it) and tell the
        listeners."""
        record = self.writer.write(type, event, **fields)
        self.catch_up()
        return record

    async def follow(self, interval_s: float = FOLLOW_INTERVAL_S) -> None:
        """Follow the journals until cancelled."""
        while True:
            try:
                self.catch_up()
            except Exception:  # one bad moment must not stop the console from following the game day
                log.exception("following the journal failed; trying again")
            await asyncio.sleep(interval_s)
