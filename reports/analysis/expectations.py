"""The scenario's ``expectations`` (chaos.scenario.model.Expectations), each met or not with its measured
value. Without a scenario, the runner's ``expectation`` journal events are shown instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reports.analysis.impact import Impact
from reports.analysis.times import Times
from reports.inputs import Inputs


@dataclass(frozen=True)
class ExpectationResult:
    name: str
    expected: str
    measured: str
    met: bool | None  # None: not measurable (source missing)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "expected": self.expected, "measured": self.measured, "met": self.met}


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.2f}%"


def evaluate(inputs: Inputs, impact: Impact, times: Times) -> list[ExpectationResult]:
    raw = inputs.ctx.scenario.get("expectations")
    out: list[ExpectationResult] = []
    if not isinstance(raw, dict):
        for e in inputs.journal:
            if e.type == "expectation":
                out.append(
                    ExpectationResult(
                        str(e.get("expectation", "?")),
                        str(e.get("expected", "")),
                        str(e.get("measured", "")),
                        e.event == "met",
                    )
                )
        return out
    crashes = raw.get("crashes")
    if isinstance(crashes, int):
        out.append(
            ExpectationResult("crashes", f"= {crashes}", str(impact.crashes), impact.crashes == crashes)
        )
    elif isinstance(crashes, dict):
        lo, hi = crashes.get("min"), crashes.get("max")
        ok = (lo is None or impact.crashes >= lo) and (hi is None or impact.crashes <= hi)
        bounds = " and ".join(
            b for b in (f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else "") if b
        )
        out.append(ExpectationResult("crashes", bounds, str(impact.crashes), ok))
    for name in raw.get("alerts_fired") or []:
        at = times.alerts_fired.get(str(name))
        measured = "not fired" if at is None else f"fired at +{at - inputs.t0:.0f}s"
        out.append(ExpectationResult(f"alert {name} fires", "fires", measured, at is not None))
    for name in raw.get("alerts_not_fired") or []:
        at = times.alerts_fired.get(str(name))
        measured = "not fired" if at is None else f"fired at +{at - inputs.t0:.0f}s"
        out.append(ExpectationResult(f"alert {name} stays silent", "not fired", measured, at is None))
    if (limit := raw.get("max_p99_ms")) is not None:
        p99 = impact.p99_s * 1000 if impact.p99_s is not None else None
        out.append(
            ExpectationResult(
                "p99 latency (server)",
                f"<= {float(limit):g} ms",
                "n/a" if p99 is None else f"{p99:.0f} ms",
                None if p99 is None else p99 <= float(limit),
            )
        )
    # the same measure as the drill runner's verdict: the players' view when the load generator's
    # counters were recorded, else the server's own
    avail = impact.availability
    view = "as players saw it" if impact.availability_source == "players" else "server"
    if (lo := raw.get("availability_min")) is not None:
        out.append(
            ExpectationResult(
                f"availability ({view}) at least",
                f">= {_pct(float(lo))}",
                _pct(avail),
                None if avail is None else avail >= float(lo),
            )
        )
    if (hi := raw.get("availability_max")) is not None:
        out.append(
            ExpectationResult(
                f"availability ({view}) at most",
                f"<= {_pct(float(hi))}",
                _pct(avail),
                None if avail is None else avail <= float(hi),
            )
        )
    if (dmin := raw.get("degraded_min")) is not None:
        out.append(
            ExpectationResult(
                "degraded answers",
                f">= {int(dmin)}",
                "n/a" if impact.degraded is None else str(impact.degraded),
                None if impact.degraded is None else impact.degraded >= int(dmin),
            )
        )
    return out


def verdict(results: list[ExpectationResult], impact: Impact, slo_availability: float) -> str:
    """``passed`` / ``failed`` (the drill runner's words) from the expectations; without any, from the
    SLO and crashes; ``inconclusive`` when something could not be measured."""
    if results:
        if any(r.met is False for r in results):
            return "failed"
        if any(r.met is None for r in results):
            return "inconclusive"
        return "passed"
    if impact.availability is None:  # the SLI used: the players' view when recorded, else the server's
        return "inconclusive"
    return "passed" if impact.availability >= slo_availability and impact.crashes == 0 else "failed"
