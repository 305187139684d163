"""Error budget (events-based): allowed bad requests = (1 - SLO) x requests; burned = failed / allowed."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.analysis.series import cumulative_increase
from reports.inputs import Inputs


@dataclass
class Budget:
    slo: float
    allowed_failures: float | None = None
    failed: int | None = None
    burned_ratio: float | None = None
    #: the same from the client's side (Locust): what the players saw
    client_burned_ratio: float | None = None
    #: burned ratio over time (running failures / allowed failures of the whole drill)
    series: list[tuple[float, float]] = field(default_factory=list)


def analyse_budget(inputs: Inputs, requests_total: int | None, requests_failed: int | None) -> Budget:
    slo = inputs.ctx.slo.availability
    budget = Budget(slo=slo, failed=requests_failed)
    if inputs.locust is not None and inputs.locust.requests > 0 and slo < 1:
        budget.client_burned_ratio = inputs.locust.failures / ((1.0 - slo) * inputs.locust.requests)
    if requests_total is None or requests_failed is None:
        return budget
    allowed = (1.0 - slo) * requests_total
    budget.allowed_failures = allowed
    if allowed > 0:
        budget.burned_ratio = requests_failed / allowed
    elif requests_failed == 0:
        budget.burned_ratio = 0.0
    prom = inputs.prom
    if prom is not None and allowed > 0:
        failures = [s for s in prom.get("requests_raw") if s.labels.get("status", "").startswith("5")]
        running = dict(cumulative_increase(failures, inputs.t0))
        grid = sorted({t for s in prom.get("requests_raw") for t, _ in s.points if t >= inputs.t0})
        level = 0.0
        for t in grid:
            level = running.get(t, level)
            budget.series.append((t, level / allowed))
    return budget
