"""Steady-state probes and guardrail checks: a PromQL query against the stack's Prometheus, or an
HTTP request; URLs may use ``{game}``, ``{odds}``, ``{prometheus}`` (filled from the stack)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from chaos.scenario.model import HttpCheck, HttpProbe, PromQLProbe, Tolerance
from crashlab.errors import CrashlabError


class PrometheusError(CrashlabError):
    """A query to the stack's Prometheus failed; the message names the query."""


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: float


class Prometheus:
    """The few Prometheus HTTP API calls the runner needs (instant queries)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def query(self, promql: str, at: float | None = None, timeout_s: float = 5.0) -> list[Sample]:
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.base_url}/api/v1/query"
        try:
            async with self.session.get(
                url, params=params, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as r:
                body = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PrometheusError(f"query {promql!r} at {url} failed: {exc!r}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"query {promql!r} at {url}: {body.get('error', body)}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [Sample({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise PrometheusError(f"query {promql!r}: expected an instant vector, got {data['resultType']}")
        return [Sample(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    async def scalar(self, promql: str, at: float | None = None) -> float | None:
        """The first series' value (None when the query returns nothing or NaN)."""
        samples = await self.query(promql, at)
        if not samples or math.isnan(samples[0].value):
            return None
        return samples[0].value


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
        samples = await prom.query(probe.promql)
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
