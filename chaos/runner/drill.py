"""``crashlab drill FILE``: validate, get a stack, check the steady state, start Locust, run the
timeline with probes and guardrails, stop the load, check the steady state after, evaluate the
expectations and write the run directory, on every exit path.

The lifecycle is two :class:`contextlib.AsyncExitStack`: each thing the drill acquires pushes its
own undo. The outer one (``lifetime``) holds what must outlive the verdict: the observers, the
runner's metrics server, the stack and its scrape targets. The inner one (``activity``) holds the
drill window: the load, the injected faults and the timeline's tasks. When the activity ends (done,
aborted, failed or interrupted) every fault is reverted and the load stopped; then the verdict is
recorded (manifest, ``run ended``), the report written (``--report``) while the stack's telemetry
still answers, and only then is the lifetime unwound: scrape targets removed, the stack taken down.

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
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from rich.console import Console

from chaos import verdict
from chaos.load.process import LoadProcess, LoadSettings
from chaos.plan import Plan, PlanStep, plan
from chaos.runner import events as ev
from chaos.runner import guardrails as guards
from chaos.runner.cleanup import context_for, owned_line, revert_all_leftovers
from chaos.runner.errors import DrillError
from chaos.runner.events import EventBus
from chaos.runner.journal_observer import JournalObserver
from chaos.runner.metrics import RunnerMetrics
from chaos.runner.preflight import check_plan, load_settings, plan_lines
from chaos.runner.probes import run_probe
from chaos.runner.progress import Progress
from chaos.runner.rollback import Rollback
from chaos.runner.stacks import DrillStack, acquire, lease_stack
from chaos.runner.timeline import run_timeline, sleep_until
from chaos.scenario import load_scenario
from chaos.scenario.model import HttpProbe, PromQLProbe, Scenario, Target
from crashlab import __version__
from crashlab.errors import CrashlabError
from crashlab.journal import Journal, read_journal
from crashlab.lease import RUN_LOCK, Lease, Owner
from crashlab.ports import free_port
from crashlab.prometheus import Prometheus
from crashlab.rundir import RunDir, new_run_id, runs_root
from crashlab.timeutil import iso, utcnow
from crashlab.waits import WaitTimeout, wait_until_async
from stack.capabilities import ScrapeTargets
from stack.prometheus.scrapes import wait_scraped
from stack.runtime import Stack

log = logging.getLogger("crashlab.drill")

EXIT_CODES = {**verdict.EXIT_CODES, "dry-run": 0}
#: Prometheus scrapes every second; wait this long after the load so the last samples are in.
SETTLE_S = 2.5
#: How long to wait for Locust's first stats before the timeline starts anyway.
LOAD_START_TIMEOUT_S = 15.0
#: How long to wait for the first scrape of the stack's and the runner's targets.
FIRST_SCRAPE_TIMEOUT_S = 30.0

#: writes the post-mortem of a run directory; returns the lines to print at the very end
ReportWriter = Callable[[Path], list[str]]


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
    #: ``--report``: called with the run directory after the verdict, before the stack goes down
    report: ReportWriter | None = None


@dataclass
class DrillResult:
    verdict: str
    run_dir: RunDir | None
    failures: list[str] = field(default_factory=list)
    reason: str = ""
    #: what the report writer printed (the post-mortem's headline and its path), empty without one
    report_lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


class CrashCounter:
    """Counts the supervisor's crash events in the journals (for the live progress)."""

    def __init__(self, journals: Sequence[Path], since: datetime) -> None:
        self.journals = journals
        self.since = since

    def count(self) -> int:
        events = [e for path in self.journals for e in read_journal(path)]
        return len(verdict.crashes(events, self.since, utcnow() + timedelta(seconds=1)))


def journals_of(*runs: RunDir) -> list[Path]:
    """Each run's journal once, however its directory was spelt (relative or absolute)."""
    return sorted({run.journal_path.resolve() for run in runs})


@dataclass
class DrillRun:
    """One drill being run: what every step (and the drill's :class:`Mode`) needs, in one place."""

    plan: Plan
    run: RunDir
    bus: EventBus
    #: the runner's own /metrics (job ``runner``)
    metrics_url: str
    #: the window's planned length (the live progress shows it; a game day's grows when extended)
    total_s: float = 0.0
    phase: str = "setup"
    acquired: DrillStack | None = None
    rollback: Rollback | None = None
    load: LoadProcess | None = None
    journals: list[Path] = field(default_factory=list)

    @property
    def scenario(self) -> Scenario:
        return self.plan.scenario

    @property
    def stack(self) -> Stack:
        assert self.acquired is not None
        return self.acquired.stack

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.bus.emit(ev.PhaseStarted(phase))


@dataclass(frozen=True)
class _Probing:
    """What probes, guardrails and expectations query: the stack's URLs and Prometheus."""

    urls: dict[str, str]
    prom: Prometheus | None
    session: aiohttp.ClientSession


class Mode(Protocol):
    """How a drill runs around the engine's fixed parts (stack, steady state, load, rollback of every
    fault, probes, guardrails, verdict, report): the film of ``crashlab drill`` (:class:`Film`) or a
    game day with a team in the loop (``gameday.runner``)."""

    def check(self, the_plan: Plan) -> None:
        """Refuse (a :class:`DrillError`) a plan this mode cannot run."""
        ...

    def total_s(self, the_plan: Plan) -> float:
        """The window's planned length."""
        ...

    def acquire(self, target: Target, run: RunDir) -> DrillStack:
        """The stack the drill runs against (blocking: run in a thread)."""
        ...

    def load_settings(self, settings: LoadSettings) -> LoadSettings:
        """The load as this mode runs it."""
        ...

    async def prepare(self, drill: DrillRun, lifetime: AsyncExitStack) -> None:
        """Once the stack is up, before the steady state: acquire what the mode needs, each with its undo
        pushed onto ``lifetime``."""
        ...

    async def window(self, drill: DrillRun, t0: float) -> None:
        """The drill window (the load runs): the timeline from ``t0`` (monotonic) until the window ends.
        Every fault it injects goes through ``drill.rollback``, which reverts what is left afterwards."""
        ...

    async def ending(self, drill: DrillRun, result: DrillResult) -> None:
        """The drill is over (every fault reverted, the verdict known, not yet recorded)."""
        ...


class Film:
    """``crashlab drill``: the timeline as planned, then the load to its end; a timeline that recurs
    until a game day ends is refused."""

    def check(self, the_plan: Plan) -> None:
        if the_plan.recurring:
            where = f"timeline[{the_plan.recurring[0].loc[1]}].repeat.until"
            raise DrillError(
                f"{the_plan.scenario.source or the_plan.scenario.name}: {where}: recurs until the game day "
                "ends; run it with `crashlab gameday`"
            )

    def total_s(self, the_plan: Plan) -> float:
        return the_plan.total_s

    def acquire(self, target: Target, run: RunDir) -> DrillStack:
        return acquire(target, run)

    def load_settings(self, settings: LoadSettings) -> LoadSettings:
        return settings

    async def prepare(self, drill: DrillRun, lifetime: AsyncExitStack) -> None:
        return None

    async def window(self, drill: DrillRun, t0: float) -> None:
        assert drill.rollback is not None
        await run_timeline(drill.plan.steps, drill.rollback, t0)
        await sleep_until(t0 + drill.plan.total_s)
        if drill.load is not None:
            load = drill.scenario.load
            grace = (load.client_timeout or 10.0) * (1 + load.client_retries) if load else 10.0
            with contextlib.suppress(TimeoutError):
                await drill.load.wait(timeout_s=grace + 10.0)

    async def ending(self, drill: DrillRun, result: DrillResult) -> None:
        return None


class Drill:
    def __init__(
        self, path: Path, options: DrillOptions, console: Console | None = None, mode: Mode | None = None
    ) -> None:
        self.path = path
        self.options = options
        self.console = console or Console()
        self.mode: Mode = mode or Film()
        self.cleaning = False
        self.interrupted_by = ""

    # --- entry ------------------------------------------------------------------------------
    async def run(self) -> DrillResult:
        scenario = load_scenario(self.path)
        the_plan = plan(scenario, self.options.speed)
        check_plan(the_plan)
        self.mode.check(the_plan)
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
        """The drill owns its run and the stack it uses, each by a lease (:mod:`crashlab.lease`) held
        until it ends: a stack another live drill holds is refused before anything is created, naming
        that drill; a leftover cleanup never reverts the faults of a run whose owner still runs."""
        scenario = the_plan.scenario
        run_id = new_run_id(scenario.name)
        me = Owner.me(run_id, f"drill {scenario.name}")
        with lease_stack(scenario.target.runtime, me):
            run = RunDir.create(scenario.name, runs_root(self.options.runs_dir), run_id=run_id)
            with Lease.acquire(run.path / RUN_LOCK, me):
                return await self._lifetime(the_plan, run, me)

    async def _lifetime(self, the_plan: Plan, run: RunDir, me: Owner) -> DrillResult:
        scenario = the_plan.scenario
        result = DrillResult("aborted", run)
        async with AsyncExitStack() as lifetime:
            bus = EventBus()
            bus.subscribe(JournalObserver(Journal(run.journal_path, source="runner")))
            progress = Progress(self.console, quiet=self.options.quiet)
            lifetime.callback(progress.close)
            bus.subscribe(progress)
            metrics = RunnerMetrics(scenario.name, run.run_id)
            lifetime.callback(metrics.close)
            bus.subscribe(metrics)
            run.update_manifest(**self._manifest(the_plan, run, metrics.url), owner=me.to_json())
            drill = DrillRun(the_plan, run, bus, metrics.url, total_s=self.mode.total_s(the_plan))
            bus.emit(ev.DrillStarted(scenario.name, run.run_id, drill.total_s, the_plan.speed, me.pid))
            lifetime.callback(bus.emit, ev.PhaseEnded("teardown"))
            try:
                await self._drill(drill, lifetime, result)
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
            self.cleaning = True
            # every fault is reverted and the load stopped: the verdict, then the report while the
            # stack (and its Prometheus) still runs, then the lifetime unwinds (teardown)
            await self._ending(drill, result)
            self._record(drill, result)
            if self.options.report is not None:
                result.report_lines = await self._report(self.options.report, run)
            bus.emit(ev.PhaseStarted("teardown"))
        run.update_manifest(
            stack_kept_up=bool(drill.acquired and (not drill.acquired.owned or self.options.keep_up))
        )
        return result

    def _manifest(self, the_plan: Plan, run: RunDir, metrics_url: str) -> dict[str, Any]:
        scenario = the_plan.scenario
        return {
            "run_id": run.run_id,
            "scenario": scenario.name,
            "scenario_file": str(self.path),
            "title": scenario.title,
            "speed": the_plan.speed,
            "seed": scenario.target.seed,
            "runtime": scenario.target.runtime,
            "target": scenario.target.model_dump(mode="json"),
            "versions": {"crashlab": __version__, "python": platform.python_version()},
            "plan": [
                *(_plan_entry(s) for s in the_plan.steps),
                # a recurring step: its first occurrence and how often it comes back (a game day's)
                *(
                    {**_plan_entry(s), "repeat": {"every_s": rec.every_s}}
                    for rec in the_plan.recurring
                    for s in rec.occurrence(0)
                ),
            ],
            "runner_metrics_url": metrics_url,
            "started_at": iso(utcnow()),
        }

    def _record(self, drill: DrillRun, result: DrillResult) -> None:
        """The verdict in the manifest and the journal (``run ended`` / ``run aborted``)."""
        drill.run.update_manifest(
            ended_at=iso(utcnow()),
            verdict=result.verdict,
            reason=result.reason,
            failures=result.failures,
            exit_code=result.exit_code,
        )
        drill.bus.emit(
            ev.DrillEnded(
                drill.scenario.name, drill.run.run_id, result.verdict, result.reason, tuple(result.failures)
            )
        )

    async def _ending(self, drill: DrillRun, result: DrillResult) -> None:
        try:
            await self.mode.ending(drill, result)
        except Exception as exc:  # the verdict is still recorded
            log.exception("ending the drill %s failed", drill.run.run_id)
            self.console.print(f"ending the drill failed: {exc}", highlight=False)

    async def _report(self, writer: ReportWriter, run: RunDir) -> list[str]:
        try:
            return await asyncio.to_thread(writer, run.path)
        except Exception as exc:  # the drill's verdict stands; say why there is no report
            log.debug("report of %s failed", run.run_id, exc_info=True)
            return [f"report failed: {exc}"]

    async def _drill(self, drill: DrillRun, lifetime: AsyncExitStack, result: DrillResult) -> None:
        drill.enter("setup")
        cleaned = await revert_all_leftovers(runs_root(self.options.runs_dir))
        for theirs in cleaned.owned:
            self.console.print(f"leftover check: {owned_line(theirs)}", highlight=False, markup=False)
        for left, outcome in cleaned.reverted:
            self.console.print(
                f"leftover {left.name} ({left.fault_type}) from {left.journal.parent.name}: {outcome}"
            )
        await self._acquire_stack(drill, lifetime)
        stack = drill.stack
        drill.rollback = Rollback(context_for(stack), drill.bus)
        self._scrape(lifetime, stack, "runner", drill.metrics_url)
        owned = drill.acquired is not None and drill.acquired.owned
        drill.run.update_manifest(urls=stack.urls, stack_run_dir=str(stack.run_dir.path), stack_owned=owned)
        drill.journals = journals_of(drill.run, stack.run_dir)
        await self.mode.prepare(drill, lifetime)
        async with aiohttp.ClientSession() as session:
            urls = stack.urls
            prom = Prometheus(urls["prometheus"]) if "prometheus" in urls else None
            probing = _Probing(urls, prom, session)
            # a drill's first seconds are only visible if Prometheus already scrapes everything
            await self._wait_scraped(stack, ("game", "odds", "runner"), FIRST_SCRAPE_TIMEOUT_S)
            drill.bus.emit(ev.PhaseEnded("setup"))
            drill.enter("steady-state-before")
            failed = await self._probes(drill.scenario.steady_state.before, "before", probing, drill)
            if failed:
                raise Abort(f"steady state not met before the drill: {', '.join(failed)}")
            drill.bus.emit(ev.PhaseEnded("steady-state-before"))

            window_start = utcnow()
            async with AsyncExitStack() as activity:
                activity.callback(self._close_window, drill.run, window_start)
                await self._start_load(drill, activity, lifetime, prom)
                await self._timeline(drill, activity, window_start, probing)
            window_end = utcnow()

            drill.enter("steady-state-after")
            await self._probes(drill.scenario.steady_state.after, "after", probing, drill)
            drill.bus.emit(ev.PhaseEnded("steady-state-after"))
            await asyncio.sleep(SETTLE_S)
            judged = await asyncio.to_thread(
                _evaluate,
                drill.scenario,
                prom,
                window_start,
                window_end,
                drill.run.journal_path,
                drill.journals,
            )
            for check in judged.checks:
                drill.bus.emit(ev.ExpectationChecked(check.key, check.met, check.expected, check.measured))
            result.failures, result.verdict, result.reason = judged.failures, judged.verdict, judged.reason

    # --- acquisitions, each with its undo ----------------------------------------------------------
    async def _acquire_stack(self, drill: DrillRun, lifetime: AsyncExitStack) -> None:
        bringing_up = asyncio.ensure_future(
            asyncio.to_thread(self.mode.acquire, drill.scenario.target, drill.run)
        )
        try:
            drill.acquired = await asyncio.shield(bringing_up)
        except asyncio.CancelledError:
            # a stack coming up in its thread is still ours to take down: wait for it, then abort
            with contextlib.suppress(Exception):
                drill.acquired = await bringing_up
                lifetime.push_async_callback(self._release, drill.acquired)
            raise
        lifetime.push_async_callback(self._release, drill.acquired)

    async def _release(self, acquired: DrillStack) -> None:
        """Take down a stack this drill brought up (unless ``--keep-up``); a shared one stays."""
        if not acquired.owned or self.options.keep_up:
            return
        try:
            await asyncio.to_thread(acquired.stack.down)
        except CrashlabError as exc:
            self.console.print(f"taking the stack down failed: {exc}", highlight=False)
            acquired.stack.run_dir.update_manifest(teardown_error=f"stack down failed: {exc}")

    def _scrape(self, lifetime: AsyncExitStack, stack: Stack, job: str, url: str) -> None:
        """Let the stack's Prometheus scrape ``url`` as ``job`` until teardown (where it can)."""
        if not isinstance(stack, ScrapeTargets):
            return
        stack.add_scrape_target(job, url)
        lifetime.callback(self._unscrape, stack, job)

    def _unscrape(self, stack: ScrapeTargets, job: str) -> None:
        try:
            stack.remove_scrape_target(job)
        except CrashlabError as exc:
            self.console.print(f"removing the {job} scrape target failed: {exc}", highlight=False)

    @staticmethod
    def _close_window(run: RunDir, start: datetime) -> None:
        """The drill window: from the load's start to its stop (or to the abort)."""
        run.update_manifest(window={"start": iso(start), "end": iso(utcnow())})

    async def _start_load(
        self, drill: DrillRun, activity: AsyncExitStack, lifetime: AsyncExitStack, prom: Prometheus | None
    ) -> None:
        scenario = drill.scenario
        if scenario.load is None:
            return
        drill.enter("load")
        settings = self.mode.load_settings(
            dataclasses.replace(load_settings(scenario.load, scenario.target.seed), metrics_port=free_port())
        )
        load = drill.load = LoadProcess(drill.stack.urls["game"], settings, drill.run.locust)
        scraped = bool(load.metrics_url) and isinstance(drill.stack, ScrapeTargets)
        if load.metrics_url:
            self._scrape(lifetime, drill.stack, "load", load.metrics_url)
        activity.push_async_callback(self._stop_load, load, drill.bus)
        await load.start()
        drill.bus.emit(ev.LoadStarted(settings.users, settings.spawn_rate, load.pid))
        await self._wait_load_started(load)
        if prom is not None and scraped:
            await self._wait_scraped(drill.stack, ("load",), LOAD_START_TIMEOUT_S)

    async def _stop_load(self, load: LoadProcess, bus: EventBus) -> None:
        try:
            code = await load.stop()
        except Exception as exc:  # the verdict and the teardown still happen
            self.console.print(f"stopping Locust failed: {exc}", highlight=False)
            return
        bus.emit(ev.LoadStopped(code))
        bus.emit(ev.PhaseEnded("load"))

    async def _timeline(
        self,
        drill: DrillRun,
        activity: AsyncExitStack,
        window_start: datetime,
        probing: _Probing,
    ) -> None:
        rollback = drill.rollback
        assert rollback is not None
        scenario = drill.scenario
        drill.enter("timeline")
        t0 = time.monotonic()
        drill.run.update_manifest(timeline_started_at=iso(utcnow()))
        activity.push_async_callback(self._end_timeline, rollback, drill.bus)
        counter = CrashCounter(drill.journals, window_start)
        tasks = [asyncio.create_task(self._ticker(drill, t0, counter))]
        if scenario.steady_state.during is not None:
            tasks.append(asyncio.create_task(self._during(scenario, probing, drill)))
        guard_task = (
            asyncio.create_task(
                guards.watch(
                    scenario.guardrails,
                    probing.urls,
                    probing.prom,
                    probing.session,
                    drill.bus,
                    self.options.guard_interval_s,
                )
            )
            if scenario.guardrails
            else None
        )
        main = asyncio.create_task(self.mode.window(drill, t0))
        waiting = [main, *([guard_task] if guard_task else [])]
        activity.push_async_callback(_cancel, [*tasks, *waiting])
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if guard_task is not None and guard_task in done:
            tripped = guard_task.result()
            raise Abort(f"guardrail {tripped.guardrail} tripped ({tripped.detail or tripped.value})")
        main.result()

    async def _end_timeline(self, rollback: Rollback, bus: EventBus) -> None:
        await rollback.revert_all()
        bus.emit(ev.PhaseEnded("timeline"))

    # --- pieces ----------------------------------------------------------------------------------
    async def _probes(
        self,
        probes: Sequence[PromQLProbe | HttpProbe],
        when: str,
        probing: _Probing,
        drill: DrillRun,
    ) -> list[str]:
        results = await asyncio.gather(
            *(run_probe(p, probing.urls, probing.prom, probing.session) for p in probes)
        )
        failed = []
        for probe, res in zip(probes, results, strict=True):
            tolerance = (
                probe.tolerance.model_dump(exclude_none=True) if isinstance(probe, PromQLProbe) else None
            )
            drill.bus.emit(ev.ProbeChecked(probe.name, res.passed, res.value, tolerance, when, res.detail))
            if not res.passed:
                failed.append(probe.name)
        return failed

    async def _during(
        self,
        scenario: Scenario,
        probing: _Probing,
        drill: DrillRun,
    ) -> None:
        during = scenario.steady_state.during
        assert during is not None
        while True:
            await asyncio.sleep(during.interval)
            await self._probes(during.probes, "during", probing, drill)

    async def _wait_scraped(self, stack: Stack, jobs: Sequence[str], timeout_s: float) -> None:
        """Wait until the stack's Prometheus has scraped every job (warn and go on after the timeout).
        Jobs the runner cannot add to this stack (no scrape targets) are not waited for."""
        url = stack.urls.get("prometheus")
        if url is None:
            return
        wanted = [j for j in jobs if j in ("game", "odds") or isinstance(stack, ScrapeTargets)]
        try:
            await asyncio.to_thread(wait_scraped, url, wanted, timeout_s)
        except CrashlabError as exc:
            self.console.print(f"warning: {exc}", highlight=False)

    async def _wait_load_started(self, load: LoadProcess) -> None:
        async def started() -> bool:
            if load.exit_code is not None:
                raise DrillError(
                    f"Locust exited at start (code {load.exit_code}); see {load.out_dir}/locust.out"
                )
            return load.users_started()

        with contextlib.suppress(WaitTimeout):
            # a master waits for its workers (remote ones: up to load.master.wait) before the first stats
            timeout = LOAD_START_TIMEOUT_S + load.settings.start_wait_s
            await wait_until_async(started, timeout, "Locust's first stats")

    async def _ticker(self, drill: DrillRun, t0: float, counter: CrashCounter) -> None:
        while True:
            live = drill.load.live() if drill.load else None
            drill.bus.emit(
                ev.Tick(
                    elapsed_s=time.monotonic() - t0,
                    total_s=drill.total_s,
                    phase=drill.phase,
                    active_faults=tuple(drill.rollback.active) if drill.rollback else (),
                    rps=live.rps if live else None,
                    error_rate=live.error_rate if live else None,
                    p99_ms=live.p99_ms if live else None,
                    crashes=await asyncio.to_thread(counter.count),
                )
            )
            await asyncio.sleep(1.0)


def _plan_entry(step: PlanStep) -> dict[str, Any]:
    return {
        "label": step.label,
        "type": step.fault.type,
        "start_s": step.start_s,
        "duration_s": step.duration_s,
        "params": step.fault.params(),
    }


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


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
