"""Detection: the incident's moments (fault, incident start, breach, first alert, mitigation, recovery),
TTD/TTM/TTR with their definitions, and every alert that fired."""

from __future__ import annotations

from reports.analysis.times import DEFINITIONS
from reports.document import Cell, Section, Table, strong
from reports.render import format as fmt
from reports.sections.page import Page


def section(page: Page) -> Section:
    t, slo, t0 = page.times, page.ctx.slo, page.t0

    severity = f" (severity {t.first_alert_severity})" if t.first_alert_severity else ""
    moments = Table(
        ["moment", "UTC", "since start", "note"],
        [
            [
                "first fault injected",
                fmt.utc(t.fault_start),
                fmt.rel(t.fault_start, t0),
                t.faults[0].name if t.faults else "",
            ],
            [
                [strong("incident start"), " (TTD/TTM/TTR count from here)"],
                fmt.utc(t.incident_start),
                fmt.rel(t.incident_start, t0),
                (t.incident_start_by or "")
                + (f": {t.incident_start_reason}" if t.incident_start_reason else ""),
            ],
            [
                "SLO breach start",
                fmt.utc(t.breach_start),
                fmt.rel(t.breach_start, t0),
                f"{len(t.breaches)} breach interval(s)",
            ],
            [
                "first alert firing",
                fmt.utc(t.first_alert),
                fmt.rel(t.first_alert, t0),
                (t.first_alert_name or "") + severity,
            ],
            ["mitigation", fmt.utc(t.mitigation), fmt.rel(t.mitigation, t0), t.mitigation_by or ""],
            [
                "SLO breach end / recovery",
                fmt.utc(t.breach_end),
                fmt.rel(t.breach_end, t0),
                "not recovered by the end of the drill" if t.recovered is False else "",
            ],
        ],
    )
    breach = (
        f"{DEFINITIONS['SLO breach']} (availability {fmt.pct(slo.availability)}, "
        f"p{round(slo.latency_target * 100, 1):g} under {fmt.ms(slo.latency_threshold_s)})"
    )
    definitions = Table(
        ["", "value", "definition"],
        [
            ["incident start", "", DEFINITIONS["incident start"]],
            ["TTD", Cell(fmt.dur(t.ttd_s), num=True), DEFINITIONS["TTD"]],
            ["TTM", Cell(fmt.dur(t.ttm_s), num=True), DEFINITIONS["TTM"]],
            ["TTR", Cell(fmt.dur(t.ttr_s), num=True), DEFINITIONS["TTR"]],
            ["SLO breach", "", breach],
        ],
        keyed=True,
    )
    alerts = Table(
        ["alert", "severity", "first firing (UTC)", "since start"],
        [
            [name, t.alert_severity.get(name, ""), fmt.utc(ts), fmt.rel(ts, t0)]
            for name, ts in t.alerts_fired.items()
        ],
        empty="no alert fired",
    )
    return Section("detection", "Detection", [moments, definitions, alerts])
