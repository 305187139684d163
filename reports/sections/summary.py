"""Summary: the tiles (verdict, crashes, availability, TTD, TTM, TTR, failed requests, budget) and where
the incident starts."""

from __future__ import annotations

from reports.document import Inline, Paragraph, Section, Tile, Tiles, strong
from reports.render import format as fmt
from reports.sections.page import Page


def _verdict(page: Page) -> Tile:
    r = page.report
    met = sum(1 for c in r.expectations if c.met)
    detail = f"{met} of {len(r.expectations)} expectation(s) met"
    others = len(r.evaluation.failures) - sum(1 for c in r.expectations if c.met is False)
    if r.verdict == "failed" and others > 0:
        detail += f"; {others} other failure(s)"
    elif r.verdict in ("aborted", "incomplete") and r.evaluation.reason:
        detail += f"; {r.evaluation.reason}"
    runner = page.ctx.manifest.get("verdict")
    if runner and runner != r.verdict:
        detail += f"; the runner said {runner}"
    return Tile("verdict", "Verdict", r.verdict, detail, f"verdict-{r.verdict}")


def _tiles(page: Page) -> list[Tile]:
    i, t, r, slo = page.impact, page.times, page.report, page.ctx.slo
    reasons = ", ".join(f"{n} {reason}" for reason, n in i.crash_reasons.items())
    view = "players" if page.players else "server"
    if page.players:
        seen = f"as players saw it; server counted {fmt.pct(i.availability_server, 1)}"
        server = f"{fmt.num(i.requests_failed)} of {fmt.num(i.requests_total)}"
        failed_of = f"of {fmt.num(i.sli_requests)}; server counted {server}"
    else:
        seen = "as the server counted it (no players' counters)"
        seen += (
            f"; Locust saw {fmt.pct(i.availability_client, 1)}" if i.availability_client is not None else ""
        )
        failed_of = f"of {fmt.num(i.sli_requests)}"
        if i.client_requests is not None:
            failed_of += f"; Locust {fmt.num(i.client_failures)} of {fmt.num(i.client_requests)}"
    severity = f" ({t.first_alert_severity})" if t.first_alert_severity else ""
    recovered = "not recovered" if t.recovered is False else ""
    if t.recovered is not False and t.recovery is not None:
        recovered = f"SLIs back in SLO at {fmt.rel(t.recovery, page.t0)}"
    budget = f"the window's error budget ({view}, SLO {fmt.pct(slo.availability, 1)})"
    budget += f"; server: {fmt.times(r.budget.server_burned_ratio)}" if page.players else ""
    return [
        _verdict(page),
        Tile(
            "crashes", "Crashes", str(i.crashes), reasons + (f"; {i.restarts} restarts" if i.restarts else "")
        ),
        Tile(
            "availability",
            f"Availability ({view})",
            fmt.pct(i.availability, 1),
            f"{seen}; SLO {fmt.pct(slo.availability, 1)}",
        ),
        Tile(
            "ttd",
            "TTD",
            fmt.dur(t.ttd_s),
            f"{t.incident_start_by or '?'} -> {t.first_alert_name or 'no alert'}{severity}",
        ),
        Tile("ttm", "TTM", fmt.dur(t.ttm_s), t.mitigation_by or "no mitigation"),
        Tile("ttr", "TTR", fmt.dur(t.ttr_s), recovered),
        Tile("failed", f"Failed requests ({view})", fmt.num(i.sli_failed), failed_of),
        Tile("budget", "Budget burned", fmt.times(r.budget.burned_ratio), budget),
    ]


def _incident(page: Page) -> Paragraph:
    t = page.times
    text: list[Inline]
    if t.incident_start is None:
        text = ["No incident: no fault and no SLO breach."]
    else:
        text = [
            strong("Incident start"),
            f": {t.incident_start_by} at {fmt.utc(t.incident_start)} ({fmt.rel(t.incident_start, page.t0)}), "
            f"{t.incident_start_reason}; TTD, TTM and TTR count from it.",
        ]
        earlier = [f.name for f in t.faults if f.start < t.incident_start]
        if t.fault_start is not None and t.fault_start < t.incident_start and earlier:
            text.append(f" Earlier faults moved no SLI: {', '.join(earlier)}.")
    if page.players:
        text.append(
            " Availability is the players' view (the load generator's counters: timeouts, connection errors "
            "and 5xx are failures), which counts what a crashed or hung process never answers; the server's "
            "own counters are shown alongside."
        )
    else:
        text.append(" Availability is the server's own counters (the players' counters were not recorded).")
    return Paragraph(text, cls="incident-start", id="incident-start")


def section(page: Page) -> Section:
    return Section("summary", "Summary", [Tiles(_tiles(page)), _incident(page)])
