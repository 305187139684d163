"""The scenario model: fault registry, strictness, defaults, and the agreed YAML shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from chaos.scenario.fault_specs import FAMILIES, FAULT_TYPES, FaultBase
from chaos.scenario.model import (
    SWITCH_NAMES,
    FaultStep,
    GroupStep,
    HttpProbe,
    PromQLGuardrail,
    PromQLProbe,
    Scenario,
)
from chaos.scenario.schema import scenario_schema
from chaos.scenario.semantics import KNOWN_ALERTS, alert_names
from tests.helpers_scenario import scenario_from

AGREED_SHAPE = """
name: five-crash
title: "The RPS service crashed five times in its first three hours"
description: |
  replay
learning_goals: ["timeouts"]
expected_signals: ["crash loop"]
debrief: ["what first?"]
blind: false
target:
  runtime: local
  profile: naive
  switches: {retry: {enabled: true}, circuit_breaker: false}
  memory_limits_mb: {game: 160}
  restart_policy: {name: on-failure, max_retries: 20, backoff: 500ms, backoff_max: 5s}
  seed: 7
load:
  users: 30
  spawn_rate: 30
  duration: 10m
  request_mix: {play: 10, readyz: 1}
  client_timeout: 2s
  client_retries: 1
  think_time: {min: 100ms, max: 500ms}
  players: 50
steady_state:
  before: [{name: healthy, http: {url: "{game}/healthz", method: GET, status: 200, timeout: 1s}}]
  during: {interval: 5s, probes: [{name: avail, promql: "up", tolerance: {min: 0.5, max: 1}}]}
  after: [{name: ready, http: {url: "{game}/readyz"}}]
timeline:
  - name: stall
    at: 10s
    duration: 25s
    fault: {type: dependency.stall, ms: 120, ramp_to_ms: 8000, ramp: 20s}
    repeat: {count: 5, every: 40s}
  - name: burst
    at: 1m
    parallel:
      - {name: a, duration: 10s, fault: {type: service.errors, rate: 0.5, status: 500}}
      - {name: b, duration: 10s, fault: {type: dependency.latency, ms: 300, jitter_ms: 100}}
guardrails:
  - {name: stack-memory, promql: sum(process_resident_memory_bytes), abort_when: {above: 2e9}, for: 5s}
  - {name: game-up, http: {url: "{game}/healthz"}, abort_when: failing, for: 10s}
expectations:
  crashes: 5
  alerts_fired: [ErrorBudgetBurnPage]
  alerts_not_fired: [CrashLoop]
  max_p99_ms: 800
  availability_min: 0.5
  availability_max: 0.95
  degraded_min: 1
report:
  title: "Five crashes"
  slo: {availability: 0.99, latency_ms: 500, latency_target: 0.95}
"""


def test_the_agreed_shape_loads_into_typed_models() -> None:
    scenario = scenario_from(AGREED_SHAPE)
    assert scenario.target.switches == {"retry": {"enabled": True}, "circuit_breaker": False}
    assert scenario.target.restart_policy.backoff == 0.5
    assert (
        scenario.load is not None and scenario.load.duration == 600.0 and scenario.load.client_timeout == 2.0
    )
    assert isinstance(scenario.steady_state.before[0], HttpProbe)
    assert scenario.steady_state.during is not None
    assert isinstance(scenario.steady_state.during.probes[0], PromQLProbe)
    first, burst = scenario.timeline
    assert isinstance(first, FaultStep) and first.repeat is not None and first.repeat.every == 40.0
    assert isinstance(burst, GroupStep) and burst.mode == "parallel" and len(burst.children) == 2
    guardrail = scenario.guardrails[0]
    assert isinstance(guardrail, PromQLGuardrail)
    assert guardrail.abort_when.above == 2e9 and guardrail.for_ == 5.0
    assert scenario.expectations.crashes == 5
    assert scenario.report.slo.latency_ms == 500


def test_crashes_takes_a_range() -> None:
    scenario = scenario_from(AGREED_SHAPE.replace("crashes: 5", "crashes: {min: 1, max: 3}"))
    crashes = scenario.expectations.crashes
    assert crashes is not None and not isinstance(crashes, int)
    assert (crashes.min, crashes.max) == (1, 3)


def test_fault_registry_covers_every_family_with_family_dot_kind_names() -> None:
    assert {name.split(".")[0] for name in FAULT_TYPES} == set(FAMILIES)
    assert len(FAULT_TYPES) == 29
    for name, model in FAULT_TYPES.items():
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", name)
        spec = model.model_validate({"type": name, **_minimal_params(name)})
        assert isinstance(spec, FaultBase)
        assert (spec.family, spec.kind) == tuple(name.split("."))
        assert "type" not in spec.params()
    instant = {name for name, model in FAULT_TYPES.items() if model.instant}
    assert instant == {
        "process.kill",
        "process.term",
        "process.restart",
        "container.kill",
        "container.restart",
    }


def _minimal_params(name: str) -> dict[str, object]:
    return {
        "service.latency": {"ms": 1},
        "service.memory_leak": {"mb_per_s": 1},
        "service.cpu_burn": {"percent": 50},
        "service.loop_block": {"block_ms": 10, "every_ms": 100},
        "dependency.memory_leak": {"mb_per_s": 1},
        "dependency.loop_block": {"block_ms": 10},
        "dependency.latency": {"ms": 1},
        "dependency.stall": {"ms": 1},
        "container.memory": {"limit_mb": 64},
        "container.cpu": {"cpus": 0.5},
        "network.delay": {"ms": 1},
        "network.loss": {"percent": 5},
        "network.rate": {"kbit": 64},
        "stress.memory": {"mb": 64},
    }.get(name, {})


@pytest.mark.parametrize("name", sorted(FAULT_TYPES))
def test_every_fault_model_forbids_unknown_params(name: str) -> None:
    with pytest.raises(ValidationError, match=r"Extra inputs"):
        FAULT_TYPES[name].model_validate({"type": name, **_minimal_params(name), "bogus": 1})


def test_every_object_in_the_schema_forbids_unknown_fields() -> None:
    schema = scenario_schema()
    objects = [d for d in schema["$defs"].values() if d.get("type") == "object"] + [schema]
    assert len(objects) > 40
    assert all(obj.get("additionalProperties") is False for obj in objects)


def test_models_are_frozen() -> None:
    scenario = scenario_from(AGREED_SHAPE)
    with pytest.raises(ValidationError):
        scenario.name = "other"  # type: ignore[misc]


def test_defaults_of_a_minimal_drill() -> None:
    scenario = Scenario.model_validate({"name": "minimal", "description": "nothing else"})
    assert scenario.target.runtime == "local" and scenario.target.profile == "naive"
    assert scenario.load is None and scenario.timeline == [] and scenario.guardrails == []
    assert scenario.report.slo.availability == 0.99


def test_alert_names_come_from_the_rule_files(tmp_path: Path) -> None:
    assert set(alert_names(tmp_path)) == set(KNOWN_ALERTS), "no rule files: the contract's list"
    (tmp_path / "fast").mkdir()
    rules = "groups: [{name: g, rules: [{alert: OnlyThis, expr: up == 0}, {record: r, expr: up}]}]"
    (tmp_path / "fast" / "x.yml").write_text(rules, encoding="utf-8")
    assert alert_names(tmp_path) == ("OnlyThis",)


def test_the_project_rules_define_the_contract_alerts() -> None:
    assert set(KNOWN_ALERTS) <= set(alert_names())


def test_the_fault_catalogue_implements_exactly_the_model_s_fault_types_and_params() -> None:
    from chaos.faults import registry

    rows = {row["name"]: row for row in registry.describe()}
    assert set(rows) == set(FAULT_TYPES)
    for name, model in FAULT_TYPES.items():
        fields = {n: f for n, f in model.model_fields.items() if n != "type"}
        params = {p["name"]: p for p in rows[name]["params"]}
        assert set(params) == set(fields), name
        for pname, param in params.items():
            assert param["required"] == fields[pname].is_required(), f"{name}.{pname}"
            if not param["required"]:
                assert param["default"] == fields[pname].default, f"{name}.{pname}"


def test_switch_names_are_the_service_s() -> None:
    from service.profile import SWITCHES

    assert SWITCH_NAMES == SWITCHES
