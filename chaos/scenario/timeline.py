"""A timeline expanded into flat steps: every repeat, parallel and sequential group resolved to absolute
offsets from the timeline start. :mod:`chaos.plan` builds the drill's plan on it; the semantic checks use it
too.

A top-level step that repeats ``until`` something (a game day's recurring fault) has no end: it is not
expanded but listed as a :class:`Recurrence`, whose occurrences the runner expands one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from chaos.scenario.model import FaultBase, FaultStep, Step
from gameday.model import Until

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class PlanStep:
    """One fault injection of the plan."""

    #: the step's own name in the file
    name: str
    #: unique in the plan: group path and repeat numbers, e.g. ``stall#3`` or ``burst#2/a``; the fault's
    #: name in the journal, in ``crashlab_fault_active{fault=...}`` and in the admin API
    label: str
    #: seconds from the timeline start
    start_s: float
    #: seconds the fault stays (its TTL); 0 for an instant fault without a duration
    duration_s: float
    fault: FaultBase
    #: names of the enclosing groups, outermost first
    group: tuple[str, ...]
    #: 0-based occurrence of this step when it (not its group) repeats
    repeat: int
    #: where the step is in the file, e.g. ``("timeline", 1, "parallel", 0)``
    loc: Loc
    #: part of the normal world, not an incident fault (``FaultStep.baseline``)
    baseline: bool = False

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def instant(self) -> bool:
        return self.fault.instant


#: the most fault injections a timeline may expand to (every repeat and group resolved); the checks and
#: the plan expand it, so a file of nested repeats (1000 x 1000 x 1000) is refused before that
MAX_PLANNED_STEPS = 10_000


def planned_count(steps: list[Step]) -> int:
    """How many fault injections ``steps`` expand to, without expanding them."""
    total = 0
    for step in steps:
        one = 1 if isinstance(step, FaultStep) else planned_count(step.children)
        total += one * (step.repeat.times if step.repeat is not None else 1)
    return total


def recurs(step: Step) -> bool:
    """Whether the step repeats until something (no end known in advance)."""
    return step.repeat is not None and step.repeat.until is not None


def span_s(step: Step) -> float:
    """How long one occurrence of a step lasts (without its ``at`` and repeats)."""
    if isinstance(step, FaultStep):
        return step.duration or 0.0
    if step.parallel is not None:
        return max((child.at + length_s(child) for child in step.parallel), default=0.0)
    return sum(child.at + length_s(child) for child in step.sequence or [])


def length_s(step: Step) -> float:
    """How long a step lasts with all its repeats, from its start (infinite when it recurs until
    something)."""
    one = span_s(step)
    if step.repeat is None:
        return one
    if step.repeat.count is None:
        return math.inf
    return (step.repeat.count - 1) * step.repeat.every + one


def _expand(
    step: Step,
    start: float,
    group: tuple[str, ...],
    prefix: str,
    loc: Loc,
    out: list[PlanStep],
    indexes: Iterable[int] | None = None,
) -> None:
    """Append the flat steps of ``step`` (its occurrences ``indexes``, default all) to ``out``."""
    every = step.repeat.every if step.repeat else 0.0
    if indexes is None:
        indexes = range(step.repeat.times if step.repeat else 1)
    for index in indexes:
        begin = start + index * every
        label = f"{prefix}{step.name}" + (f"#{index + 1}" if step.repeat else "")
        if isinstance(step, FaultStep):
            out.append(
                PlanStep(
                    name=step.name,
                    label=label,
                    start_s=round(begin, 6),
                    duration_s=step.duration or 0.0,
                    fault=step.fault,
                    group=group,
                    repeat=index,
                    loc=loc,
                    baseline=step.baseline,
                )
            )
            continue
        inner = (*group, step.name)
        if step.parallel is not None:
            for i, child in enumerate(step.parallel):
                _expand(child, begin + child.at, inner, f"{label}/", (*loc, "parallel", i), out)
        else:
            cursor = begin
            for i, child in enumerate(step.sequence or []):
                cursor += child.at
                _expand(child, cursor, inner, f"{label}/", (*loc, "sequence", i), out)
                cursor += length_s(child)


def expand(timeline: list[Step]) -> list[PlanStep]:
    """The flat steps of a timeline, sorted by start (ties keep file order); the steps that recur until
    something are left out (:func:`recurrences`)."""
    out: list[PlanStep] = []
    for i, step in enumerate(timeline):
        if not recurs(step):
            _expand(step, step.at, (), "", ("timeline", i), out)
    return sorted(out, key=lambda s: s.start_s)


@dataclass(frozen=True)
class Recurrence:
    """A top-level step that repeats ``until`` the game day ends or a condition holds."""

    step: Step
    #: the step's place in the file, ``("timeline", i)``
    loc: Loc

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def first_s(self) -> float:
        """Offset of the first occurrence from the timeline start."""
        return self.step.at

    @property
    def every_s(self) -> float:
        assert self.step.repeat is not None
        return self.step.repeat.every

    @property
    def until(self) -> Until:
        assert self.step.repeat is not None and self.step.repeat.until is not None
        return self.step.repeat.until

    @property
    def span_s(self) -> float:
        """How long one occurrence lasts."""
        return span_s(self.step)

    def start_s(self, index: int) -> float:
        """Offset of occurrence ``index`` (0-based) from the timeline start."""
        return self.first_s + index * self.every_s

    def occurrence(self, index: int) -> list[PlanStep]:
        """The flat steps of occurrence ``index`` (0-based; labels ``name#<index + 1>``), sorted by start."""
        out: list[PlanStep] = []
        _expand(self.step, self.step.at, (), "", self.loc, out, indexes=(index,))
        return sorted(out, key=lambda s: s.start_s)


def recurrences(timeline: list[Step]) -> list[Recurrence]:
    """The top-level steps of a timeline that recur until something, in file order."""
    return [Recurrence(step, ("timeline", i)) for i, step in enumerate(timeline) if recurs(step)]
