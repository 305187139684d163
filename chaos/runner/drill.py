"""``crashlab drill FILE``: validate, get a stack, check the steady state, start Locust, run the
timeline with probes and guardrails, stop the load, check the steady state after, evaluate the
expectations and write the run directory, on every exit path.

Verdicts and exit codes: ``passed`` (0), ``failed`` (1: an expectation, an after-probe or an
injection failed, each named), ``aborted`` (2: guardrail, steady state not met before the drill,
Ctrl-C/SIGTERM, or the stack failing). Every injected fault is reverted in all cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import platform
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

from chaos import verdict
from chaos.load.process import LoadProcess
from chaos.plan import Plan, plan
from chaos.runner import events as ev
from chaos.runner import guardrails as guards
from chaos.runner.cleanup import context_for, revert_all_leftovers
from chaos.runner.errors import DrillError
from chaos.runner.events import EventBus
from chaos.runner.journal_observer import JournalObserver
from chaos.runner.metrics import RunnerMetrics
from chaos.runner.preflight import check_plan, load_settings, plan_lines
from chaos.runner.probes import run_probe
from chaos.runner.progress import Progress
from chaos.runner.rollback import Rollback
from chaos.runner.stacks import DrillStack, acquire
from chaos.runner.timeline import run_timeline, sleep_until
from chaos.scenario import load_scenario
from chaos.scenario.model import HttpProbe, PromQLProbe, Scenario
from crashlab import __version__
from crashlab.errors import CrashlabError
from crashlab.journal import Journal, read_journal
from crashlab.prometheus import Prometheus
from crashlab.rundir import RunDir, runs_root
from crashlab.timeutil import iso, utcnow

log = logging.getLogger("crashlab.drill")

EXIT_CODES = {**verdict.EXIT_CODES, "dry-run": 0}
#: Prometheus scrapes every second; wait this long after the load so the last samples are in.
SETTLE_S = 2.5
#: How long to wait for Locust's first stats before the timeline starts anyway.
LOAD_START_TIMEOUT_S = 15.0


class Abort(Exception):
    """Ends the drill early with verdict ``aborted``."""


@dataclass(frozen=True)
class DrillOptions:
    speed: float = 1.0
    dry_run: bool = False
    quiet: bool = False
    runs_dir: Path | None = None
    keep_up: bool = False
    guard_interval_s: float = 1.0


@dataclass
class DrillResult:
    verdict: str
    run_dir: RunDir | None
    failures: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class CrashCounter:
    """Counts the supervisor's crash events in the journals (for the live progress)."""

    def __init__(self, journals: Sequence[Path], since: datetime) -> None:
        self.journals = journals
        self.since = since

    def count(self) -> int:
        events = [e for path in self.journals for e in read_journal(path)]
        return len(verdict.crashes(events, self.since, utcnow() + timedelta(seconds=1)))


class Drill:
    def __init__(self, path: Path, options: DrillOptions, console: Console | None = None) -> None:
        self.path = path
        self.options = options
        self.console = console or Console()
        self.cleaning = False
        self.interrupted_by = ""

    # --- entry ------------------------------------------------------------------------------
    async def run(self) -> DrillResult:
        scenario = load_scenario(self.path)
        the_plan = plan(scenario, self.options.speed)
        check_plan(the_plan)
        if self.options.dry_run:
            self.dry_run(the_plan)
            return DrillResult("dry-run", None)
        return await self._execute(the_plan)

    def dry_run(self, the_plan: Plan) -> None:
        s = the_plan.scenario
        start = utcnow() + timedelta(seconds=5)
        self.console.print(
            f"dry run of {s.name} at speed {the_plan.speed:g}: timeline {the_plan.timeline_s:g}s, "
            f"drill {the_plan.total_s:g}s, runtime {s.target.runtime}, profile {s.target.profile}; "
            "nothing is injected",
            highlight=False,
        )
        if s.load:
            ls = load_settings(s.load, s.target.seed)
            shape = (
                " then ".join(f"{st.users} users for {st.duration_s:g}s" for st in ls.stages)
                if ls.stages
                else f"{ls.users} users (spawn {ls.spawn_rate:g}/s) for {ls.duration_s:g}s"
            )
            self.console.print(
                f"load: {shape}; mix {ls.request_mix}; client timeout {ls.client_timeout_s:g}s, "
                f"{ls.client_retries} retries; think {ls.think_min_s:g}-{ls.think_max_s:g}s; "
                f"{ls.players} players; {ls.topology}",
                highlight=False,
            )
        for line in plan_lines(the_plan, start):
            self.console.print(line, highlight=False, markup=False)

    # --- the drill ----------------------------------------------------------------------------
    async def _execute(self, the_plan: Plan) -> DrillResult:
        scenario = the_plan.scenario
        root = runs_root(self.options.runs_dir)
        run = RunDir.create(scenario.name, root)
        bus = EventBus()
        bus.subscribe(JournalObserver(Journal(run.journal_path, source="runner")))
        progress = Progress(self.console, quiet=self.options.quiet)
        bus.subscribe(progress)
        metrics = RunnerMetrics(scenario.name, run.run_id)
        bus.subscribe(metrics)
        run.update_manifest(
            run_id=run.run_id,
            scenario=scenario.name,
            scenario_file=str(self.path),
            title=scenario.title,
            speed=the_plan.speed,
            seed=scenario.target.seed,
            runtime=scenario.target.runtime,
            target=scenario.target.model_dump(mode="json"),
            versions={"crashlab": __version__, "python": platform.python_version()},
            plan=[
                {
                    "label": s.label,
                    "type": s.fault.type,
                    "start_s": s.start_s,
                    "duration_s": s.duration_s,
                    "params": s.fault.params(),
                }
                for s in the_plan.steps
            ],
            runner_metrics_url=metrics.url,
            started_at=iso(utcnow()),
        )
        result = DrillResult("aborted", run)
        state = _RunState()
        bus.emit(ev.DrillStarted(scenario.name, run.run_id, the_plan.total_s, the_plan.speed))
        try:
            await self._body(the_plan, run, bus, metrics, state, result)
        except Abort as exc:
            result.verdict, result.reason = "aborted", str(exc)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            result.verdict = "aborted"
            result.reason = f"interrupted by {self.interrupted_by or 'cancellation'}"
        except CrashlabError as exc:
            result.verdict, result.reason = "aborted", str(exc)
        except Exception as exc:  # a bug or an unexpected failure: still revert, record and say so
            log.exception("drill %s failed unexpectedly", run.run_id)
            result.verdict, result.reason = "aborted", f"unexpected {type(exc).__name__}: {exc}"
        finally:
            self.cleaning = True
            await self._cleanup(state, bus, metrics, run, result)
            progress.close()
        return result

    async def _body(
        self,
        the_plan: Plan,
        run: RunDir,
        bus: EventBus,
        metrics: RunnerMetrics,
        state: _RunState,
        result: DrillResult,
    ) -> None:
        scenario = the_plan.scenario
        bus.emit(ev.PhaseStarted("setup"))
        state.phase = "setup"
        cleaned = await revert_all_leftovers(runs_root(self.options.runs_dir))
        for left, outcome in cleaned:
            self.console.print(
                f"leftover {left.name} ({left.fault_type}) from {left.journal.parent.name}: {outcome}"
            )
        bringing_up = asyncio.ensure_future(asyncio.to_thread(acquire, scenario.target, run))
        try:
            state.stack = await asyncio.shield(bringing_up)
        except asyncio.CancelledError:
            # a stack coming up in its thread is still ours to take down: wait for it, then abort
            with contextlib.suppress(Exception):
                state.stack = await bringing_up
            raise
        stack = state.stack.stack
        state.rollback = Rollback(context_for(stack), bus)
        stack.add_scrape_target("runner", metrics.url)
        state.scrape_added = True
        run.update_manifest(
            urls=stack.urls, stack_run_dir=str(stack.run_dir.path), stack_owned=state.stack.owned
        )
        journals = sorted({run.journal_path, stack.run_dir.journal_path})

        async with aiohttp.ClientSession() as session:
            urls = stack.urls
            prom = Prometheus(urls["prometheus"]) if "prometheus" in urls else None
            if prom is not None:
                # a drill's first seconds are only visible if Prometheus already scrapes everything
                await self._wait_scraped(prom, ("game", "odds", "runner"))
            bus.emit(ev.PhaseEnded("setup"))
            # steady state before
            self._phase(bus, state, "steady-state-before")
            failed = await self._probes(scenario.steady_state.before, "before", urls, prom, session, bus)
            if failed:
                raise Abort(f"steady state not met before the drill: {', '.join(failed)}")
            bus.emit(ev.PhaseEnded("steady-state-before"))

            window_start = state.window_start = utcnow()
            if scenario.load is not None:
                self._phase(bus, state, "load")
                settings = dataclasses.replace(
                    load_settings(scenario.load, scenario.target.seed), metrics_port=free_port()
                )
                state.load = LoadProcess(urls["game"], settings, run.locust)
                if state.load.metrics_url:
                    stack.add_scrape_target("load", state.load.metrics_url)
                    state.load_scrape_added = True
                await state.load.start()
                bus.emit(ev.LoadStarted(settings.users, settings.spawn_rate, state.load.pid))
                await self._wait_load_started(state.load)
                if prom is not None and state.load_scrape_added:
                    await self._wait_scraped(prom, ("load",), timeout_s=LOAD_START_TIMEOUT_S)

            self._phase(bus, state, "timeline")
            t0 = time.monotonic()
            run.update_manifest(timeline_started_at=iso(utcnow()))
            counter = CrashCounter(journals, window_start)
            helpers = [asyncio.create_task(self._ticker(bus, state, the_plan, t0, counter))]
            if scenario.steady_state.during is not None:
                helpers.append(asyncio.create_task(self._during(scenario, urls, prom, session, bus)))
            guard_task = (
                asyncio.create_task(
                    guards.watch(scenario.guardrails, urls, prom, session, bus, self.options.guard_interval_s)
                )
                if scenario.guardrails
                else None
            )
            assert state.rollback is not None
            main = asyncio.create_task(self._timeline_and_load(the_plan, state, t0))
            try:
                waiting: set[asyncio.Task[Any]] = {main} | ({guard_task} if guard_task else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if guard_task is not None and guard_task in done:
                    tripped = guard_task.result()
                    raise Abort(f"guardrail {tripped.guardrail} tripped ({tripped.detail or tripped.value})")
                main.result()
            finally:
                for task in [main, *helpers, *([guard_task] if guard_task else [])]:
                    task.cancel()
                await asyncio.gather(
                    main, *helpers, *([guard_task] if guard_task else []), return_exceptions=True
                )
                await state.rollback.revert_all()
            bus.emit(ev.PhaseEnded("timeline"))
            await self._stop_load(state, bus)
            window_end = utcnow()
            run.update_manifest(window={"start": iso(window_start), "end": iso(window_end)})
            state.window_start = None

            self._phase(bus, state, "steady-state-after")
            await self._probes(scenario.steady_state.after, "after", urls, prom, session, bus)
            bus.emit(ev.PhaseEnded("steady-state-after"))
            await asyncio.sleep(SETTLE_S)
            judged = await asyncio.to_thread(
                _evaluate, scenario, prom, window_start, window_end, run.journal_path, journals
            )
            for check in judged.checks:
                bus.emit(ev.ExpectationChecked(check.key, check.met, check.expected, check.measured))
            result.failures, result.verdict, result.reason = judged.failures, judged.verdict, judged.reason

    # --- pieces ----------------------------------------------------------------------------------
    def _phase(self, bus: EventBus, state: _RunState, phase: str) -> None:
        state.phase = phase
        bus.emit(ev.PhaseStarted(phase))

    async def _probes(
        self,
        probes: Sequence[PromQLProbe | HttpProbe],
        when: str,
        urls: dict[str, str],
        prom: Prometheus | None,
        session: aiohttp.ClientSession,
        bus: EventBus,
    ) -> list[str]:
        results = await asyncio.gather(*(run_probe(p, urls, prom, session) for p in probes))
        failed = []
        for probe, res in zip(probes, results, strict=True):
            tolerance = (
                probe.tolerance.model_dump(exclude_none=True) if isinstance(probe, PromQLProbe) else None
            )
            bus.emit(ev.ProbeChecked(probe.name, res.passed, res.value, tolerance, when, res.detail))
            if not res.passed:
                failed.append(probe.name)
        return failed

    async def _during(
        self,
        scenario: Scenario,
        urls: dict[str, str],
        prom: Prometheus | None,
        session: aiohttp.ClientSession,
        bus: EventBus,
    ) -> None:
        during = scenario.steady_state.during
        assert during is not None
        while True:
            await asyncio.sleep(during.interval)
            await self._probes(during.probes, "during", urls, prom, session, bus)

    async def _wait_scraped(self, prom: Prometheus, jobs: Sequence[str], timeout_s: float = 30.0) -> None:
        """Wait until Prometheus has a successful scrape of every job (warn and go on after the timeout)."""
        query = f'count(up{{job=~"{"|".join(jobs)}"}} == 1)'
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(CrashlabError):
                if (await asyncio.to_thread(prom.scalar, query) or 0) >= len(jobs):
                    return
            await asyncio.sleep(0.25)
        self.console.print(
            f"warning: Prometheus has not scraped all of {', '.join(jobs)} after {timeout_s:g}s"
        )

    async def _wait_load_started(self, load: LoadProcess) -> None:
        deadline = time.monotonic() + LOAD_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if load.live() is not None:
                return
            if load.exit_code is not None:
                raise DrillError(
                    f"Locust exited at start (code {load.exit_code}); see {load.out_dir}/locust.out"
                )
            await asyncio.sleep(0.1)

    async def _timeline_and_load(self, the_plan: Plan, state: _RunState, t0: float) -> None:
        assert state.rollback is not None
        await run_timeline(the_plan.steps, state.rollback, t0)
        await sleep_until(t0 + the_plan.total_s)
        if state.load is not None:
            load = the_plan.scenario.load
            grace = (load.client_timeout or 10.0) * (1 + load.client_retries) if load else 10.0
            with contextlib.suppress(TimeoutError):
                await state.load.wait(timeout_s=grace + 10.0)

    async def _ticker(
        self, bus: EventBus, state: _RunState, the_plan: Plan, t0: float, counter: CrashCounter
    ) -> None:
        while True:
            live = state.load.live() if state.load else None
            bus.emit(
                ev.Tick(
                    elapsed_s=time.monotonic() - t0,
                    total_s=the_plan.total_s,
                    phase=state.phase,
                    active_faults=tuple(state.rollback.active) if state.rollback else (),
                    rps=live.rps if live else None,
                    error_rate=live.error_rate if live else None,
                    p99_ms=live.p99_ms if live else None,
                    crashes=await asyncio.to_thread(counter.count),
                )
            )
            await asyncio.sleep(1.0)

    async def _stop_load(self, state: _RunState, bus: EventBus) -> None:
        if state.load is None or state.load_stopped:
            return
        state.load_stopped = True
        code = await state.load.stop()
        bus.emit(ev.LoadStopped(code))
        bus.emit(ev.PhaseEnded("load"))

    async def _cleanup(
        self, state: _RunState, bus: EventBus, metrics: RunnerMetrics, run: RunDir, result: DrillResult
    ) -> None:
        """Every exit path: revert, stop the load, teardown; the run directory gets its verdict."""
        if state.rollback is not None:
            await state.rollback.revert_all()
        try:
            await self._stop_load(state, bus)
        except Exception as exc:  # the verdict and the teardown still happen
            self.console.print(f"stopping Locust failed: {exc}")
        if state.window_start is not None:  # aborted mid-drill: the window ends now
            run.update_manifest(window={"start": iso(state.window_start), "end": iso(utcnow())})
        bus.emit(ev.PhaseStarted("teardown"))
        if state.stack is not None:
            stack = state.stack.stack
            for job, added in (("runner", state.scrape_added), ("load", state.load_scrape_added)):
                if not added:
                    continue
                try:
                    stack.remove_scrape_target(job)
                except CrashlabError as exc:
                    self.console.print(f"removing the {job} scrape target failed: {exc}")
            if state.stack.owned and not self.options.keep_up:
                try:
                    await asyncio.to_thread(stack.down)
                except CrashlabError as exc:
                    self.console.print(f"taking the stack down failed: {exc}")
                    result.reason = (
                        result.reason + "; " if result.reason else ""
                    ) + f"stack down failed: {exc}"
        bus.emit(ev.PhaseEnded("teardown"))
        run.update_manifest(
            ended_at=iso(utcnow()),
            verdict=result.verdict,
            reason=result.reason,
            failures=result.failures,
            exit_code=result.exit_code,
            stack_kept_up=bool(state.stack and (not state.stack.owned or self.options.keep_up)),
        )
        bus.emit(
            ev.DrillEnded(
                run.path.name.split("-", 1)[-1],
                run.run_id,
                result.verdict,
                result.reason,
                tuple(result.failures),
            )
        )
        metrics.close()


@dataclass
class _RunState:
    phase: str = "setup"
    stack: DrillStack | None = None
    rollback: Rollback | None = None
    load: LoadProcess | None = None
    load_stopped: bool = False
    scrape_added: bool = False
    load_scrape_added: bool = False
    #: set while the drill window (load start to load stop) is open
    window_start: datetime | None = None


def _evaluate(
    scenario: Scenario,
    prom: Prometheus | None,
    start: datetime,
    end: datetime,
    own: Path,
    journals: Sequence[Path],
) -> verdict.Evaluation:
    """The one evaluator (chaos.verdict) on the drill's journals and the stack's Prometheus."""
    telemetry = verdict.fetch(prom, start, end) if prom is not None else None
    events = [e for path in journals for e in read_journal(path)]
    return verdict.evaluate(
        scenario.expectations, events, telemetry, start, end, run_events=read_journal(own), ending=True
    )
