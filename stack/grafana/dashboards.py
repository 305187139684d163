"""The Grafana dashboards as code: ``python -m stack.grafana.dashboards`` writes
``stack/grafana/dashboards/*.json`` (checked in; a test fails when they drift from this file).

Three dashboards: the service overview (rate, errors, duration), SLO and error budget (burn rates
per window, budget left, alerts), and the incident view (crashes and restarts, panics, dependency
retries and circuit state, in-flight work, memory). Every one shades injected-fault windows with an
annotation over ``crashlab_fault_active`` and marks container/process restarts and firing alerts.
Datasource UIDs are the fixed ones of ``provisioning/datasources/datasources.yaml``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
TEMPO = {"type": "tempo", "uid": "tempo"}
PLAY = 'route="/play"'
SERVICE_JOBS = 'job=~"game|odds"'


def quantile(q: float, buckets: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({buckets}[1m])))"


def board_annotations() -> dict[str, Any]:
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "name": "Injected faults",
                "datasource": PROMETHEUS,
                "enable": True,
                "iconColor": "rgba(255, 96, 96, 0.35)",
                "expr": "max by (fault, type, target) (crashlab_fault_active) > 0",
                "step": "1s",
                "titleFormat": "fault {{fault}}",
                "textFormat": "{{type}} on {{target}}",
                "tagKeys": "type,target",
                "useValueForTime": False,
            },
            {
                "name": "Restarts",
                "datasource": PROMETHEUS,
                "enable": True,
                "iconColor": "orange",
                "expr": "increase(crashlab_process_restarts_total[10s]) > 0",
                "step": "5s",
                "titleFormat": "{{service}} restarted",
                "tagKeys": "service",
            },
            {
                "name": "Alerts firing",
                "datasource": PROMETHEUS,
                "enable": True,
                "iconColor": "purple",
                "expr": 'ALERTS{alertstate="firing"}',
                "step": "5s",
                "titleFormat": "{{alertname}}",
                "tagKeys": "alertname,severity",
            },
        ]
    }


class Board:
    """A dashboard under construction: panels flow left to right, 24 columns wide."""

    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _place(self, w: int, h: int) -> dict[str, int]:
        if self._x + w > 24:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        pos = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def row(self, title: str) -> None:
        if self._x:
            self._x, self._y, self._row_h = 0, self._y + self._row_h, 0
        self.panels.append(
            {"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
             "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1}, "panels": []}
        )  # fmt: skip
        self._y += 1

    def prom(
        self,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        kind: str = "timeseries",
        w: int = 12,
        h: int = 8,
        exemplars: bool = False,
        description: str = "",
        thresholds: list[tuple[float | None, str]] | None = None,
    ) -> None:
        steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": PROMETHEUS,
                "gridPos": self._place(w, h),
                "fieldConfig": {
                    "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                    "overrides": [],
                },
                "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
                "targets": [
                    {
                        "refId": chr(ord("A") + i),
                        "datasource": PROMETHEUS,
                        "expr": expr,
                        "legendFormat": legend,
                        "exemplar": exemplars,
                        "range": True,
                    }
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )

    def logs(self, title: str, expr: str, *, w: int = 24, h: int = 9) -> None:
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "logs",
                "title": title,
                "datasource": LOKI,
                "gridPos": self._place(w, h),
                "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"},
                "targets": [{"refId": "A", "datasource": LOKI, "expr": expr, "queryType": "range"}],
            }
        )

    def traces(self, title: str, query: str, *, w: int = 24, h: int = 9) -> None:
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "table",
                "title": title,
                "datasource": TEMPO,
                "gridPos": self._place(w, h),
                "targets": [
                    {"refId": "A", "datasource": TEMPO, "queryType": "traceql", "query": query, "limit": 20}
                ],
            }
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["crashlab", *self.tags],
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,
            "refresh": "5s",
            "time": {"from": "now-15m", "to": "now"},
            "timezone": "utc",
            "annotations": board_annotations(),
            "templating": {"list": []},
            "links": [
                {"title": "crashlab", "type": "dashboards", "tags": ["crashlab"], "asDropdown": False},
            ],
            "panels": self.panels,
        }


def overview() -> Board:
    b = Board(
        "crashlab-overview", "crashlab / service overview", "Rate, errors and duration of the game.", ["red"]
    )
    b.row("Game: rate, errors, duration")
    b.prom(
        "Requests by status",
        [(f"sum by (status) (rate(rps_http_requests_total{{{PLAY}}}[$__rate_interval]))", "{{status}}")],
        unit="reqps",
        w=8,
    )
    b.prom(
        "Error ratio (5xx)",
        [
            (
                f'sum(rate(rps_http_requests_total{{{PLAY},status=~"5.."}}[1m]))'
                f" / sum(rate(rps_http_requests_total{{{PLAY}}}[1m]))",
                "5xx share",
            )
        ],
        unit="percentunit",
        w=8,
        thresholds=[(None, "green"), (0.01, "red")],
    )
    b.prom(
        "/play latency (exemplars link to traces)",
        [
            (
                quantile(q, f"rps_http_request_duration_seconds_bucket{{{PLAY}}}"),
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ],
        unit="s",
        w=8,
        exemplars=True,
    )
    b.prom(
        "Errors by code", [("sum by (code, kind) (rate(rps_errors_total[1m]))", "{{kind}} {{code}}")], w=12
    )
    b.prom("Rounds by result", [("sum by (result) (rate(rps_rounds_total[1m]))", "{{result}}")], w=12)
    b.row("Odds (the dependency)")
    b.prom(
        "Odds requests by status",
        [("sum by (status) (rate(odds_http_requests_total[$__rate_interval]))", "{{status}}")],
        unit="reqps",
    )
    b.prom(
        "Odds p99 latency",
        [
            (
                quantile(0.99, "odds_http_request_duration_seconds_bucket"),
                "p99",
            )
        ],
        unit="s",
    )
    b.row("Logs")
    b.logs("Game errors (trace_id links to Tempo)", '{service="game", level="error"}')
    return b


def slo() -> Board:
    b = Board(
        "crashlab-slo",
        "crashlab / SLO and error budget",
        "Sloth-style SLIs, error budget left and multi-window burn rates (drill windows).",
        ["slo"],
    )
    b.row("Availability and latency SLIs")
    b.prom(
        "SLI error ratio (1m)",
        [("slo:sli_error:ratio_rate1m", "{{sloth_slo}}")],
        unit="percentunit",
        w=12,
    )
    b.prom(
        "Error budget remaining (period)",
        [("slo:period_error_budget_remaining:ratio", "{{sloth_slo}}")],
        unit="percentunit",
        kind="stat",
        w=6,
        thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
    )
    b.prom("Objective", [("slo:objective:ratio", "{{sloth_slo}}")], unit="percentunit", kind="stat", w=6)
    b.row("Burn rates (page: 14.4x / 6x, ticket: 3x / 1x)")
    for window in ("5s", "30s", "1m", "6m"):
        b.prom(
            f"Burn rate over {window}",
            [
                (
                    f"slo:sli_error:ratio_rate{window} / on (sloth_id) group_left () slo:error_budget:ratio",
                    "{{sloth_slo}}",
                )
            ],
            unit="x",
            w=6,
            thresholds=[(None, "green"), (6, "orange"), (14.4, "red")],
        )
    b.prom("Current burn rate", [("slo:current_burn_rate:ratio", "{{sloth_slo}}")], unit="x", w=12)
    b.prom(
        "Alerts firing",
        [('sum by (alertname, severity) (ALERTS{alertstate="firing"})', "{{alertname}}")],
        w=12,
    )
    return b


def incident() -> Board:
    b = Board(
        "crashlab-incident",
        "crashlab / incident view",
        "The five-crash chain: slow dependency -> retries -> pile-up -> memory -> crash -> restart.",
        ["incident"],
    )
    b.row("Crashes and restarts")
    b.prom("Service up", [("crashlab_process_up", "{{service}}")], kind="state-timeline", w=12)
    b.prom("Restarts", [("increase(crashlab_process_restarts_total[1m])", "{{service}}")], w=6)
    b.prom("Exits by reason", [("increase(crashlab_process_exits_total[1m])", "{{service}} {{reason}}")], w=6)
    b.prom("Panics", [("sum by (where) (rate(rps_panics_total[1m]))", "{{where}}")], w=8)
    b.prom("Active faults", [("crashlab_fault_active", "{{fault}} ({{type}})")], kind="state-timeline", w=16)
    b.row("Dependency: retries, outcomes, circuit")
    b.prom(
        "Dependency attempts by outcome",
        [("sum by (outcome) (rate(rps_dependency_requests_total[1m]))", "{{outcome}}")],
        unit="reqps",
        w=8,
    )
    b.prom(
        "Dependency retries",
        [("sum(rate(rps_dependency_retries_total[1m]))", "retries/s")],
        unit="reqps",
        w=8,
    )
    b.prom(
        "Circuit state (0 closed, 1 half-open, 2 open)",
        [("rps_circuit_state", "{{dependency}}")],
        kind="state-timeline",
        w=8,
    )
    b.prom(
        "Dependency p99",
        [
            (
                quantile(0.99, "rps_dependency_request_duration_seconds_bucket"),
                "p99",
            )
        ],
        unit="s",
        w=12,
    )
    b.prom(
        "Degraded answers and shed requests",
        [
            ("sum by (reason) (rate(rps_degraded_answers_total[1m]))", "degraded {{reason}}"),
            ("rate(rps_shed_requests_total[1m])", "shed"),
        ],
        w=12,
    )
    b.row("Pile-up: in-flight work, connections, memory")
    b.prom(
        "In flight",
        [
            ("rps_http_requests_in_flight", "game requests"),
            ("rps_dependency_in_flight", "dependency calls {{dependency}}"),
            ("rps_open_connections", "open connections {{dependency}}"),
        ],
        w=12,
    )
    b.prom(
        "Memory vs limit",
        [
            (f"process_resident_memory_bytes{{{SERVICE_JOBS}}}", "{{job}} RSS"),
            ("crashlab_process_memory_limit_bytes > 0", "{{service}} limit"),
        ],
        unit="bytes",
        w=12,
    )
    b.row("Traces of slow plays")
    b.traces("Slow /play traces", '{resource.service.name="game" && duration > 1s}')
    return b


BOARDS = {"service-overview.json": overview, "slo.json": slo, "incident.json": incident}


def render() -> dict[str, str]:
    return {name: json.dumps(build().to_json(), indent=2) + "\n" for name, build in BOARDS.items()}


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {OUT_DIR / name}\n")


if __name__ == "__main__":
    main()
