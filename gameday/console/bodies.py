"""The request bodies of the console API: strict JSON types, unknown fields refused, text bounded and
free of control characters (docs/contracts.md, "Game-day consoles")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from crashlab.durations import parse_duration
from gameday.console.http import clean_text
from gameday.state import FACILITATOR, Role

#: a note, hint, summary or wanted action
TEXT_CHARS = 2000
#: a member's name
NAME_CHARS = 40
#: the longest a facilitator may extend a game day by at once
MAX_EXTEND_S = 4 * 3600.0


def _name(value: str) -> str:
    name = clean_text(value, multiline=False)
    if not name:
        raise ValueError("must not be empty")
    if name.lower() == FACILITATOR or name.lower().startswith("script:"):
        raise ValueError(f"{name!r} is reserved")
    return name


def _text(value: str) -> str:
    text = clean_text(value, multiline=True)
    if not text:
        raise ValueError("must not be empty")
    return text


def _optional_text(value: str) -> str:
    return clean_text(value, multiline=True)


def _line(value: str) -> str:
    return clean_text(value, multiline=False)


Name = Annotated[str, Field(max_length=NAME_CHARS), AfterValidator(_name)]
Text = Annotated[str, Field(max_length=TEXT_CHARS), AfterValidator(_text)]
OptionalText = Annotated[str, Field(max_length=TEXT_CHARS), AfterValidator(_optional_text)]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Empty(Body):
    """A POST that needs no body: nothing, or ``{}``."""


class JoinBody(Body):
    name: Name
    role: Role
    code: Annotated[str, Field(max_length=64)]


class DeclareBody(Body):
    severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"]
    ic: Name


class NoteBody(Body):
    kind: Literal["note", "hypothesis", "decision", "drop"]
    text: Text
    ref: Id | None = None


class ActionBody(Body):
    action: Annotated[str, Field(min_length=1, max_length=64)]
    params: dict[str, Any] = Field(default_factory=dict)


class WantedParams(Body):
    """The "we need an action we don't have" box."""

    wanted: Text


class ResolveBody(Body):
    summary: OptionalText = ""


class HintBody(Body):
    text: Text


def _extension(value: Any) -> float:
    seconds = parse_duration(value)
    if not 0 < seconds <= MAX_EXTEND_S:
        raise ValueError(f"must be more than 0 s and at most {MAX_EXTEND_S / 3600:g} h")
    return seconds


class ExtendBody(Body):
    #: a duration: ``5m``, ``90s`` or a number of seconds
    by: Annotated[float, BeforeValidator(_extension)]


class EndBody(Body):
    reason: Annotated[str, Field(max_length=200), AfterValidator(_line)] | None = None
