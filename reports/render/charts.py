"""Inline SVG charts on one shared time axis: fault windows shaded, alerts/crashes/restarts marked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import Markup, escape

from reports.model import Marker, Span

WIDTH, HEIGHT = 960, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 14, 34, 22
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
MARKER_STYLE = {
    "alert": ("#e67e00", "4 3"),
    "crash": ("#c0392b", ""),
    "restart": ("#2471a3", "2 3"),
    # the team's moves on a game day
    "page": ("#8e44ad", "1 3"),
    "ack": ("#8e44ad", ""),
    "declare": ("#34495e", "6 3"),
    "action": ("#1e8449", ""),
}


@dataclass
class Line:
    label: str
    points: Sequence[tuple[float, float]]
    color: str = ""
    dashed: bool = False


@dataclass
class Chart:
    key: str
    title: str
    lines: list[Line]
    unit_fmt: Callable[[float], str] = field(default=lambda v: f"{v:.3g}")
    hlines: list[tuple[float, str]] = field(default_factory=list)
    y_min: float | None = None
    y_max: float | None = None


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _segments(points: Sequence[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    out: list[list[tuple[float, float]]] = []
    for t, v in points:
        if not out or t - out[-1][-1][0] > gap:
            out.append([])
        out[-1].append((t, v))
    return out


def render_chart(
    chart: Chart,
    t0: float,
    t1: float,
    step: float,
    spans: Sequence[Span],
    markers: Sequence[Marker],
    label: Callable[[float], str] = _clock,
) -> Markup:
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    span_t = max(t1 - t0, 1e-9)

    def x(t: float) -> float:
        return LEFT + (min(max(t, t0), t1) - t0) / span_t * plot_w

    values = [v for line in chart.lines for _, v in line.points] + [h for h, _ in chart.hlines]
    lo = chart.y_min if chart.y_min is not None else min(values, default=0.0)
    hi = chart.y_max if chart.y_max is not None else max(values, default=1.0)
    if chart.y_min is None:
        lo = min(lo, 0.0) if lo >= 0 and hi > 0 and lo < hi * 0.5 else lo
    if hi <= lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.05
    hi_p = hi + pad if chart.y_max is None else hi
    lo_p = lo

    def y(v: float) -> float:
        return TOP + plot_h - (min(max(v, lo_p), hi_p) - lo_p) / (hi_p - lo_p) * plot_h

    parts = [
        f'<svg class="chart" id="chart-{escape(chart.key)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'data-t0="{t0:.3f}" data-t1="{t1:.3f}" data-left="{LEFT}" data-plotw="{plot_w}" '
        f'role="img" aria-label="{escape(chart.title)}">',
        f'<text x="{LEFT}" y="14" class="ct">{escape(chart.title)}</text>',
    ]
    for s in spans:
        x0, x1 = x(s.start), x(s.end)
        # a fault that moved no SLI (a baseline) is drawn as a band under the axis, not as shading
        cls = "fault bg" if s.label.startswith("background") else "fault"
        parts.append(
            f'<rect class="{cls}" x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 1):.1f}" height="{plot_h}">'
            f"<title>{escape(s.label)}: {_clock(s.start)}-{_clock(s.end)} UTC</title></rect>"
        )
    for i in range(3):
        v = lo_p + (hi_p - lo_p) * i / 2
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="yl" x="{LEFT - 4}" y="{y(v) + 4:.1f}">{escape(chart.unit_fmt(v))}</text>'
        )
    ticks = 6
    for i in range(ticks + 1):
        t = t0 + span_t * i / ticks
        anchor = "start" if i == 0 else "end" if i == ticks else "middle"
        parts.append(
            f'<text class="xl" x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{label(t)}</text>'
        )
    for value, hl_label in chart.hlines:
        parts.append(
            f'<line class="hl" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}">'
            f"<title>{escape(hl_label)}</title></line>"
        )
    legend_x = float(LEFT)
    for n, line in enumerate(chart.lines):
        color = line.color or PALETTE[n % len(PALETTE)]
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        for seg in _segments(line.points, 2.5 * step):
            if len(seg) == 1:
                t, v = seg[0]
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="1.5" fill="{color}"/>')
                continue
            pts = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in seg)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{pts}"/>')
        parts.append(
            f'<rect x="{legend_x:.0f}" y="19" width="10" height="10" fill="{color}"/>'
            f'<text class="lg" x="{legend_x + 14:.0f}" y="28">{escape(line.label)}</text>'
        )
        legend_x += 24 + 7 * len(line.label)
    for m in markers:
        color, dash = MARKER_STYLE.get(m.kind, ("#555", ""))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line class="mk mk-{escape(m.kind)}" x1="{x(m.ts):.1f}" x2="{x(m.ts):.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="{color}"{dash_attr}>'
            f"<title>{_clock(m.ts)} UTC: {escape(m.label)}</title></line>"
        )
    if not any(line.points for line in chart.lines):
        parts.append(
            f'<text class="nodata" x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}">no data</text>'
        )
    parts.append(f'<line class="cursor" x1="0" x2="0" y1="{TOP}" y2="{TOP + plot_h}" visibility="hidden"/>')
    parts.append(f'<text class="cursor-t" x="{WIDTH - RIGHT}" y="14"></text>')
    parts.append("</svg>")
    return Markup("".join(parts))
