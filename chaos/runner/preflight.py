"""Before a drill runs: the plan checked against the fault catalogue and the runtime, the scenario's
load as Locust settings, and the plan with absolute times for ``--dry-run``."""

from __future__ import annotations

from datetime import datetime, timedelta

from chaos.faults import FaultError, registry
from chaos.load.process import LoadSettings, Stage
from chaos.plan import Plan
from chaos.runner.errors import DrillError
from chaos.scenario.model import Load
from crashlab.faultkinds import MAX_TTL_S

#: the Locust tasks of chaos/load/locustfile.py that request_mix can weigh
LOCUST_TASKS = ("play", "readyz", "healthz")


def check_plan(the_plan: Plan) -> None:
    """Every fault of the plan has valid params and a TTL the services take, and the load's tasks exist.

    Whether a fault fits the runtime is the registry's capabilities, checked by validation
    (chaos.scenario.semantics) before a plan exists."""
    problems = []
    first_occurrences = [step for rec in the_plan.recurring for step in rec.occurrence(0)]
    for step in [*the_plan.steps, *first_occurrences]:
        where = "/".join(str(p) for p in step.loc)
        if step.duration_s > MAX_TTL_S:
            problems.append(
                f"{where} ({step.label}): duration {step.duration_s:g}s is over the longest fault TTL "
                f"({MAX_TTL_S:g}s); split it (repeat) instead"
            )
            continue
        try:
            registry.validate(step.fault.type, step.fault.params(), where=where)
        except FaultError as exc:
            problems.append(str(exc))
    load = the_plan.scenario.load
    unknown = sorted(set(load.request_mix) - set(LOCUST_TASKS)) if load else []
    if unknown:
        problems.append(f"load.request_mix: unknown task(s) {unknown}; known: {list(LOCUST_TASKS)}")
    if problems:
        raise DrillError(f"{the_plan.scenario.source or the_plan.scenario.name}: " + "; ".join(problems))


def load_settings(load: Load, seed: int | None) -> LoadSettings:
    users = load.users or max(s.users for s in load.stages or [])
    master = load.master
    return LoadSettings(
        users=users,
        spawn_rate=load.spawn_rate or float(users),
        duration_s=load.total_s,
        stages=tuple(Stage(s.duration, s.users, s.spawn_rate) for s in load.stages or []),
        request_mix=integer_weights({str(k): float(v) for k, v in load.request_mix.items()}),
        client_timeout_s=load.client_timeout or 10.0,
        client_retries=load.client_retries,
        think_min_s=load.think_time.min,
        think_max_s=load.think_time.max,
        players=load.players,
        seed=seed or 0,
        workers=load.workers,
        # without a 'master' section: loopback only, on a free port
        remote_workers=master.remote_workers if master else 0,
        master_bind=master.bind if master else "127.0.0.1",
        master_port=master.port if master else 0,
        workers_wait_s=master.wait if master else 60.0,
    )


def integer_weights(mix: dict[str, float]) -> dict[str, int]:
    """Locust weights are task repetitions: fractional weights are scaled up to integers."""
    factor = 1 if all(float(v).is_integer() for v in mix.values()) else 100
    return {k: round(v * factor) for k, v in mix.items() if round(v * factor) > 0}


def plan_lines(the_plan: Plan, start: datetime) -> list[str]:
    """The plan with absolute UTC times (as if the timeline started at ``start``)."""
    lines = [f"{'start (UTC)':<12} {'end':<12} {'+offset':>9} {'length':>8}  label / type / params"]
    for step, text in zip(the_plan.steps, the_plan.lines(), strict=True):
        begin = start + timedelta(seconds=step.start_s)
        end = start + timedelta(seconds=step.end_s)
        lines.append(f"{_clock(begin)} {_clock(end)} {text}")
    return lines + the_plan.recurring_lines()


def _clock(ts: datetime) -> str:
    return f"{ts:%H:%M:%S}.{ts.microsecond // 1000:03d}"
