"""The game day's part of a drill file: the ``gameday:`` section and ``repeat.until``.

Both are fields of the scenario model (:mod:`chaos.scenario.model` imports them), so a game-day drill
is validated, scaled by ``--speed`` and written into ``scenarios/schema.json`` like every other field.
This module imports nothing of the engine, the stack or the console: the scenario model loads it.

- ``gameday.max_duration`` is drill time (``--speed`` divides it), like the hints' ``at`` and
  ``end_when.recovered_for``: they belong to the timeline.
- ``gameday.targets`` are the team's response times: wall-clock, like a client timeout
  (``--speed`` leaves them alone); the post-mortem's scorecard measures the team against them.
- ``repeat.until``: ``end`` (recur until the game day ends) or ``{promql, for}`` (stop recurring once
  the query has returned a non-empty result for ``for``: e.g. once the breaker is on).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from crashlab.durations import Duration, PositiveDuration, PositiveFixedDuration

__all__ = [
    "ACTION_NAMES",
    "ActionName",
    "EndWhen",
    "ExpectedMitigation",
    "GameDay",
    "Hint",
    "Targets",
    "Until",
    "UntilPromQL",
    "until_tag",
]

#: the team's actions that change the system (``gameday.actions.ACTIONS`` implements each one)
ActionName = Literal["flag", "restart", "deploy", "memory_limit", "silence"]
ACTION_NAMES: tuple[str, ...] = ("flag", "restart", "deploy", "memory_limit", "silence")
#: the longest text a file gives a person (a hint, a mitigation's why)
MAX_TEXT = 2000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class UntilPromQL(_Model):
    """Stop recurring once ``promql`` has returned a non-empty result (a series, or a true comparison)
    for ``for`` without a break."""

    promql: str = Field(min_length=1, description="a PromQL expression; a non-empty result means 'holds'")
    for_: Duration = Field(0.0, alias="for", description="how long it must hold")


def until_tag(value: Any) -> str:
    return "until:end" if isinstance(value, str) else "until:promql"


Until = Annotated[
    Annotated[Literal["end"], Tag("until:end")] | Annotated[UntilPromQL, Tag("until:promql")],
    Discriminator(until_tag),
]


class EndWhen(_Model):
    """The game day ends early once the players' SLIs have been within the drill's SLO
    (``report.slo``) and the game has not crashed for ``recovered_for``, counted from ``after``."""

    recovered_for: PositiveDuration
    after: Literal["last_mitigation", "start"] = Field(
        "last_mitigation",
        description="last_mitigation: the team's last action that changed the system (none yet: no early "
        "end); start: the game day's start",
    )


class Targets(_Model):
    """The team's targets (the post-mortem's scorecard): wall-clock times from the first page."""

    ack: PositiveFixedDuration | None = Field(None, description="first page delivered -> acked")
    declare: PositiveFixedDuration | None = Field(None, description="first symptom -> incident declared")
    mitigate: PositiveFixedDuration | None = Field(
        None, description="first page -> the action after which the SLIs recovered"
    )
    crashes_after_first_page: int | None = Field(None, ge=0, description="game crashes after the first page")


class ExpectedMitigation(_Model):
    """An action that mitigates the incident (for the scorecard and the facilitator; never shown to the
    team). ``params`` are the action's own (``crashlab gameday --help`` lists them)."""

    action: ActionName
    params: dict[str, Any] = Field(default_factory=dict)
    why: str | None = Field(None, min_length=1, max_length=MAX_TEXT)


class Hint(_Model):
    """A hint the facilitator's console sends the team at ``at`` (from the game day's start)."""

    at: Duration
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class GameDay(_Model):
    """The game day: a team in the loop (``crashlab gameday FILE``)."""

    max_duration: PositiveDuration = Field(description="the hard stop (the facilitator may extend it)")
    end_when: EndWhen | None = Field(None, description="an early end once the system has recovered")
    targets: Targets = Field(default_factory=Targets)
    expected_mitigations: list[ExpectedMitigation] = Field(default_factory=list)
    hints: list[Hint] = Field(default_factory=list, description="hints sent at set times")
