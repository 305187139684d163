"""Generates the recording and alerting rules of both runtimes from one description.

``python -m stack.prometheus.generate`` writes ``rules/fast/slo.yml`` and ``rules/fast/crashlab.yml``
(drill windows) and the same two under ``rules/real/`` (SRE-book windows); ``--check`` only
compares (a test runs it, so hand edits of the YAML fail). Objectives are parameters.

SLOs (service ``game``, route ``/play``), with Sloth's recording-rule names and labels:

- availability: good = answers whose status is not 5xx; objective 99 % by default;
- latency: good = answers within 0.5 s; objective 95 % by default.

Multi-window multi-burn-rate alerts (Google SRE workbook, ch. 5): page when the budget burns 14.4x
over 1 h and 5 m, or 6x over 6 h and 30 m; ticket at 3x over 1 d and 2 h, or 1x over 3 d and 6 h.
Drill (``fast``) windows are those divided by 60: 1m/5s, 6m/30s, 24m/2m, 72m/6m, and the SLO
period 30 d becomes 12 h.

Every alert carries ``runbook_url`` (``docs/runbooks/<alert>.md`` under the base URL in the external
label ``crashlab_runbooks``, else the repository-relative path) and ``graph_url``: the graph of the
alert's signal (the expression it compares with its threshold), in Grafana's Explore when the
external label ``crashlab_grafana`` names a Grafana, else in Prometheus' own graph page. Prometheus
also sets ``generatorURL`` (its expression, in the expression browser) on every alert it sends.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import yaml

from stack.prometheus.config import (
    GRAFANA_LABEL,
    RULES_DIR,
    RUNBOOKS_LABEL,
    RUNBOOKS_PATH,
    AlertWindows,
    rules_dir,
)

Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float
    severity: Severity


@dataclass(frozen=True)
class WindowSet:
    burns: tuple[BurnWindow, ...]
    #: the SLO period (Sloth's ``slo:time_period:days``) and the name of its ratio window
    period: str
    period_days: float
    #: how often the period rules are evaluated (they read many samples)
    period_interval: str
    # windows of the non-SLO alerts
    crashloop: str
    panic: str
    winrate: str
    winrate_for: str
    winrate_min_rps: float
    p99: str
    p99_for: str
    circuit_for: str
    #: the time range of an alert's graph link
    graph_range: str


WINDOWS: dict[AlertWindows, WindowSet] = {
    "real": WindowSet(
        burns=(
            BurnWindow("1h", "5m", 14.4, "page"),
            BurnWindow("6h", "30m", 6, "page"),
            BurnWindow("1d", "2h", 3, "ticket"),
            BurnWindow("3d", "6h", 1, "ticket"),
        ),
        period="30d",
        period_days=30,
        period_interval="1m",
        crashloop="15m",
        panic="10m",
        winrate="30m",
        winrate_for="10m",
        winrate_min_rps=1,
        p99="5m",
        p99_for="5m",
        circuit_for="1m",
        graph_range="6h",
    ),
    "fast": WindowSet(
        burns=(
            BurnWindow("1m", "5s", 14.4, "page"),
            BurnWindow("6m", "30s", 6, "page"),
            BurnWindow("24m", "2m", 3, "ticket"),
            BurnWindow("72m", "6m", 1, "ticket"),
        ),
        period="12h",
        period_days=0.5,
        period_interval="5s",
        crashloop="1m",
        panic="1m",
        winrate="1m",
        winrate_for="10s",
        winrate_min_rps=5,
        p99="30s",
        p99_for="5s",
        circuit_for="2s",
        graph_range="30m",
    ),
}

SERVICE = "game"
ROUTE = "/play"
#: a /play answer slower than this is "bad" for the latency SLO; it is a bucket boundary
LATENCY_THRESHOLD_S = 0.5
WIN_SHARE = 1 / 3
WIN_DEVIATION = 0.1
P99_THRESHOLD_S = 1.0
#: client-side outcomes (crashlab_client_requests_total{outcome}) that spend the player-availability budget
CLIENT_BAD_OUTCOMES = "timeout|connection|http_5xx"
#: the Grafana datasource UID of Prometheus (stack/grafana/provisioning)
GRAFANA_PROMETHEUS_UID = "prometheus"


def _action(text: str) -> str:
    """A Go template action: ``{{ text }}``."""
    return "{{ " + text + " }}"


def _with_label(label: str, then: str, otherwise: str) -> str:
    """``then`` after the external label's value when it is set (non-empty), else ``otherwise``."""
    return (
        _action(f"with $externalLabels.{label}")
        + _action(".")
        + then
        + _action("else")
        + otherwise
        + _action("end")
    )


def runbook_url(alert: str) -> str:
    """The ``runbook_url`` annotation (a Prometheus template) of ``alert``."""
    return _with_label(RUNBOOKS_LABEL, "", RUNBOOKS_PATH) + f"/{alert}.md"


def graph_url(signal: str, ws: WindowSet) -> str:
    """The ``graph_url`` annotation (a Prometheus template): ``signal`` graphed over the last
    ``ws.graph_range``, in Grafana's Explore where Grafana runs, else in Prometheus' graph page."""
    pane = {
        "a": {
            "datasource": GRAFANA_PROMETHEUS_UID,
            "queries": [
                {
                    "refId": "A",
                    "expr": signal,
                    "range": True,
                    "datasource": {"type": "prometheus", "uid": GRAFANA_PROMETHEUS_UID},
                }
            ],
            "range": {"from": f"now-{ws.graph_range}", "to": "now"},
        }
    }
    panes = quote(json.dumps(pane, separators=(",", ":")), safe="")
    explore = f"/explore?schemaVersion=1&orgId=1&panes={panes}"
    graph = f"/graph?g0.expr={quote(signal, safe='')}&g0.tab=0&g0.range_input={ws.graph_range}"
    return _with_label(GRAFANA_LABEL, explore, _action("$externalURL") + graph)


def links(alert: str, signal: str, ws: WindowSet) -> dict[str, str]:
    return {"runbook_url": runbook_url(alert), "graph_url": graph_url(signal, ws)}


@dataclass(frozen=True)
class Slo:
    name: str
    objective: float
    errors: str
    total: str
    alert_prefix: str
    description: str

    @property
    def sloth_id(self) -> str:
        return f"{SERVICE}-{self.name}"

    @property
    def budget(self) -> float:
        return round(1 - self.objective / 100, 10)

    def labels(self) -> dict[str, str]:
        return {"sloth_id": self.sloth_id, "sloth_service": SERVICE, "sloth_slo": self.name}

    def selector(self) -> str:
        return f'sloth_id="{self.sloth_id}", sloth_service="{SERVICE}", sloth_slo="{self.name}"'


def slos(
    availability: float = 99.0, latency: float = 95.0, latency_threshold_s: float = LATENCY_THRESHOLD_S
) -> list[Slo]:
    play = f'route="{ROUTE}"'
    return [
        Slo(
            name="availability",
            objective=availability,
            errors=f'sum(rate(rps_http_requests_total{{{play}, status=~"5.."}}[{{w}}]))',
            total=f"sum(rate(rps_http_requests_total{{{play}}}[{{w}}]))",
            alert_prefix="ErrorBudget",
            description=f"{ROUTE} answers that are not 5xx",
        ),
        Slo(
            name="player-availability",
            objective=availability,
            errors=(
                "sum(rate(crashlab_client_requests_total"
                f'{{{play}, outcome=~"{CLIENT_BAD_OUTCOMES}"}}[{{w}}]))'
            ),
            total=f"sum(rate(crashlab_client_requests_total{{{play}}}[{{w}}]))",
            alert_prefix="ErrorBudget",
            description=(
                f"{ROUTE} answers as players see them (no timeout, no connection error, no 5xx; "
                "measured by the load generator, like a load balancer would)"
            ),
        ),
        Slo(
            name="latency",
            objective=latency,
            errors=(
                f"(sum(rate(rps_http_request_duration_seconds_count{{{play}}}[{{w}}]))"
                " - sum(rate(rps_http_request_duration_seconds_bucket"
                f'{{{play}, le="{latency_threshold_s:g}"}}[{{w}}])))'
            ),
            total=f"sum(rate(rps_http_request_duration_seconds_count{{{play}}}[{{w}}]))",
            alert_prefix="LatencyBudget",
            description=f"{ROUTE} answers within {latency_threshold_s:g} s",
        ),
    ]


def _windows(ws: WindowSet) -> list[str]:
    seen: list[str] = []
    for burn in ws.burns:
        for w in (burn.short, burn.long):
            if w not in seen:
                seen.append(w)
    return sorted(seen, key=_seconds)


def _seconds(w: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return float(w[:-1]) * units[w[-1]]


def burn_signal(slo: Slo, burns: list[BurnWindow]) -> str:
    """The burn rate of ``slo`` over each window of ``burns`` (one series per ``sloth_window``)."""
    windows = "|".join(w for b in burns for w in (b.short, b.long))
    return f'{{__name__=~"slo:sli_error:ratio_rate({windows})", sloth_id="{slo.sloth_id}"}} / {slo.budget:g}'


def slo_groups(slo: Slo, ws: WindowSet) -> list[dict[str, Any]]:
    sel = slo.selector()
    windows = _windows(ws)
    shortest = windows[0]
    sli = [
        {
            "record": f"slo:sli_error:ratio_rate{w}",
            "expr": f"({slo.errors.replace('{w}', w)})\n/\n({slo.total.replace('{w}', w)})\n",
            "labels": {**slo.labels(), "sloth_window": w},
        }
        for w in windows
    ]
    sli.append(
        {
            "record": f"slo:sli_error:ratio_rate{ws.period}",
            "expr": (
                f"sum_over_time(slo:sli_error:ratio_rate{shortest}{{{sel}}}[{ws.period}])\n"
                f"/ ignoring (sloth_window)\n"
                f"count_over_time(slo:sli_error:ratio_rate{shortest}{{{sel}}}[{ws.period}])\n"
            ),
            "labels": {**slo.labels(), "sloth_window": ws.period},
        }
    )
    budget = f"slo:error_budget:ratio{{{sel}}}"
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({slo.objective / 100:g})", "labels": slo.labels()},
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1 - {slo.objective / 100:g})",
            "labels": slo.labels(),
        },
        {"record": "slo:time_period:days", "expr": f"vector({ws.period_days:g})", "labels": slo.labels()},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": (
                f"slo:sli_error:ratio_rate{shortest}{{{sel}}}\n"
                f"/ on (sloth_id, sloth_slo, sloth_service) group_left\n{budget}\n"
            ),
            "labels": slo.labels(),
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": (
                f"slo:sli_error:ratio_rate{ws.period}{{{sel}}}\n"
                f"/ on (sloth_id, sloth_slo, sloth_service) group_left\n{budget}\n"
            ),
            "labels": slo.labels(),
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{{{sel}}}",
            "labels": slo.labels(),
        },
        {
            "record": "sloth_slo_info",
            "expr": "vector(1)",
            "labels": {**slo.labels(), "sloth_objective": f"{slo.objective:g}", "sloth_mode": "crashlab"},
        },
    ]
    alerts = []
    for severity, title in (("page", "Page"), ("ticket", "Ticket")):
        terms = []
        for burn in (b for b in ws.burns if b.severity == severity):
            threshold = f"({burn.factor:g} * {slo.budget:g})"
            terms.append(
                "(\n"
                f"  max(slo:sli_error:ratio_rate{burn.short}{{{sel}}} > {threshold}) without (sloth_window)\n"
                "  and\n"
                f"  max(slo:sli_error:ratio_rate{burn.long}{{{sel}}} > {threshold}) without (sloth_window)\n"
                ")"
            )
        burns = [b for b in ws.burns if b.severity == severity]
        pairs = ", ".join(f"{b.factor:g}x over {b.long}/{b.short}" for b in burns)
        name = f"{slo.alert_prefix}Burn{title}"
        alerts.append(
            {
                "alert": name,
                "expr": "\n or \n".join(terms) + "\n",
                "labels": {"severity": severity, "sloth_severity": severity, "slo": slo.name},
                "annotations": {
                    "summary": f"{SERVICE} {slo.name} SLO ({slo.objective:g}% {slo.description}): "
                    f"error budget burning fast enough to {severity} ({pairs})",
                    **links(name, burn_signal(slo, burns), ws),
                },
            }
        )
    return [
        {"name": f"sloth-slo-sli-recordings-{slo.sloth_id}", "rules": sli},
        {"name": f"sloth-slo-meta-recordings-{slo.sloth_id}", "interval": ws.period_interval, "rules": meta},
        {"name": f"sloth-slo-alerts-{slo.sloth_id}", "rules": alerts},
    ]


def crashlab_alert(
    name: str,
    signal: str,
    condition: str,
    severity: Severity,
    summary: str,
    ws: WindowSet,
    for_: str | None = None,
) -> dict[str, Any]:
    """An alert whose expression is ``signal`` + ``condition`` (the threshold, and any guard): the
    graph link shows the signal, so a reader sees how close it came and when it crossed."""
    rule: dict[str, Any] = {"alert": name, "expr": f"{signal}{condition}\n"}
    if for_ is not None:
        rule["for"] = for_
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, **links(name, signal, ws)}
    return rule


def crashlab_groups(ws: WindowSet) -> list[dict[str, Any]]:
    play = f'route="{ROUTE}"'
    rules = [
        crashlab_alert(
            "CrashLoop",
            f"sum by (service) (increase(crashlab_process_restarts_total[{ws.crashloop}]))",
            " >= 2",
            "page",
            f"a process was restarted at least twice within {ws.crashloop}",
            ws,
        ),
        crashlab_alert(
            "PanicRate",
            f"(sum(increase(rps_panics_total[{ws.panic}])) or vector(0))\n"
            "+ (sum(increase("
            f'crashlab_process_exits_total{{reason="panic"}}[{ws.panic}])) or vector(0))',
            "\n> 0",
            "ticket",
            f"the game panicked (recovered or not) within {ws.panic}",
            ws,
        ),
        crashlab_alert(
            "WinRateDeviation",
            f'abs(sum(rate(rps_rounds_total{{result="win"}}[{ws.winrate}]))'
            f" / sum(rate(rps_rounds_total[{ws.winrate}]))"
            f" - {WIN_SHARE:.4f})",
            f" > {WIN_DEVIATION:g}\n"
            f"and on () sum(rate(rps_rounds_total[{ws.winrate}])) > {ws.winrate_min_rps:g}",
            "ticket",
            f"players' win share over {ws.winrate} is over {WIN_DEVIATION:g} away from 1/3",
            ws,
            for_=ws.winrate_for,
        ),
        crashlab_alert(
            "HighP99Latency",
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(rps_http_request_duration_seconds_bucket{{{play}}}[{ws.p99}])))",
            f"\n> {P99_THRESHOLD_S:g}",
            "ticket",
            f"p99 latency of {ROUTE} over {ws.p99} is above {P99_THRESHOLD_S:g} s",
            ws,
            for_=ws.p99_for,
        ),
        crashlab_alert(
            "DependencyCircuitOpen",
            "max by (dependency) (rps_circuit_state)",
            " == 2",
            "ticket",
            "the game's circuit breaker to a dependency is open",
            ws,
            for_=ws.circuit_for,
        ),
    ]
    return [{"name": "crashlab-alerts", "rules": rules}]


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def render(windows: AlertWindows, availability: float = 99.0, latency: float = 95.0) -> dict[str, str]:
    """File name -> YAML text of the rule files for ``windows``."""
    ws = WINDOWS[windows]
    header = (
        "# GENERATED from stack/prometheus/generate.py (python -m stack.prometheus.generate); do not edit.\n"
        f"# windows: {windows}\n"
    )
    groups: list[dict[str, Any]] = []
    for slo in slos(availability, latency):
        groups.extend(slo_groups(slo, ws))
    slo_text = yaml.dump({"groups": groups}, Dumper=_Dumper, sort_keys=False, width=1 << 16)
    other = yaml.dump({"groups": crashlab_groups(ws)}, Dumper=_Dumper, sort_keys=False, width=1 << 16)
    return {"slo.yml": header + slo_text, "crashlab.yml": header + other}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack.prometheus.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="fail if the checked-in files differ")
    parser.add_argument("--availability", type=float, default=99.0, help="availability objective, percent")
    parser.add_argument("--latency", type=float, default=95.0, help="latency objective, percent")
    args = parser.parse_args(argv)
    stale = []
    for windows in ("fast", "real"):
        target = rules_dir(windows)
        for name, text in render(windows, args.availability, args.latency).items():
            path = target / name
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == text:
                continue
            if args.check:
                stale.append(str(path.relative_to(RULES_DIR.parent)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m stack.prometheus.generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
