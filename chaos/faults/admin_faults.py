"""Fault types carried out by a service's admin API (the ``service`` and ``dependency`` families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.faults import admin
from chaos.faults.base import FaultContext, Handle, Params, RevertOutcome, check_ttl
from chaos.faults.errors import FaultError


@dataclass(frozen=True)
class AdminFault:
    """``<family>.<kind>`` sent to ``service``'s ``POST /admin/faults`` as ``admin_type``."""

    name: str
    summary: str
    service: str
    admin_type: str
    params_model: type[Params]
    revertible: bool = True

    def target(self, params: Params) -> str:
        return self.service

    def admin_params(self, params: Params) -> dict[str, Any]:
        data = params.model_dump(exclude_none=True)
        if "ramp" in data:
            data["ramp_s"] = data.pop("ramp")
        return data

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        base = ctx.url(self.service)
        if not ctx.admin_token:
            raise FaultError(f"{self.name} ({label!r}): no admin token for {base} (is the stack up?)")
        fault = await admin.create_fault(
            base, ctx.admin_token, self.admin_type, self.admin_params(params), check_ttl(ttl_s), label
        )
        return {"kind": "admin", "service": self.service, "url": base, "id": str(fault["id"])}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        return await admin.delete_fault(str(handle["url"]), ctx.admin_token, str(handle["id"]))
