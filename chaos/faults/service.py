"""The ``service`` family: faults inside the game, through its admin API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from chaos.faults.admin_faults import AdminFault
from chaos.faults.base import Params
from chaos.scenario.durations import parse_duration

#: seconds, from ``20s`` or ``20`` (the plan has already applied ``--speed``)
DurationS = Annotated[float, BeforeValidator(parse_duration)]


class LatencyParams(Params):
    ms: float = Field(ge=0, description="added latency in milliseconds")
    jitter_ms: float = Field(0, ge=0, description="uniform jitter around ms")
    rate: float = Field(1.0, ge=0, le=1, description="share of requests affected")
    ramp_to_ms: float | None = Field(None, ge=0, description="latency at the end of the ramp")
    ramp: DurationS = Field(0.0, description="ramp time from ms to ramp_to_ms")


class ErrorsParams(Params):
    rate: float = Field(1.0, ge=0, le=1, description="share of requests answered with an error")
    status: int = Field(500, ge=400, le=599, description="HTTP status")
    code: str | None = Field(None, description="error code in the body")


class ExceptionParams(Params):
    rate: float = Field(1.0, ge=0, le=1, description="share of requests raising")
    where: Literal["handler", "background"] = Field("handler", description="where the error is raised")


class MemoryLeakParams(Params):
    mb_per_s: float = Field(gt=0, description="leak speed")
    max_mb: float | None = Field(None, gt=0, description="stop leaking after this much")


class CpuBurnParams(Params):
    percent: float = Field(gt=0, le=100, description="percent of one core")
    threads: int = Field(1, ge=1, le=64, description="burning threads")


class LoopBlockParams(Params):
    block_ms: float = Field(gt=0, description="how long each block lasts")
    every_ms: float = Field(gt=0, description="how often the event loop is blocked")


FAULTS = [
    AdminFault("service.latency", "added latency in the game's handlers", "game", "latency", LatencyParams),
    AdminFault("service.errors", "the game answers errors", "game", "errors", ErrorsParams),
    AdminFault(
        "service.exception", "unexpected errors (background: a panic)", "game", "exception", ExceptionParams
    ),
    AdminFault("service.memory_leak", "the game leaks memory", "game", "memory_leak", MemoryLeakParams),
    AdminFault("service.cpu_burn", "the game burns CPU", "game", "cpu_burn", CpuBurnParams),
    AdminFault(
        "service.loop_block", "the game's event loop is blocked", "game", "loop_block", LoopBlockParams
    ),
]
