"""Durations in drill files: ``250ms``, ``30s``, ``2m``, ``1h30m``, ``1.5s`` or a plain number of seconds.

Two annotated float types (seconds) share the parser:

- :data:`Duration` is drill time: offsets, fault durations, repeat intervals, ramps, probe intervals,
  load stages. ``crashlab drill --speed K`` divides every one of them by K (validation context
  ``{"speed": K}``, see :func:`chaos.plan.scale`).
- :data:`FixedDuration` is wall-clock time that does not scale with ``--speed``: client and probe
  timeouts, restart backoff, think time.

Every one of them is at most :data:`MAX_DURATION_S` (a day).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

_UNITS = (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_NUM = r"\d+(?:\.\d+)?"
_DURATION_RE = re.compile(rf"^(?=\d)(?:({_NUM})h)?(?:({_NUM})m)?(?:({_NUM})s)?(?:({_NUM})ms)?$")
#: The JSON Schema (ECMA 262) pattern of a duration string.
DURATION_PATTERN = r"^(?=\d)(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?(\d+(\.\d+)?ms)?$"
_HINT = "use e.g. 250ms, 30s, 2m, 1h30m or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds from a duration string or number; raises ``ValueError`` with a hint."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}; {_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            match = _DURATION_RE.match(text)
            if match is None:
                raise ValueError(f"not a duration: {value!r}; {_HINT}") from None
            seconds = sum(float(g) * f for g, (_, f) in zip(match.groups(), _UNITS, strict=True) if g)
    else:
        raise ValueError(f"not a duration: {value!r}; {_HINT}")
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {value!r}; {_HINT}")
    if seconds < 0:
        raise ValueError(f"a duration must be >= 0 (got {value!r})")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: ``0s``, ``250ms``, ``1m30s``, ``1h0m5s``, ``2.5s``."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = round(seconds * 1000, 3)
        return f"{ms:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    secs = round(secs, 3)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if minutes or (hours and secs):
        out += f"{int(minutes)}m"
    if secs:
        out += f"{secs:g}s"
    return out


#: the longest duration a drill file may give (offsets, durations, timeouts, load): one day
MAX_DURATION_S = 24 * 3600.0


def _parse(value: Any) -> Any:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None
    if seconds > MAX_DURATION_S:
        raise PydanticCustomError(
            "duration",
            "a duration must be at most {most} (got {value})",
            {"most": format_duration(MAX_DURATION_S), "value": str(value)},
        )
    return seconds


def _scale(value: float, info: ValidationInfo) -> float:
    context = info.context if isinstance(info.context, dict) else {}
    speed = context.get("speed", 1.0)
    return value / float(speed)


def _positive(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("duration", "must be > 0 (got {value})", {"value": format_duration(value)})
    return value


def _schema(minimum: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", minimum: 0, "maximum": MAX_DURATION_S},
            {"type": "string", "pattern": DURATION_PATTERN},
        ],
        "description": "a duration: 250ms, 30s, 2m, 1h30m, or a number of seconds (at most a day)",
    }


#: Drill time (seconds, >= 0), divided by ``--speed``.
Duration = Annotated[
    float, BeforeValidator(_parse), AfterValidator(_scale), WithJsonSchema(_schema("minimum"))
]
#: Drill time (seconds, > 0), divided by ``--speed``.
PositiveDuration = Annotated[
    float,
    BeforeValidator(_parse),
    AfterValidator(_positive),
    AfterValidator(_scale),
    WithJsonSchema(_schema("exclusiveMinimum")),
]
#: Wall-clock time (seconds, >= 0) that ``--speed`` leaves alone: timeouts, backoff, think time.
FixedDuration = Annotated[float, BeforeValidator(_parse), WithJsonSchema(_schema("minimum"))]
#: Wall-clock time (seconds, > 0) that ``--speed`` leaves alone.
PositiveFixedDuration = Annotated[
    float, BeforeValidator(_parse), AfterValidator(_positive), WithJsonSchema(_schema("exclusiveMinimum"))
]
