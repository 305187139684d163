"""Error budget (events-based): allowed bad requests = (1 - SLO) x requests; burned = failed / allowed.

The budget is of the availability SLI the report uses: the players' view (``crashlab_client_requests_total``)
when it exists, else the server's own counters; the other view is kept under its own name."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.verdict import PLAYER_BAD
from reports.analysis.impact import Impact
from reports.analysis.series import cumulative_increase
from reports.inputs import Inputs
from reports.model import Series


@dataclass
class Budget:
    slo: float
    allowed_failures: float | None = None
    failed: int | None = None
    #: burned ratio of the SLI used (``source``)
    burned_ratio: float | None = None
    #: the same from Locust's CSV (Aggregated row)
    client_burned_ratio: float | None = None
    #: which availability SLI the budget is of (``players`` or ``server``)
    source: str = "server"
    server_burned_ratio: float | None = None
    players_burned_ratio: float | None = None
    #: burned ratio over time (running failures / allowed failures of the whole drill)
    series: list[tuple[float, float]] = field(default_factory=list)


def _ratio(slo: float, total: int | None, failed: int | None) -> float | None:
    if total is None or failed is None:
        return None
    allowed = (1.0 - slo) * total
    if allowed > 0:
        return failed / allowed
    return 0.0 if failed == 0 else None


def analyse_budget(inputs: Inputs, impact: Impact) -> Budget:
    slo = inputs.ctx.slo.availability
    budget = Budget(slo=slo, source=impact.availability_source, failed=impact.sli_failed)
    if inputs.locust is not None and inputs.locust.requests > 0 and slo < 1:
        budget.client_burned_ratio = inputs.locust.failures / ((1.0 - slo) * inputs.locust.requests)
    budget.server_burned_ratio = _ratio(slo, impact.requests_total, impact.requests_failed)
    budget.players_burned_ratio = _ratio(slo, impact.players_requests, impact.players_failed)
    total = impact.sli_requests
    if total is None or impact.sli_failed is None:
        return budget
    allowed = (1.0 - slo) * total
    budget.allowed_failures = allowed
    budget.burned_ratio = _ratio(slo, total, impact.sli_failed)
    prom = inputs.prom
    if prom is not None and allowed > 0:
        failures: list[Series]
        if budget.source == "players":
            raw = prom.get("client_requests_raw")
            failures = [s for s in raw if s.labels.get("outcome", "") in PLAYER_BAD]
        else:
            raw = prom.get("requests_raw")
            failures = [s for s in raw if s.labels.get("status", "").startswith("5")]
        running = dict(cumulative_increase(failures, inputs.t0))
        grid = sorted({t for s in raw for t, _ in s.points if t >= inputs.t0})
        level = 0.0
        for t in grid:
            level = running.get(t, level)
            budget.series.append((t, level / allowed))
    return budget
