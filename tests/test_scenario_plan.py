"""chaos.plan: repeats, parallel and sequential groups expanded into a flat, sorted, scaled plan."""

from __future__ import annotations

import pytest

from chaos.plan import plan
from chaos.runner.preflight import check_plan
from chaos.scenario import ScenarioError, load_scenario
from chaos.scenario.fault_specs import FAULT_TYPES
from crashlab.faultkinds import LatencyParams
from tests.helpers_scenario import EXAMPLE, scenario_from

DRILL = """
name: plan-test
description: every timeline shape
load: {users: 5, duration: 5m}
steady_state:
  during: {interval: 10s, probes: [{name: up, promql: up, tolerance: {min: 1}}]}
guardrails:
  - {name: mem, promql: "sum(process_resident_memory_bytes)", abort_when: {above: 2e9}, for: 20s}
timeline:
  - name: stall
    at: 10s
    duration: 25s
    fault: {type: dependency.stall, ms: 120, ramp_to_ms: 8000, ramp: 20s}
    repeat: {count: 3, every: 40s}
  - name: burst
    at: 1m
    parallel:
      - {name: a, duration: 10s, fault: {type: service.errors, rate: 0.5, status: 500}}
      - {name: b, at: 5s, duration: 10s, fault: {type: dependency.latency, ms: 300, jitter_ms: 100}}
  - name: chain
    at: 2m
    repeat: {count: 2, every: 1m}
    sequence:
      - {name: c, duration: 10s, fault: {type: dependency.errors, rate: 0.2}}
      - {name: d, at: 5s, duration: 15s, fault: {type: dependency.hang}}
      - {name: kill, fault: {type: process.kill}}
"""


def test_plan_expands_every_repeat_and_group_sorted_by_start() -> None:
    drill = plan(scenario_from(DRILL))
    got = [(s.label, s.start_s, s.duration_s, s.group, s.repeat) for s in drill.steps]
    assert got == [
        ("stall#1", 10.0, 25.0, (), 0),
        ("stall#2", 50.0, 25.0, (), 1),
        ("burst/a", 60.0, 10.0, ("burst",), 0),
        ("burst/b", 65.0, 10.0, ("burst",), 0),
        ("stall#3", 90.0, 25.0, (), 2),
        ("chain#1/c", 120.0, 10.0, ("chain",), 0),
        ("chain#1/d", 135.0, 15.0, ("chain",), 0),
        ("chain#1/kill", 150.0, 0.0, ("chain",), 0),
        ("chain#2/c", 180.0, 10.0, ("chain",), 0),
        ("chain#2/d", 195.0, 15.0, ("chain",), 0),
        ("chain#2/kill", 210.0, 0.0, ("chain",), 0),
    ]
    assert drill.timeline_s == 210.0
    assert drill.total_s == 300.0
    assert drill.steps[0].loc == ("timeline", 0)
    assert drill.steps[-1].loc == ("timeline", 2, "sequence", 2)
    assert drill.steps[-1].instant
    assert isinstance(drill.steps[0].fault, FAULT_TYPES["dependency.stall"])


def test_speed_divides_drill_time_but_not_wall_clock_or_magnitudes() -> None:
    scenario = scenario_from(
        DRILL.replace("{users: 5, duration: 5m}", "{users: 5, duration: 5m, client_timeout: 2s}")
    )
    fast = plan(scenario, speed=10)
    stall = fast.steps[0]
    assert (stall.start_s, stall.duration_s) == (1.0, 2.5)
    assert isinstance(stall.fault, FAULT_TYPES["dependency.stall"])
    assert stall.fault.ramp == 2.0
    assert stall.fault.ms == 120 and stall.fault.ramp_to_ms == 8000
    assert [s.start_s for s in fast.steps] == [s.start_s / 10 for s in plan(scenario).steps]
    assert fast.total_s == 30.0
    assert fast.scenario.load is not None
    assert fast.scenario.load.duration == 30.0
    assert fast.scenario.load.client_timeout == 2.0
    assert fast.scenario.steady_state.during is not None
    assert fast.scenario.steady_state.during.interval == 1.0
    assert fast.scenario.guardrails[0].for_ == 2.0
    assert scenario.timeline[0].at == 10.0, "the original scenario is unchanged"


@pytest.mark.parametrize("speed", [0, -1, float("nan"), float("inf")])
def test_bad_speed_is_refused(speed: float) -> None:
    with pytest.raises(ScenarioError, match="--speed"):
        plan(scenario_from(DRILL), speed=speed)


def test_plan_of_the_example_and_its_dry_run_lines() -> None:
    drill = plan(load_scenario(EXAMPLE))
    assert [s.label for s in drill.steps] == ["slow-odds", "odds-errors#1", "odds-errors#2"]
    lines = drill.lines()
    assert len(lines) == 3
    assert (
        "+10s" in lines[0] and "40s" in lines[0] and "ramp_to_ms=2000" in lines[0] and "ramp=20s" in lines[0]
    )
    assert drill.scenario.profile_ref == "naive"


def test_a_ramped_stall_step_is_the_contract_model_scaled() -> None:
    stall = plan(scenario_from(DRILL), speed=2).steps[0]
    typed = stall.fault.typed()
    assert type(typed) is LatencyParams
    assert typed == LatencyParams(ms=120, ramp_to_ms=8000, ramp=10.0)
    # what the runner journals and the admin API receives: the same names, the ramp in seconds
    assert stall.fault.params() == {
        "ms": 120.0,
        "jitter_ms": 0.0,
        "rate": 1.0,
        "ramp_to_ms": 8000.0,
        "ramp": 10.0,
    }


IDLE = """
name: idle
description: load only
load: {users: 1, stages: [{duration: 20s, users: 1}, {duration: 10s, users: 3}]}
"""


def test_empty_timeline_lasts_as_long_as_the_load() -> None:
    drill = plan(scenario_from(IDLE))
    assert drill.steps == ()
    assert (drill.timeline_s, drill.total_s) == (0.0, 30.0)


RESTART_ON_DOCKER = """
name: restart-on-docker
description: process.restart asks the stack to restart the game; docker stacks can (stack.registry)
target: {runtime: docker}
timeline:
  - {name: restart, at: 1s, fault: {type: process.restart, service: game}}
"""


def test_the_preflight_agrees_with_the_registry_on_runtimes() -> None:
    """A fault that validates on a runtime (the registry's capabilities) is not refused again by the
    runner's preflight: process.restart needs only 'restart', which docker stacks have."""
    scenario = scenario_from(RESTART_ON_DOCKER)
    check_plan(plan(scenario, 1.0))
