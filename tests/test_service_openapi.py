"""schemathesis against the committed /openapi.json of a running game: no 5xx, answers match the spec."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.helpers_service import ServiceProcess


def test_api_matches_its_spec(tmp_path: Path) -> None:
    odds = ServiceProcess("odds", tmp=tmp_path)
    game = ServiceProcess("game", "--profile", "hardened", "--odds-url", odds.url, tmp=tmp_path)
    checked: list[str] = []
    try:
        schema = schemathesis.openapi.from_url(f"{game.url}/openapi.json")
        operations = [(r.ok(), schemathesis.GenerationMode.POSITIVE) for r in schema.get_all_operations()]
        # invalid requests: only /play takes input
        operations.insert(1, (operations[0][0], schemathesis.GenerationMode.NEGATIVE))
        for operation, mode in operations:

            @given(case=operation.as_strategy(mode))
            @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def check(case: schemathesis.Case) -> None:
                response = case.call_and_validate()
                assert response.status_code < 500, response.text

            check()
            checked.append(f"{operation.label} {mode.value}")
    finally:
        game.terminate()
        odds.terminate()
    # schemathesis leaves out the spec's own path when it loads the spec from it
    labels = ["POST /play", "GET /healthz", "GET /readyz", "GET /metrics"]
    assert checked == [
        f"{labels[0]} positive",
        f"{labels[0]} negative",
        *(f"{x} positive" for x in labels[1:]),
    ]
