"""The five lines that say what happened: crashes, detection, availability, budget, verdict. Printed by
``crashlab drill --report`` and shown at the top of the page."""

from __future__ import annotations

from reports.build import Report
from reports.render.blind import blinded


def _pct(v: float) -> str:
    return f"{v * 100:.1f}%"


def headline(report: Report) -> list[str]:
    """A blind drill's lines call the faults "fault A", ... (as the top of its page does)."""
    report = blinded(report)
    i, t, slo = report.impact, report.times, report.inputs.ctx.slo
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(i.crash_reasons.items()))
    lines = [f"crashes: {i.crashes}" + (f" ({reasons})" if reasons else "")]
    start = t.incident_start_by or "incident start"
    if t.ttd_s is not None:
        lines.append(f"TTD: {t.ttd_s:.1f} s ({start} -> {t.first_alert_name})")
    else:
        lines.append(
            f"TTD: n/a (no alert fired after {start})" if t.incident_start else "TTD: n/a (no incident)"
        )
    slo_txt = f"SLO {slo.availability * 100:g}%"
    if i.availability is None:
        lines.append(f"availability: n/a (no request counters; {slo_txt})")
    elif i.availability_source == "players":
        server = _pct(i.availability_server) if i.availability_server is not None else "n/a"
        lines.append(
            f"availability: {_pct(i.availability)} as players saw it (server counted {server}; {slo_txt})"
        )
    else:
        locust = f"Locust saw {_pct(i.availability_client)}; " if i.availability_client is not None else ""
        lines.append(
            f"availability: {_pct(i.availability)} as the server counted it "
            f"(no players' counters; {locust}{slo_txt})"
        )
    b = report.budget.burned_ratio
    lines.append(
        "budget burned: n/a" if b is None else f"budget burned: {b:.1f}x the error budget of the window"
    )
    lines.append(f"verdict: {report.verdict}")
    return lines
