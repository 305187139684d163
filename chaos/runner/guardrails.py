"""Guardrails: conditions that abort the drill (and revert every fault) when they hold for ``for``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from chaos.runner import events as ev
from chaos.runner.events import EventBus
from chaos.runner.probes import check_http
from chaos.scenario.model import HttpGuardrail, PromQLGuardrail
from crashlab.prometheus import Prometheus, PrometheusError


@dataclass(frozen=True)
class Breach:
    breached: bool
    value: Any
    detail: str = ""


async def check(
    guard: PromQLGuardrail | HttpGuardrail,
    urls: Mapping[str, str],
    prom: Prometheus | None,
    session: aiohttp.ClientSession,
) -> Breach:
    if isinstance(guard, HttpGuardrail):
        result = await check_http(guard.http, urls, session)
        return Breach(not result.passed, result.value, result.detail)
    if prom is None:
        return Breach(False, None, "no Prometheus")
    try:
        samples = await asyncio.to_thread(prom.query, guard.promql)
    except PrometheusError as exc:
        return Breach(False, None, str(exc))
    above, below = guard.abort_when.above, guard.abort_when.below
    for sample in samples:
        if above is not None and sample.value > above:
            return Breach(True, sample.value, f"{guard.promql} = {sample.value:g} > {above:g}")
        if below is not None and sample.value < below:
            return Breach(True, sample.value, f"{guard.promql} = {sample.value:g} < {below:g}")
    return Breach(False, samples[0].value if samples else None)


async def watch(
    guardrails: Sequence[PromQLGuardrail | HttpGuardrail],
    urls: Mapping[str, str],
    prom: Prometheus | None,
    session: aiohttp.ClientSession,
    bus: EventBus,
    interval_s: float = 1.0,
) -> ev.GuardrailTripped:
    """Returns the first guardrail that trips (runs until cancelled otherwise)."""
    since: dict[str, float] = {}
    while True:
        results = await asyncio.gather(*(check(g, urls, prom, session) for g in guardrails))
        now = time.monotonic()
        for guard, breach in zip(guardrails, results, strict=True):
            if not breach.breached:
                since.pop(guard.name, None)
                continue
            start = since.setdefault(guard.name, now)
            if now - start >= guard.for_:
                tripped = ev.GuardrailTripped(guard.name, breach.value, breach.detail)
                bus.emit(tripped)
                return tripped
        await asyncio.sleep(interval_s)
