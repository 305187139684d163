"""The JSON Schema of drill files, generated from :class:`chaos.scenario.model.Scenario`.

The checked-in copy is ``scenarios/schema.json`` (``make schema``); a test fails when the two drift.
Editors use it through ``# yaml-language-server: $schema=schema.json`` at the top of a drill file.
"""

from __future__ import annotations

import json
from typing import Any

from chaos.scenario.model import Scenario

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:crashlab:scenario:v1"


def scenario_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema}


def scenario_schema_text() -> str:
    """The schema as ``scenarios/schema.json`` holds it (2-space indent, trailing newline)."""
    return json.dumps(scenario_schema(), indent=2, sort_keys=False) + "\n"
