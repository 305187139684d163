"""Suggested action items, each derived from a figure the data shows; and the drafts a human finishes."""

from __future__ import annotations

from reports.analysis.chain import Chain
from reports.analysis.impact import Impact
from reports.analysis.mechanisms import Mechanisms
from reports.analysis.times import Times
from reports.inputs import Inputs


def first_error(inputs: Inputs, *needles: str) -> str | None:
    """The first error log line whose message contains one of ``needles`` (case-insensitive)."""
    if inputs.logs is None:
        return None
    for line in inputs.logs.errors:
        if any(n in line.msg.lower() for n in needles):
            return line.msg.strip()
    return None


def suggest(inputs: Inputs, impact: Impact, times: Times, chain: Chain, mech: Mechanisms) -> list[str]:
    items: list[str] = []
    f = mech.get("no_timeout")
    if f is not None and f.detected:
        items.append(
            f"No client timeout: dependency calls lasted {f.value:.1f} s (p99) and none timed out; "
            "give every dependency call a deadline propagated from the inbound request."
        )
    f = mech.get("retry_amplification")
    if f is not None and f.detected:
        items.append(
            f"Retries without backoff (retry storm): up to {f.value:.1f} dependency calls per inbound "
            "request; use capped exponential backoff with jitter and a retry budget, and a circuit breaker."
        )
    f = mech.get("in_flight_pileup")
    if f is not None and f.detected:
        items.append(
            f"In-flight pile-up to {f.value:.0f} requests: bound concurrency (bulkhead / load shedding) and "
            "switch on handler cancellation so abandoned requests stop their work."
        )
    if impact.client_failures is not None and impact.requests_failed is not None:
        gap = impact.client_failures - impact.requests_failed
        if impact.client_requests and gap > max(5, 0.01 * impact.client_requests):
            items.append(
                f"Clients saw {gap:,} more failures than the server counted: they gave up (client timeout) "
                "while the server kept working on their requests; propagate the client's deadline and cancel "
                "abandoned work."
            )
    f = mech.get("fd_growth")
    exhausted = first_error(inputs, "pool exhausted", "too many open files")
    if (f is not None and f.detected) or exhausted:
        seen = "; ".join(x for x in (f.detail if f is not None and f.detected else "", exhausted or "") if x)
        items.append(
            "Connection per call / pool exhausted"
            + (f" ({seen})" if seen else "")
            + ": reuse one pooled client with a bounded pool and close what you open."
        )
    f = mech.get("memory_slope")
    if f is not None and f.detected:
        items.append(
            f"Memory grew up to {f.value:.1f} MB/s before a crash: bound per-request buffers and alert on "
            "memory approaching the limit."
        )
    if impact.crash_reasons.get("panic"):
        panic = first_error(inputs, "panic:")
        items.append(
            "Unrecovered panic in background work: "
            f"{impact.crash_reasons['panic']} panic(s) killed the process"
            + (f" ({panic})" if panic else "")
            + "; recover errors in background work and report them as errors."
        )
    if impact.crash_reasons.get("oom"):
        items.append(
            f"{impact.crash_reasons['oom']} OOM kill(s): find what holds memory under load (see slope)."
        )
    f = mech.get("crash_loop")
    if f is not None and f.detected:
        items.append(
            "Crash loop: the supervisor restarted the service into the same storm; gate readiness on the "
            "dependency and back off restarts."
        )
    for link in chain.links:
        if link.sli is not None and link.alert is None and not link.already_breached:
            items.append(
                f"Fault '{link.fault.name}' moved the {link.sli} SLI after {link.sli_delay_s or 0:.0f} s "
                "but no alert fired: add or tune a burn-rate alert for it."
            )
    if chain.unexplained:
        items.append(
            f"{len(chain.unexplained)} SLO breach(es) no injected fault explains: investigate them "
            "(see the chain section)."
        )
    if times.ttd_s is not None and times.ttd_s > 120:
        items.append(f"Detection took {times.ttd_s:.0f} s: shorten alert windows or add a fast-burn alert.")
    if times.recovered is False:
        items.append("The SLIs did not recover before the drill ended: the system needs a human to recover.")
    return items


def root_cause_draft(
    inputs: Inputs, impact: Impact, times: Times, chain: Chain, mech: Mechanisms
) -> list[str]:
    lines: list[str] = []
    starter = next((lk for lk in chain.links if lk.fault.name == times.incident_start_by), None)
    if starter is not None and starter.sli is not None:
        f = starter.fault
        similar = [lk for lk in chain.links if lk.fault.type == f.type and lk.fault.target == f.target]
        episodes = f" ({len(similar)} episodes)" if len(similar) > 1 else ""
        named = [
            name
            for key, name in (
                ("no_timeout", "no client timeout"),
                ("retry_amplification", "retries without backoff"),
                ("in_flight_pileup", "abandoned work piling up"),
                ("fd_growth", "a new connection per call"),
            )
            if (m := mech.get(key)) is not None and m.detected
        ]
        how = f"With {', '.join(named)}, the" if named else "The"
        crashed = ""
        if impact.crashes:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(impact.crash_reasons.items()))
            crashed = f" and the service crashed {impact.crashes} time(s) ({reasons})"
        slis = " and ".join(dict.fromkeys([lk.sli for lk in similar if lk.sli and not lk.already_breached]))
        lines.append(
            f"Trigger: {f.type or 'fault'} on {f.target or '?'}, first '{f.name}' at "
            f"+{f.start - inputs.t0:.0f}s{episodes}. {how} {slis or 'an'} SLI left its SLO{crashed}."
        )
    for link in chain.links:
        f = link.fault
        what = f"{f.type} on {f.target}" if f.type or f.target else "fault"
        lead = f"Fault '{f.name}' ({what}) at +{f.start - inputs.t0:.0f}s"
        if link.sli is None:
            lines.append(f"{lead} did not move an SLI.")
        elif link.already_breached:
            lines.append(f"{lead} came while the {link.sli} SLI was already out of its SLO.")
        else:
            if link.already_firing:
                caught = f"; its alert {link.alert} was already firing."
            elif link.alert:
                caught = f"; alert {link.alert} fired after {link.alert_delay_s or 0:.0f} s."
            else:
                caught = "; no alert fired."
            lines.append(f"{lead} moved the {link.sli} SLI {link.sli_delay_s or 0:.0f} s later{caught}")
    if not lines:
        lines.append("No fault was recorded in the journal; the trigger must be found by hand.")
    return lines


def contributing_draft(mech: Mechanisms, impact: Impact) -> list[str]:
    out = [f"{f.title}: {f.detail}" for f in mech.findings if f.detected]
    if impact.crashes:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(impact.crash_reasons.items()))
        out.append(f"{impact.crashes} crash(es): {reasons}; {impact.restarts} restart(s)")
    return out or ["No mechanism detector fired."]
