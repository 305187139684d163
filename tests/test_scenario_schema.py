"""scenarios/schema.json and the model stay in sync; every drill in scenarios/ is valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from chaos.scenario import load_scenario
from chaos.scenario.fault_specs import FAULT_TYPES
from chaos.scenario.schema import SCHEMA_DIALECT, scenario_schema, scenario_schema_text
from chaos.scenario.yaml_lines import load_yaml
from tests.helpers_scenario import BAD_DIR, EXAMPLE, SCENARIOS_DIR, run_cli

SCHEMA_FILE = SCENARIOS_DIR / "schema.json"


def _drills() -> list[Path]:
    return sorted([*SCENARIOS_DIR.glob("*.yaml"), *SCENARIOS_DIR.glob("*.yml")])


def _validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def test_checked_in_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == scenario_schema_text(), (
        "scenarios/schema.json drifted from chaos/scenario/model.py: run `make schema`"
    )


def test_schema_command_prints_the_checked_in_schema() -> None:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_names_itself_and_knows_every_fault_type() -> None:
    schema = scenario_schema()
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"]
    assert schema["title"] == "crashlab drill scenario"
    assert schema["additionalProperties"] is False
    consts = {
        definition["properties"]["type"].get("const")
        for definition in schema["$defs"].values()
        if "type" in definition.get("properties", {})
    }
    assert set(FAULT_TYPES) <= consts


def test_example_drill_exists() -> None:
    assert EXAMPLE in _drills()


@pytest.mark.parametrize("path", _drills(), ids=lambda p: p.name)
def test_every_drill_validates_with_the_model_and_the_schema(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name
    data, _ = load_yaml(path.read_text(encoding="utf-8"))
    errors = [f"{list(e.instance_path)}: {e.message[:200]}" for e in _validator().iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    "name", ["unknown-field", "unknown-fault-type", "negative-ms", "bad-duration", "guardrail-for-typo"]
)
def test_schema_rejects_what_the_model_rejects(name: str) -> None:
    data, _ = load_yaml((BAD_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    assert not _validator().is_valid(data)
