"""Steady-state probes and guardrail checks: a PromQL query against the stack's Prometheus (through the
one client, crashlab.prometheus), or an HTTP request; URLs may use ``{game}``, ``{odds}``,
``{prometheus}`` (filled from the stack)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from chaos.scenario.model import HttpCheck, HttpProbe, PromQLProbe, Tolerance
from crashlab.errors import CrashlabError
from crashlab.prometheus import Prometheus, PrometheusError


def fill_url(template: str, urls: Mapping[str, str]) -> str:
    try:
        return template.format_map({k: v.rstrip("/") for k, v in urls.items()})
    except KeyError as exc:
        raise CrashlabError(
            f"URL {template!r} uses {{{exc.args[0]}}}, which this stack does not have"
        ) from None


def within(value: float, tolerance: Tolerance) -> bool:
    if tolerance.min is not None and value < tolerance.min:
        return False
    return not (tolerance.max is not None and value > tolerance.max)


@dataclass(frozen=True)
class ProbeResult:
    passed: bool
    value: Any
    detail: str = ""


async def check_http(
    check: HttpCheck, urls: Mapping[str, str], session: aiohttp.ClientSession
) -> ProbeResult:
    url = fill_url(check.url, urls)
    try:
        async with session.request(
            check.method, url, timeout=aiohttp.ClientTimeout(total=check.timeout)
        ) as r:
            await r.read()
            ok = r.status == check.status
            return ProbeResult(ok, r.status, "" if ok else f"{check.method} {url} answered {r.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return ProbeResult(False, None, f"{check.method} {url}: {type(exc).__name__} {exc}".strip())


async def run_probe(
    probe: PromQLProbe | HttpProbe,
    urls: Mapping[str, str],
    prom: Prometheus | None,
    session: aiohttp.ClientSession,
) -> ProbeResult:
    if isinstance(probe, HttpProbe):
        return await check_http(probe.http, urls, session)
    if prom is None:
        return ProbeResult(False, None, "this stack has no Prometheus")
    try:
        samples = await asyncio.to_thread(prom.query, probe.promql)
    except PrometheusError as exc:
        return ProbeResult(False, None, str(exc))
    if not samples:
        return ProbeResult(False, None, f"{probe.promql!r} returned no data")
    values = [s.value for s in samples]
    bad = [v for v in values if math.isnan(v) or not within(v, probe.tolerance)]
    value: Any = values[0] if len(values) == 1 else values
    return ProbeResult(
        not bad, value, f"{bad} outside {probe.tolerance.model_dump(exclude_none=True)}" if bad else ""
    )
