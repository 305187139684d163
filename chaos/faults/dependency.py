"""The ``dependency`` family: the third-party odds service misbehaves, through its admin API."""

from __future__ import annotations

from pydantic import Field

from chaos.faults.admin_faults import AdminFault
from chaos.faults.base import Params
from chaos.faults.service import LatencyParams


class RateParams(Params):
    rate: float = Field(1.0, ge=0, le=1, description="share of requests affected")


class DependencyErrorsParams(Params):
    rate: float = Field(1.0, ge=0, le=1, description="share of requests answered with an error")
    status: int = Field(500, ge=400, le=599, description="HTTP status")


FAULTS = [
    AdminFault(
        "dependency.latency", "odds answers late (ms, jitter, ramp)", "odds", "latency", LatencyParams
    ),
    AdminFault(
        "dependency.stall",
        "odds stalls before the first byte (like a TLS stall)",
        "odds",
        "stall",
        LatencyParams,
    ),
    AdminFault("dependency.errors", "odds answers errors", "odds", "errors", DependencyErrorsParams),
    AdminFault("dependency.hang", "odds never answers", "odds", "hang", RateParams),
    AdminFault("dependency.reset", "odds resets the connection", "odds", "reset", RateParams),
]
