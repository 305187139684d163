"""The scenario's ``expected_signals``, each next to what the data shows where that is cheap to tell:
alerts named in the text (fired or not), crashes and restarts, in-flight requests, open connections,
memory, degraded answers, the circuit breaker, retry amplification and the players' availability."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from reports.analysis.impact import Impact
from reports.analysis.mechanisms import Mechanisms
from reports.analysis.times import Times
from reports.inputs import Inputs

#: CamelCase words such as ErrorBudgetBurnPage, HighP99Latency, CrashLoop: alert names (the known ones
#: from stack/prometheus/rules, or any that fired)
_ALERT = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]*|[0-9]+)+\b")


RULES_DIR = Path(__file__).resolve().parents[2] / "stack" / "prometheus" / "rules"


@functools.lru_cache(maxsize=1)
def rule_alerts(rules_dir: Path = RULES_DIR) -> frozenset[str]:
    """Alert names in ``stack/prometheus/rules/**/*.yml`` (read here: importing chaos.scenario would pull
    in the service package)."""
    names: set[str] = set()
    for path in sorted(rules_dir.rglob("*.y*ml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        groups = doc.get("groups") if isinstance(doc, dict) else None
        for group in groups if isinstance(groups, list) else []:
            rules = group.get("rules") if isinstance(group, dict) else None
            for rule in rules if isinstance(rules, list) else []:
                if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                    names.add(rule["alert"])
    return frozenset(names)


@dataclass(frozen=True)
class SignalCheck:
    signal: str
    #: what the data shows, "" when the reporter cannot tell cheaply
    observed: str


def _peak(inputs: Inputs, name: str) -> float | None:
    if inputs.prom is None:
        return None
    values = [v for s in inputs.prom.get(name) for _, v in s.points]
    return max(values) if values else None


def _rel(inputs: Inputs, ts: float) -> str:
    return f"+{ts - inputs.t0:.0f}s"


def check_signals(
    signals: list[str], inputs: Inputs, impact: Impact, times: Times, mech: Mechanisms
) -> list[SignalCheck]:
    scenario = inputs.ctx.scenario
    named = [*scenario.expectations.alerts_fired, *scenario.expectations.alerts_not_fired] if scenario else []
    known = rule_alerts() | set(named)

    def alerts(text: str) -> list[str]:
        out = []
        for name in dict.fromkeys(_ALERT.findall(text)):
            if name in times.alerts_fired:
                out.append(f"{name} fired at {_rel(inputs, times.alerts_fired[name])}")
            elif name in known and (inputs.prom is not None or times.alerts_fired):
                out.append(f"{name} did not fire")
        return out

    def peak(name: str, label: str, scale: float = 1.0, unit: str = "") -> Callable[[], str]:
        def show() -> str:
            value = _peak(inputs, name)
            return "" if value is None else f"{label} peaked at {value / scale:.0f}{unit}"

        return show

    def crashes() -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(impact.crash_reasons.items()))
        return (
            f"{impact.crashes} crash(es)"
            + (f" ({reasons})" if reasons else "")
            + (f", {impact.restarts} restart(s)")
        )

    def circuit() -> str:
        value = _peak(inputs, "circuit_state")
        return "" if value is None else ("breaker opened" if value >= 2 else "breaker never opened")

    def degraded() -> str:
        return "" if impact.degraded is None else f"{impact.degraded:.0f} degraded answers"

    def amplification() -> str:
        a = mech.amplification
        return "" if a is None else f"peak {a:.2f} dependency calls per request"

    def availability() -> str:
        a = impact.availability
        return "" if a is None else f"availability {a * 100:.1f}% ({impact.availability_source})"

    rules: list[tuple[re.Pattern[str], Callable[[], str]]] = [
        (re.compile(r"crash|restart|exit|oom|killed", re.I), crashes),
        (re.compile(r"in_flight|in-flight|in flight", re.I), peak("in_flight", "requests in flight")),
        (re.compile(r"open_connections|connections", re.I), peak("open_connections", "open connections")),
        (re.compile(r"memory|resident", re.I), peak("memory", "memory", 1e6, " MB")),
        (re.compile(r"degraded|fallback", re.I), degraded),
        (re.compile(r"circuit|breaker", re.I), circuit),
        (re.compile(r"retr(y|ies)|amplif", re.I), amplification),
        (re.compile(r"availability|SLO burns|players", re.I), availability),
    ]
    out = []
    for signal in signals:
        seen = alerts(signal)
        seen += [text for pattern, show in rules if pattern.search(signal) and (text := show())]
        out.append(SignalCheck(signal, "; ".join(dict.fromkeys(seen))))
    return out
