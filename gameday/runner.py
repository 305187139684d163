"""``crashlab gameday FILE``: a drill with the team in the loop, on the drill engine (a :class:`Mode` of
:mod:`chaos.runner.drill`: the same stack handling, steady state, load, rollback of every fault, probes,
guardrails, verdict and report).

What the game day adds:

- its own stack (never a running one), whose Alertmanager pages the team console
  (``StackConfig.pager_url`` / ``pager_token``);
- the consoles: one supervised process (:mod:`gameday.console_process`), started again whenever it
  dies; its URLs, the join code and the facilitator's token are printed in this terminal only;
- the load for the whole game, and the timeline with its recurring steps (``repeat.until``) and the
  facilitator's scheduled hints;
- the end: the facilitator ends it (``gameday end_requested``), ``gameday.max_duration`` (plus the
  facilitator's extensions, ``gameday extended``) passes, or ``gameday.end_when`` holds;
- on every exit path (end, Ctrl-C, SIGTERM, an error, a console crash): every fault reverted (the
  engine's rollback) AND the flag file, the memory limits and the team's silences restored
  (:class:`gameday.actions.Snapshot`);
- optionally a scripted team (``--team SCRIPT``) playing through the console's API.

Journal: ``gameday started|extended|end_requested|console_up|console_down|ended`` (``type: gameday``)
and ``team hint`` for the scheduled hints; the console writes the team's records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from chaos import verdict
from chaos.load.process import LoadSettings, Stage
from chaos.plan import Plan, Recurrence
from chaos.runner.drill import Drill, DrillOptions, DrillResult, DrillRun, ReportWriter
from chaos.runner.errors import DrillError
from chaos.runner.stacks import DrillStack, bring_up_own
from chaos.runner.timeline import run_recurring, run_timeline, sleep_until
from chaos.scenario.model import Scenario, Target
from crashlab.durations import MAX_DURATION_S, format_duration
from crashlab.journal import Journal, JournalEvent, JournalTail, read_journal
from crashlab.prometheus import Prometheus, PrometheusError
from crashlab.rundir import RunDir
from crashlab.timeutil import iso, utcnow
from gameday.actions import Snapshot
from gameday.console_process import ConsoleProcess
from gameday.model import GameDay, UntilPromQL
from gameday.scripted_team import ScriptedTeam, write_outcomes
from gameday.session import ConsoleLaunch
from gameday.team_script import TeamScript
from stack.prometheus.generate import slos
from stack.runtime import StackConfig

log = logging.getLogger("crashlab.gameday")

#: how often the runner reads the journal (facilitator's end/extend, the team's actions)
FOLLOW_S = 0.25
#: how often ``end_when`` and a ``repeat.until`` PromQL condition are evaluated
CONDITION_S = 2.0
#: the actions that change the system (``end_when.after: last_mitigation``); silences and
#: ``unavailable`` do not
MITIGATIONS = frozenset({"flag", "restart", "deploy", "memory_limit", "undo"})
END_REASONS = ("facilitator", "max_duration", "end_condition", "interrupted", "error")


@dataclass(frozen=True)
class GameDayOptions:
    """``crashlab gameday`` options besides the drill's own."""

    #: where the team console listens (``--listen``); the facilitator's always on loopback
    listen: str = "127.0.0.1"
    team_port: int = 0
    facilitator_port: int = 0
    #: a scripted team (``--team``), already validated
    team: TeamScript | None = None
    team_path: Path | None = None


def _say(console: Console, text: str) -> None:
    console.print(escape(text), highlight=False, soft_wrap=True)


class GameDayMode:
    """The game day as a drill :class:`chaos.runner.drill.Mode`."""

    def __init__(self, path: Path, options: GameDayOptions, speed: float, console: Console) -> None:
        self.path = path
        self.options = options
        self.speed = speed
        self.console = console
        self.session: ConsoleLaunch | None = None
        self.process: ConsoleProcess | None = None
        self.team: ScriptedTeam | None = None
        self.journal: Journal | None = None
        self.snapshot: Snapshot | None = None
        self.ended: str | None = None
        self.started_at: datetime | None = None

    def say(self, text: str) -> None:
        _say(self.console, text)

    # --- Mode ----------------------------------------------------------------------------------------
    def check(self, the_plan: Plan) -> None:
        if the_plan.scenario.gameday is None:
            raise DrillError(
                f"{self.path}: no gameday section: a drill without a team in the loop; run it with "
                "`crashlab drill` or add `gameday: {max_duration: ...}`"
            )

    def total_s(self, the_plan: Plan) -> float:
        return self._gameday(the_plan.scenario).max_duration

    def acquire(self, target: Target, run: RunDir) -> DrillStack:
        session = self.session = ConsoleLaunch.new(
            target.runtime, self.options.listen, self.options.team_port, self.options.facilitator_port
        )

        def configure(config: StackConfig) -> StackConfig:
            return dataclasses.replace(
                config, with_alertmanager=True, pager_url=session.pager_url, pager_token=session.pager_token
            )

        return bring_up_own(
            target, run, configure, "a game day brings up its own (its Alertmanager pages the team console)"
        )

    def load_settings(self, settings: LoadSettings) -> LoadSettings:
        """The load for the whole game: its stages (if any) and then their last number of players, until
        the game day ends (the runner stops it)."""
        if settings.stages:
            last = settings.stages[-1]
            hold = Stage(MAX_DURATION_S, last.users, last.spawn_rate)
            return dataclasses.replace(settings, stages=(*settings.stages, hold))
        return dataclasses.replace(settings, duration_s=MAX_DURATION_S)

    async def prepare(self, drill: DrillRun, lifetime: AsyncExitStack) -> None:
        session = self.session
        assert session is not None
        stack = drill.stack
        journal = self.journal = Journal(drill.run.journal_path, source="runner")
        self.snapshot = await asyncio.to_thread(Snapshot.take, stack)
        lifetime.push_async_callback(self._restore, drill)
        prometheus = stack.urls.get("prometheus")
        process = self.process = ConsoleProcess(drill.run.path, session, journal, prometheus, say=self.say)
        process.start()
        lifetime.push_async_callback(process.stop)
        if not await process.wait_ready():
            raise DrillError(
                f"the console did not start within 30 s: {process.last_output()} (log: {process.log_path})"
            )
        self._announce(session)
        drill.run.update_manifest(gameday=self._manifest(session), **self._team_manifest())
        if self.options.team is not None:
            team = self.team = ScriptedTeam(self.options.team, session, self.speed, say=self.say)
            task = asyncio.create_task(self._play(team, drill.run), name="scripted-team")
            lifetime.push_async_callback(_cancel, [task])

    async def window(self, drill: DrillRun, t0: float) -> None:
        gameday = self._gameday(drill.scenario)
        journal = self.journal
        assert journal is not None and self.session is not None
        self.started_at = utcnow()
        journal.write(
            "gameday",
            "started",
            max_duration_s=gameday.max_duration,
            speed=self.speed,
            team_url=self.session.room_url,
            facilitator_url=self.session.facilitator_url,
        )
        if self.team is not None:
            self.team.game_started(self.started_at)
        clock = _Clock(drill, t0, gameday, self.started_at, say=self.say)
        prom = Prometheus(drill.stack.urls["prometheus"]) if "prometheus" in drill.stack.urls else None
        assert drill.rollback is not None
        tasks = [
            asyncio.create_task(run_timeline(drill.plan.steps, drill.rollback, t0), name="timeline"),
            asyncio.create_task(self._hints(gameday, t0, journal), name="hints"),
            *(
                asyncio.create_task(self._recur(rec, drill, t0, prom, clock), name=f"recur-{rec.name}")
                for rec in drill.plan.recurring
            ),
        ]
        try:
            reason = await clock.run(prom)
        finally:
            await _cancel(tasks)
        self._end(reason)

    async def ending(self, drill: DrillRun, result: DrillResult) -> None:
        if self.ended is None and self.journal is not None and self.started_at is not None:
            interrupted = result.reason.startswith("interrupted")
            self._end("interrupted" if interrupted else "error", result.reason)
        if self.team is not None:
            write_outcomes(self.team, drill.run.path / "gameday" / "team.json")
        drill.run.update_manifest(
            gameday={**self._manifest(self.session), "ended": self.ended, "started_at": _iso(self.started_at)}
        )

    # --- pieces -----------------------------------------------------------------------------------------
    def _gameday(self, scenario: Scenario) -> GameDay:
        if scenario.gameday is None:
            raise DrillError(f"{self.path}: no gameday section")
        return scenario.gameday

    def _announce(self, session: ConsoleLaunch) -> None:
        self.console.rule("game day: for the facilitator's eyes only")
        self.say(f"team console:        {session.room_url}  join code: {session.join_code}")
        self.say(f"facilitator console: {session.facilitator_link}")
        self.console.rule()

    def _manifest(self, session: ConsoleLaunch | None) -> dict[str, Any]:
        if session is None:
            return {}
        return {
            "speed": self.speed,
            "listen": session.listen,
            "team_url": session.room_url,
            "facilitator_url": session.facilitator_url,
            "console_log": "logs/console.log",
        }

    def _team_manifest(self) -> dict[str, Any]:
        if self.options.team is None:
            return {"team": "people"}
        return {
            "team": "scripted",
            "team_script": str(self.options.team_path) if self.options.team_path else None,
            "team_members": [m.model_dump() for m in self.options.team.members],
        }

    async def _play(self, team: ScriptedTeam, run: RunDir) -> None:
        try:
            await team.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the game goes on without its scripted team
            log.exception("the scripted team stopped")
            self.say(f"the scripted team stopped: {exc}")
        finally:
            write_outcomes(team, run.path / "gameday" / "team.json")

    async def _hints(self, gameday: GameDay, t0: float, journal: Journal) -> None:
        for hint in sorted(gameday.hints, key=lambda h: h.at):
            await sleep_until(t0 + hint.at)
            journal.write("team", "hint", actor="facilitator", text=hint.text, scheduled=True)
            self.say(f"hint sent: {hint.text}")

    async def _recur(
        self, rec: Recurrence, drill: DrillRun, t0: float, prom: Prometheus | None, clock: _Clock
    ) -> None:
        assert drill.rollback is not None
        until = rec.until
        if isinstance(until, UntilPromQL):
            condition = _Held(until, prom)
            watcher = asyncio.create_task(condition.watch(), name=f"until-{rec.name}")
            try:
                count = await run_recurring(rec, drill.rollback, t0, condition.met)
            finally:
                await _cancel([watcher])
            self.say(f"{rec.name}: stopped recurring after {count} (its condition held)")
        else:
            await run_recurring(rec, drill.rollback, t0, clock.over)

    def _end(self, reason: str, detail: str = "") -> None:
        if self.ended is not None or self.journal is None:
            return
        self.ended = reason
        fields: dict[str, Any] = {"reason": reason}
        if detail:
            fields["detail"] = detail
        self.journal.write("gameday", "ended", **fields)
        self.say(f"game day ended: {reason}{': ' + detail if detail else ''}")

    async def _restore(self, drill: DrillRun) -> None:
        """The flag file, memory limits and silences as they were when the game day started."""
        if self.snapshot is None:
            return
        events = await asyncio.to_thread(_events, drill.run.journal_path)
        try:
            done = await asyncio.to_thread(self.snapshot.restore, drill.stack, events)
        except Exception as exc:  # the teardown goes on
            log.exception("restoring the game day's state failed")
            self.say(f"restoring the switches and limits failed: {exc}")
            return
        for line in done:
            self.say(f"restored: {line}")
        if self.journal is not None:
            self.journal.write("gameday", "restored", restored=done)


def _events(path: Path) -> list[JournalEvent]:
    return read_journal(path)


def _iso(when: datetime | None) -> str | None:
    return iso(when) if when is not None else None


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _Held:
    """A ``repeat.until`` PromQL condition: met once the query has returned a non-empty result for
    ``for`` without a break (a failed query is a break)."""

    def __init__(self, until: UntilPromQL, prom: Prometheus | None) -> None:
        self.until = until
        self.prom = prom
        self.since: float | None = None
        self._met = False

    def met(self) -> bool:
        return self._met

    async def watch(self) -> None:
        while not self._met and self.prom is not None:
            try:
                holds = bool(await asyncio.to_thread(self.prom.query, self.until.promql))
            except PrometheusError:
                holds = False
            now = time.monotonic()
            if not holds:
                self.since = None
            elif self.since is None:
                self.since = now
            if self.since is not None and now - self.since >= self.until.for_:
                self._met = True
                return
            await asyncio.sleep(CONDITION_S)


class _Clock:
    """When the game day ends: the facilitator's end, ``max_duration`` (with extensions) or
    ``end_when``. Follows the journal for the facilitator's and the team's moves."""

    def __init__(
        self, drill: DrillRun, t0: float, gameday: GameDay, started: datetime, say: Any = None
    ) -> None:
        self.drill = drill
        self.t0 = t0
        self.gameday = gameday
        self.started = started
        self.say = say or (lambda text: None)
        self.max_duration_s = gameday.max_duration
        self.reason: str | None = None
        self.last_mitigation: datetime | None = None
        self.tail = JournalTail(drill.run.journal_path)
        self._checked = 0.0

    def over(self) -> bool:
        return self.reason is not None

    async def run(self, prom: Prometheus | None) -> str:
        while True:
            for event in self.tail.poll():
                self._follow(event)
            if self.reason is None and time.monotonic() >= self.t0 + self.max_duration_s:
                self.reason = "max_duration"
            if self.reason is None and self._due():
                self._checked = time.monotonic()
                if await self._recovered(prom):
                    self.reason = "end_condition"
            if self.reason is not None:
                return self.reason
            self.drill.total_s = self.max_duration_s
            await asyncio.sleep(FOLLOW_S)

    def _follow(self, event: JournalEvent) -> None:
        if event.type == "gameday" and event.event == "end_requested":
            self.reason = "facilitator"
            actor = event.get("actor", "facilitator")
            self.say(
                f"end requested by {actor}{': ' + str(event.get('reason')) if event.get('reason') else ''}"
            )
        elif event.type == "gameday" and event.event == "extended":
            total = event.get("max_duration_s")
            by = event.get("by_s")
            if isinstance(total, int | float) and not isinstance(total, bool) and math.isfinite(total):
                self.max_duration_s = max(self.max_duration_s, float(total))
            elif isinstance(by, int | float) and not isinstance(by, bool) and math.isfinite(by):
                self.max_duration_s += max(0.0, float(by))
            self.say(f"extended: the game day now ends at {format_duration(self.max_duration_s)}")
        elif (
            event.type == "team"
            and event.event == "action"
            and event.ts >= self.started
            and event.get("result") == "ok"
            and event.get("action") in MITIGATIONS
        ):
            self.last_mitigation = event.ts
        if event.type == "team" and event.source != "runner":
            self.say(_team_line(event))

    def _due(self) -> bool:
        end_when = self.gameday.end_when
        if end_when is None or time.monotonic() - self._checked < CONDITION_S:
            return False
        since = self.started if end_when.after == "start" else self.last_mitigation
        return since is not None and utcnow() - since >= timedelta(seconds=end_when.recovered_for)

    async def _recovered(self, prom: Prometheus | None) -> bool:
        """No crash and every SLI within the drill's SLO over the last ``recovered_for``."""
        end_when = self.gameday.end_when
        assert end_when is not None
        now = utcnow()
        start = now - timedelta(seconds=end_when.recovered_for)
        events = await asyncio.to_thread(_events, self.drill.run.journal_path)
        if verdict.crashes(events, start, now):
            return False
        if prom is None:
            return False
        return await asyncio.to_thread(_within_slo, prom, self.drill.scenario, end_when.recovered_for)


def _within_slo(prom: Prometheus, scenario: Scenario, window_s: float) -> bool:
    """Each SLO of the stack's rules (server and players' availability, latency) at or above the drill's
    objective over the last ``window_s``; an SLO without data is skipped, but one availability must be
    measured."""
    slo = scenario.report.slo
    window = f"{max(1, math.ceil(window_s))}s"
    measured = set()
    for item in slos(slo.availability * 100, slo.latency_target * 100, slo.latency_ms / 1000):
        # no error series at all (no 5xx yet) is no error: ``or vector(0)``
        errors, total = item.errors.replace("{w}", window), item.total.replace("{w}", window)
        query = f"1 - (({errors}) or vector(0)) / ({total})"
        try:
            value = prom.scalar(query)
        except PrometheusError:
            return False
        if value is None:
            continue
        if value < item.objective / 100:
            return False
        measured.add(item.name)
    return bool(measured & {"availability", "player-availability"})


def _team_line(event: JournalEvent) -> str:
    actor = event.get("actor", "?")
    match event.event:
        case "joined":
            return f"team: {actor} joined as {event.get('role')}"
        case "page":
            return f"page: {event.get('alert')} {event.get('status')} -> pager ({event.get('receiver')})"
        case "ack":
            return f"team: {actor} acked {event.get('alert')}"
        case "declare":
            return f"team: {actor} declared {event.get('severity')} (IC {event.get('ic')})"
        case "note":
            return f"team: {actor} {event.get('kind', 'note')}: {event.get('text')}"
        case "action":
            raw = event.get("params")
            params = ", ".join(f"{k}={v}" for k, v in raw.items()) if isinstance(raw, dict) else ""
            error = f" ({event.get('error')})" if event.get("error") else ""
            return f"team: {actor} {event.get('action')} {params} -> {event.get('result')}{error}"
        case "hint":
            return f"hint from {actor}: {event.get('text')}"
        case "resolve":
            return f"team: {actor} resolved: {event.get('summary')}"
    return f"team {event.event}: {actor}"


def gameday_drill(
    path: Path, drill_options: DrillOptions, options: GameDayOptions, console: Console
) -> Drill:
    """The game day of ``path`` as a drill to run (``chaos.runner.cli.run_with_signals`` runs it, with
    Ctrl-C and SIGTERM reverting everything)."""
    return Drill(path, drill_options, console, mode=GameDayMode(path, options, drill_options.speed, console))


__all__ = ["END_REASONS", "GameDayMode", "GameDayOptions", "ReportWriter", "gameday_drill"]
