"""Blind drills (``blind: true``): the page calls the faults "fault A", "fault B" until its last section.

:func:`blinded` returns a copy of the report whose faults, timeline, chain, drafts and evidence name no
fault (name, type, target); :func:`reveal` is the key the last section prints. ``summary.json`` keeps the
real names (it is for machines)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from reports.analysis.chain import Chain
from reports.analysis.effects import Effect
from reports.analysis.evidence import Evidence
from reports.analysis.team import Team
from reports.analysis.times import FaultWindow, Times
from reports.build import Report, TimelineRow

_REPEAT = re.compile(r"#\d+")


def letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(ord("A") + rest) + out
    return out


@dataclass(frozen=True)
class Revealed:
    """One line of the reveal: the alias the page used and the real fault."""

    alias: str
    fault: FaultWindow


class Blinder:
    """Aliases for every fault of a report, in order of first start; repeats of one step share a letter
    (``fault A#1``, ``fault A#2``)."""

    def __init__(self, faults: list[FaultWindow]) -> None:
        ordered = sorted(faults, key=lambda f: (f.start, f.name))
        bases: dict[str, str] = {}
        for f in ordered:
            bases.setdefault(_REPEAT.sub("", f.name), "fault " + letter(len(bases)))
        counts: dict[str, int] = {}
        for f in ordered:
            base = _REPEAT.sub("", f.name)
            counts[base] = counts.get(base, 0) + 1
        seen: dict[str, int] = {}
        self.revealed: list[Revealed] = []
        self._alias: dict[str, str] = {}
        for f in ordered:
            base = _REPEAT.sub("", f.name)
            seen[base] = seen.get(base, 0) + 1
            alias = bases[base] + (f"#{seen[base]}" if counts[base] > 1 else "")
            self._alias.setdefault(f.name, alias)
            self.revealed.append(Revealed(self._alias[f.name], f))
        # literal text -> its stand-in, longest first (so "fault x#1 (t on o)" wins over "x#1")
        words: dict[str, str] = {}
        by_type: dict[str, set[str]] = {}
        for f in ordered:
            if f.type:
                by_type.setdefault(f.type, set()).add(bases[_REPEAT.sub("", f.name)])
        for f in ordered:
            alias, base = self._alias[f.name], bases[_REPEAT.sub("", f.name)]
            kind = f"{f.type} on {f.target}"
            words[f"fault {f.name} ({kind})"] = alias
            words[f"'{f.name}' ({kind})"] = f"'{alias}'"
            words[f"fault {f.name}"] = alias
            words[f.name] = alias
            words.setdefault(_REPEAT.sub("", f.name), base)
            if f.type:
                stand_in = base if len(by_type[f.type]) == 1 else "a fault"
                words.setdefault(kind, stand_in)
                words.setdefault(f.type, stand_in)
        words = {k: v for k, v in words.items() if k.strip()}
        self._words = words
        self._pattern = (
            re.compile(
                r"(?<![\w.-])("
                + "|".join(re.escape(k) for k in sorted(words, key=len, reverse=True))
                + r")(?![\w-])"
            )
            if words
            else None
        )

    def alias(self, name: str) -> str:
        return self._alias.get(name, name)

    def text(self, value: str) -> str:
        """``value`` with every fault name, type and "type on target" replaced by its alias."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(lambda m: self._words[m.group(1)], value)

    def fault(self, f: FaultWindow) -> FaultWindow:
        return replace(f, name=self.alias(f.name), type="", target="", params={})


def _times(b: Blinder, t: Times) -> Times:
    return replace(
        t,
        faults=[b.fault(f) for f in t.faults],
        incident_start_by=b.text(t.incident_start_by) if t.incident_start_by else t.incident_start_by,
        mitigation_by=b.text(t.mitigation_by) if t.mitigation_by else t.mitigation_by,
    )


def _evidence(b: Blinder, e: Evidence) -> Evidence:
    return replace(
        e,
        log_groups=[replace(g, code=b.text(g.code), sample=b.text(g.sample)) for g in e.log_groups],
        first_lines=[replace(ln, msg=b.text(ln.msg), code=b.text(ln.code)) for ln in e.first_lines],
        traces=[
            replace(
                tv,
                root=b.text(tv.root),
                spans=[
                    replace(s, name=b.text(s.name), status_message=b.text(s.status_message)) for s in tv.spans
                ],
            )
            for tv in e.traces
        ],
    )


def _team(b: Blinder, team: Team | None) -> Team | None:
    """The effects' reasons name the faults that ended ("fault x#3 expired"), and what people typed (a
    hint, a note) may name one: letters instead."""
    if team is None:
        return None
    effects = {id(e): replace(e, reason=b.text(e.reason)) for e in team.effects}

    def one(e: Effect | None) -> Effect | None:
        return None if e is None else effects.get(id(e), e)

    state = replace(
        team.state,
        hints=[replace(h, text=b.text(h.text)) for h in team.state.hints],
        notes={k: replace(n, text=b.text(n.text)) for k, n in team.state.notes.items()},
    )
    return replace(
        team,
        state=state,
        timeline=[replace(r, what=b.text(r.what)) for r in team.timeline],
        effects=list(effects.values()),
        mitigation=one(team.mitigation),
        expected=[replace(x, why=b.text(x.why), effect=one(x.effect)) for x in team.expected],
    )


def blinder(report: Report) -> Blinder:
    return Blinder(report.times.faults)


def blinded(report: Report) -> Report:
    """The report as a blind drill's page shows it before the reveal; the report itself when the scenario
    is not blind."""
    if not report.inputs.ctx.blind:
        return report
    b = blinder(report)
    return replace(
        report,
        times=_times(b, report.times),
        chain=Chain(
            links=[replace(link, fault=b.fault(link.fault)) for link in report.chain.links],
            unexplained=report.chain.unexplained,
            grace_s=report.chain.grace_s,
        ),
        mechanisms=replace(
            report.mechanisms,
            findings=[replace(f, detail=b.text(f.detail)) for f in report.mechanisms.findings],
        ),
        evidence=_evidence(b, report.evidence),
        evaluation=replace(
            report.evaluation,
            checks=[replace(c, measured_text=b.text(c.measured_text)) for c in report.expectations],
            failures=[b.text(x) for x in report.evaluation.failures],
            reason=b.text(report.evaluation.reason),
        ),
        actions=[b.text(a) for a in report.actions],
        root_cause=[b.text(x) for x in report.root_cause],
        contributing=[b.text(x) for x in report.contributing],
        timeline=[TimelineRow(r.ts, r.source, b.text(r.event), r.link) for r in report.timeline],
        team=_team(b, report.team),
    )


def reveal(report: Report) -> list[Revealed]:
    """The key: each alias and the real fault (name, type, target, params, window)."""
    return blinder(report).revealed if report.inputs.ctx.blind else []
