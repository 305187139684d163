"""The facilitator's live SLIs, read from the stack's Prometheus (``crashlab.prometheus``).

Over the last 30 s, as the players see it (the load generator's counters, like a load balancer's):
availability of ``/play`` (a timeout, a connection error or a 5xx is bad, as the player-availability
SLO counts), its p99 and its request rate; and the players' error-budget burn rate over the shortest
window of the SLO's rules. Crashes come from the journal (the console's state), not from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crashlab.prometheus import Prometheus, PrometheusError
from crashlab.timeutil import iso, utcnow
from stack.prometheus.generate import CLIENT_BAD_OUTCOMES

#: how often the facilitator console reads them
SLI_INTERVAL_S = 5.0
_PLAY = 'route="/play"'
_WINDOW = "30s"
_BAD = f'crashlab_client_requests_total{{{_PLAY},outcome=~"{CLIENT_BAD_OUTCOMES}"}}'


@dataclass(frozen=True)
class Sli:
    name: str
    label: str
    query: str
    unit: str


SLIS = (
    Sli(
        "availability",
        "players' availability (30 s)",
        f"1 - (sum(rate({_BAD}[{_WINDOW}])) or vector(0))"
        f" / sum(rate(crashlab_client_requests_total{{{_PLAY}}}[{_WINDOW}]))",
        "ratio",
    ),
    Sli(
        "p99_ms",
        "players' p99 (30 s)",
        "1000 * histogram_quantile(0.99, sum by (le) "
        f"(rate(crashlab_client_request_duration_seconds_bucket{{{_PLAY}}}[{_WINDOW}])))",
        "ms",
    ),
    Sli(
        "rps",
        "requests per second",
        f"sum(rate(crashlab_client_requests_total{{{_PLAY}}}[{_WINDOW}]))",
        "rps",
    ),
    Sli(
        "burn_rate",
        "players' error-budget burn rate",
        'max(slo:current_burn_rate:ratio{sloth_id="game-player-availability"})',
        "x",
    ),
)


def read_slis(prometheus: Prometheus) -> dict[str, object]:
    """``{"at": ..., "values": {name: number | None}, "labels": {...}, "errors": {name: why}}``
    (blocking: the console runs it in a thread)."""
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for sli in SLIS:
        try:
            value = prometheus.scalar(sli.query)
        except PrometheusError as exc:
            values[sli.name] = None
            errors[sli.name] = str(exc)
            continue
        values[sli.name] = None if value is None or not math.isfinite(value) else round(value, 6)
    return {
        "at": iso(utcnow()),
        "values": values,
        "labels": {s.name: s.label for s in SLIS},
        "units": {s.name: s.unit for s in SLIS},
        "errors": errors,
    }
