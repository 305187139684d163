"""Impact: requests, failures, availability, budget and latency from each point of view (players, server,
Locust), and how each figure is measured."""

from __future__ import annotations

from reports.document import Cell, Row, Section, Table
from reports.render import format as fmt
from reports.sections.page import Page


def _views(page: Page) -> Table:
    i, b = page.impact, page.report.budget
    players = page.players
    header = ["figure"]
    header += ["players (load generator) — the SLI"] if players else []
    header += ["server (its own counters)" + ("" if players else " — the SLI"), "client (Locust CSV)"]

    def row(label: str, mine: str, server: str, client: str) -> Row:
        cells = [Cell(v, num=True) for v in ([mine] if players else []) + [server, client]]
        return [label, *cells]

    return Table(
        header,
        [
            row(
                "requests", fmt.num(i.players_requests), fmt.num(i.requests_total), fmt.num(i.client_requests)
            ),
            row(
                "failed requests",
                fmt.num(i.players_failed),
                fmt.num(i.requests_failed),
                fmt.num(i.client_failures),
            ),
            row(
                "availability",
                fmt.pct(i.availability_players),
                fmt.pct(i.availability_server),
                fmt.pct(i.availability_client),
            ),
            row(
                "error budget burned",
                fmt.times(b.players_burned_ratio),
                fmt.times(b.server_burned_ratio),
                fmt.times(b.client_burned_ratio),
            ),
            row("p50 latency", "", fmt.ms(i.p50_s), f"{fmt.num(i.client_p50_ms)} ms"),
            row("p95 latency", "", fmt.ms(i.p95_s), f"{fmt.num(i.client_p95_ms)} ms"),
            row("p99 latency", "", fmt.ms(i.p99_s), f"{fmt.num(i.client_p99_ms)} ms"),
        ],
    )


def _figures(page: Page) -> Table:
    i, b, slo = page.impact, page.report.budget, page.ctx.slo.availability
    view = "players" if page.players else "server"
    reasons = ", ".join(f"{n} {r}" for r, n in i.crash_reasons.items())
    rows: list[Row] = [
        [
            f"error budget burned ({view}: the SLI)",
            Cell(fmt.times(b.burned_ratio), num=True),
            f"failed / ((1 - {slo}) x requests) = {fmt.num(i.sli_failed)} / {fmt.num(b.allowed_failures)}; "
            "1x is the whole budget of the window's traffic",
        ]
    ]
    if page.players:
        outcomes = ", ".join(f"{o}: {fmt.num(n)}" for o, n in i.players_outcomes.items())
        rows.append(
            [
                "players' outcomes",
                outcomes,
                "increase of crashlab_client_requests_total; timeout, connection and http_5xx are failures",
            ]
        )
    rows += [
        [
            "error budget burned, as Locust saw it",
            Cell(fmt.times(b.client_burned_ratio), num=True),
            f"Locust failures / ((1 - {slo}) x Locust requests): client timeouts and connection errors "
            "count here",
        ],
        [
            "responses by status",
            ", ".join(f"{st}: {fmt.num(n)}" for st, n in i.status_counts.items()),
            'increase of rps_http_requests_total{route="/play"}',
        ],
        ["degraded answers", Cell(fmt.num(i.degraded), num=True), "increase of rps_degraded_answers_total"],
        [
            "win rate (deviation from 1/3)",
            Cell(f"{fmt.pct(i.win_rate, 1)} ({fmt.pct(i.win_rate_deviation, 1)})", num=True),
            f'rps_rounds_total{{result="win"}} / all rounds ({fmt.num(i.rounds)})',
        ],
        [
            "crashes",
            Cell(str(i.crashes), num=True),
            f"exits of game and odds not asked for, from the {i.crash_source}"
            + (f": {reasons}" if reasons else ""),
        ],
        ["restarts", Cell(str(i.restarts), num=True), "supervisor restarts of game and odds"],
        [
            "panics",
            Cell(fmt.num(i.panics), num=True),
            f"rps_panics_total ({fmt.num(i.recovered_panics)}) + exits with reason panic",
        ],
    ]
    return Table(["figure", "value", "how it is measured"], rows)


def section(page: Page) -> Section:
    return Section("impact", "Impact", [_views(page), _figures(page)])
