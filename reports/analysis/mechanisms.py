"""Detectors for the incident's chain: retry amplification, in-flight pile-up, connection/fd growth,
memory slope before each crash, crash loop, slow dependency without a client timeout."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.analysis.impact import Impact
from reports.analysis.series import median, peak, ratio_series, slope, total_increase
from reports.analysis.times import Times
from reports.inputs import Inputs
from reports.model import Series


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    detected: bool | None  # None: no data to decide
    value: float | None
    unit: str
    detail: str


@dataclass
class Mechanisms:
    findings: list[Finding] = field(default_factory=list)
    amplification_series: list[tuple[float, float]] = field(default_factory=list)
    memory_slopes: list[dict[str, object]] = field(default_factory=list)
    dependency_p99_peak_s: float | None = None
    dependency_timeouts: int | None = None
    amplification: float | None = None

    def get(self, key: str) -> Finding | None:
        return next((f for f in self.findings if f.key == key), None)


def _baseline(points: list[tuple[float, float]], until: float | None) -> float:
    before = [v for t, v in points if until is None or t < until]
    if until is None or len(before) < 3:  # nothing (much) before: the first tenth of the drill
        before = [v for _, v in points][: max(1, len(points) // 10)]
    return median(before)


def _memory_series(inputs: Inputs, service: str) -> Series | None:
    prom = inputs.prom
    if prom is None:
        return None
    for s in prom.get("memory"):
        if s.labels.get("job") == service:
            return s
    for s in prom.get("supervisor_memory"):
        if s.labels.get("service") == service:
            return s
    return None


def analyse_mechanisms(inputs: Inputs, impact: Impact, times: Times) -> Mechanisms:
    m = Mechanisms()
    prom = inputs.prom
    # baselines are taken before the incident started (a baseline fault that moved nothing is normal life)
    fault_start = times.incident_start if times.incident_start is not None else times.fault_start
    if prom is None:
        m.findings.append(
            Finding("prometheus", "Mechanisms", None, None, "", "no Prometheus data: not assessed")
        )
    else:
        # retry amplification
        inbound = impact.requests_total
        dep_total = total_increase(prom.get("dependency_raw"), inputs.t0)
        m.amplification_series = ratio_series(
            prom.one("dependency_rate"), prom.one("request_rate"), min_den=0.05
        )
        if inbound and "dependency_raw" in prom.results:
            m.amplification = dep_total / inbound
            top = peak(m.amplification_series)
            peak_v = top[1] if top else m.amplification
            # a request may make several dependency calls by design (odds + results): compare with before
            normal = max(1.0, _baseline(m.amplification_series, fault_start))
            m.findings.append(
                Finding(
                    "retry_amplification",
                    "Retry amplification",
                    peak_v > 1.5 * normal,
                    peak_v,
                    "dependency calls per inbound request (peak)",
                    f"{dep_total:.0f} dependency calls for {inbound} inbound requests "
                    f"({m.amplification:.2f} per request overall, peak {peak_v:.2f}, "
                    f"{normal:.2f} before the incident)",
                )
            )
        # in-flight pile-up
        in_flight = prom.one("in_flight")
        if in_flight is not None and in_flight.points:
            base = _baseline(in_flight.points, fault_start)
            top = peak(in_flight.points)
            assert top is not None
            m.findings.append(
                Finding(
                    "in_flight_pileup",
                    "In-flight pile-up",
                    top[1] >= max(5.0, 3 * base + 1),
                    top[1],
                    "requests in flight (peak)",
                    f"baseline {base:.0f}, peak {top[1]:.0f}",
                )
            )
        # connection / fd growth
        growth: list[str] = []
        detected = False
        seen = False
        for s in prom.get("open_fds") + ([c] if (c := prom.one("open_connections")) else []):
            if not s.points:
                continue
            seen = True
            base = _baseline(s.points, fault_start)
            top = peak(s.points)
            assert top is not None
            name = s.labels.get("job", "connections")
            growth.append(f"{name}: {base:.0f} -> {top[1]:.0f}")
            if top[1] - base >= 20 and top[1] >= 1.5 * max(base, 1):
                detected = True
        if seen:
            m.findings.append(
                Finding("fd_growth", "Connection / fd growth", detected, None, "", "; ".join(growth))
            )
        # memory slope before each crash
        details = []
        steep = False
        for marker in impact.crash_markers:
            service = marker.label.split(" ", 1)[0]
            series = _memory_series(inputs, service)
            if series is None:
                continue
            before = [(t, v / 1e6) for t, v in series.points if marker.ts - 60 <= t <= marker.ts]
            rate = slope(before)
            if rate is None:
                continue
            m.memory_slopes.append({"crash_at": marker.ts, "service": service, "mb_per_s": rate})
            details.append(f"{service} {rate:+.2f} MB/s")
            steep = steep or rate > 0.5
        if impact.crash_markers:
            m.findings.append(
                Finding(
                    "memory_slope",
                    "Memory slope before each crash",
                    steep if details else None,
                    max((float(str(d["mb_per_s"])) for d in m.memory_slopes), default=None),
                    "MB/s (steepest, 60 s before a crash)",
                    ", ".join(details) if details else "no memory series for the crashed service",
                )
            )
        # slow dependency without a client timeout
        dep_p99 = prom.one("dependency_p99")
        if dep_p99 is not None and dep_p99.points:
            top = peak(dep_p99.points)
            assert top is not None
            m.dependency_p99_peak_s = top[1]
            m.dependency_timeouts = round(total_increase(prom.get("dependency_timeouts_raw"), inputs.t0))
            m.findings.append(
                Finding(
                    "no_timeout",
                    "Slow dependency without a client timeout",
                    top[1] > 2.0 and m.dependency_timeouts == 0,
                    top[1],
                    "s dependency p99 (peak)",
                    f"dependency p99 peaked at {top[1]:.2f} s; {m.dependency_timeouts} calls timed out",
                )
            )
    # crash loop (journal or Prometheus crashes)
    crash_times = sorted(mk.ts for mk in impact.crash_markers)
    loop = any(crash_times[i + 2] - crash_times[i] <= 300 for i in range(len(crash_times) - 2))
    m.findings.append(
        Finding(
            "crash_loop",
            "Crash loop",
            loop,
            float(impact.crashes),
            "crashes",
            f"{impact.crashes} crashes, {impact.restarts} restarts"
            + (" (3 or more within 5 minutes)" if loop else ""),
        )
    )
    return m
