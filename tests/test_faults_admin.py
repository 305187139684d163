"""service.* and dependency.* faults against real game and odds services (their admin API)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.faults import FaultError, registry
from crashlab.faultkinds import KINDS
from tests.helpers_drill import Services, admin_faults, play, services


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with services(tmp_path_factory.mktemp("svc")) as running:
        yield running


def odds_seconds(url: str) -> float:
    start = time.monotonic()
    with urllib.request.urlopen(url + "/odds/p1", timeout=10) as resp:
        resp.read()
    return time.monotonic() - start


#: params given in the drill -> the params the service must hold (defaults filled in, durations in s)
ADMIN_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "service.latency": (
        {"ms": 50, "jitter_ms": 10, "ramp_to_ms": 100, "ramp": "2s"},
        {"ms": 50, "jitter_ms": 10, "rate": 1, "ramp_to_ms": 100, "ramp": 2},
    ),
    "service.errors": ({"rate": 1, "status": 503}, {"rate": 1, "status": 503, "code": None}),
    "service.exception": ({"rate": 0.5, "where": "handler"}, {"rate": 0.5, "where": "handler"}),
    "service.memory_leak": ({"mb_per_s": 1, "max_mb": 2}, {"mb_per_s": 1, "max_mb": 2}),
    "service.cpu_burn": ({"percent": 5}, {"percent": 5, "threads": 1}),
    "service.loop_block": ({"block_ms": 5, "every_ms": 1000}, {"block_ms": 5, "every_ms": 1000}),
    "dependency.latency": ({"ms": 10}, {"ms": 10, "jitter_ms": 0, "rate": 1, "ramp_to_ms": None, "ramp": 0}),
    "dependency.stall": (
        {"ms": 10, "ramp_to_ms": 20, "ramp": 1},
        {"ms": 10, "jitter_ms": 0, "rate": 1, "ramp_to_ms": 20, "ramp": 1},
    ),
    "dependency.errors": (
        {"rate": 0.1, "code": "SYS_OVERLOADED"},
        {"rate": 0.1, "status": 500, "code": "SYS_OVERLOADED"},
    ),
    "dependency.hang": ({"rate": 0.01}, {"rate": 0.01}),
    "dependency.reset": ({"rate": 0.01}, {"rate": 0.01}),
    "dependency.memory_leak": ({"mb_per_s": 1}, {"mb_per_s": 1, "max_mb": None}),
    "dependency.cpu_burn": ({"percent": 5, "threads": 2}, {"percent": 5, "threads": 2}),
    "dependency.loop_block": ({"block_ms": 1, "every_ms": 5000}, {"block_ms": 1, "every_ms": 5000}),
}


def test_the_cases_cover_every_admin_fault_type() -> None:
    assert set(ADMIN_CASES) == {k.type for k in KINDS if k.admin_service is not None}


@pytest.mark.parametrize("fault_type", sorted(ADMIN_CASES))
async def test_inject_reaches_the_admin_api_with_its_params_and_revert_removes_it(
    svc: Services, fault_type: str
) -> None:
    given, held = ADMIN_CASES[fault_type]
    fault = registry.get(fault_type)
    params = registry.validate(fault_type, given)
    handle = await fault.inject(params, 30, svc.context(), label=f"t-{fault_type}")
    service = fault.target(params)
    listed = admin_faults(svc.urls[service], svc.token)
    assert [(f["id"], f["name"], f["type"]) for f in listed] == [
        (handle["id"], f"t-{fault_type}", fault_type.split(".", 1)[1])
    ]
    assert listed[0]["params"] == held
    assert await fault.revert(handle, svc.context()) == "reverted"
    assert admin_faults(svc.urls[service], svc.token) == []
    # a second revert finds it gone: the outcome says so instead of failing
    assert await fault.revert(handle, svc.context()) == "expired"


async def test_service_errors_make_play_fail_until_reverted(svc: Services) -> None:
    fault = registry.get("service.errors")
    handle = await fault.inject(
        registry.validate("service.errors", {"status": 503}), 30, svc.context(), label="e"
    )
    assert play(svc.urls["game"])[0] == 503
    await fault.revert(handle, svc.context())
    assert play(svc.urls["game"])[0] == 200


async def test_dependency_latency_slows_odds_and_ttl_ends_it(svc: Services) -> None:
    fault = registry.get("dependency.latency")
    await fault.inject(registry.validate("dependency.latency", {"ms": 400}), 1.5, svc.context(), label="slow")
    assert odds_seconds(svc.urls["odds"]) >= 0.35
    await asyncio.sleep(1.8)
    assert admin_faults(svc.urls["odds"], svc.token) == []
    assert odds_seconds(svc.urls["odds"]) < 0.35


async def test_bad_params_and_types_are_named() -> None:
    with pytest.raises(FaultError, match=r"service.latency: timeline.0.ms: Input should be greater"):
        registry.validate("service.latency", {"ms": -1}, where="timeline.0")
    with pytest.raises(FaultError, match=r"service.errors: fault.colour: Extra inputs"):
        registry.validate("service.errors", {"colour": 1})
    with pytest.raises(FaultError, match=r"unknown fault type 'service.nope'"):
        registry.get("service.nope")


async def test_wrong_token_is_a_fault_error_naming_the_url(svc: Services, tmp_path: Path) -> None:
    ctx = svc.context()
    ctx.admin_token = "wrong"
    fault = registry.get("service.errors")
    with pytest.raises(FaultError, match=r"POST http://127.0.0.1:\d+/admin/faults .* answered 401"):
        await fault.inject(registry.validate("service.errors", {}), 5, ctx, label="x")


def test_catalogue_covers_every_fault_type_of_the_contract() -> None:
    from chaos.scenario.fault_specs import FAULT_TYPES

    assert set(FAULT_TYPES) == set(registry.CATALOGUE) == {k.type for k in KINDS}
    assert {row["name"] for row in registry.describe()} == set(FAULT_TYPES)
    for name, fault in registry.CATALOGUE.items():
        assert fault.kind.params is FAULT_TYPES[name].__mro__[2], (
            "the scenario and the catalogue share the model"
        )
