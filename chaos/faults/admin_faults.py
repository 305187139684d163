"""Fault types carried out by a service's admin API: every type of an admin family of the contract
(``service.*`` -> the game, ``dependency.*`` -> the odds service), sent as ``POST /admin/faults``."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.faults import admin
from chaos.faults.base import FaultContext, Handle, Implementation, RevertOutcome, check_ttl
from chaos.faults.errors import FaultError
from crashlab.faultkinds import KINDS, Params


@dataclass(frozen=True)
class AdminFault(Implementation):
    """``<family>.<kind>`` sent to its service's ``POST /admin/faults`` as ``type=<kind>``; the params
    travel as the contract's model dumps them (the service validates them with the same model)."""

    @property
    def service(self) -> str:
        service = self.kind.admin_service
        assert service is not None, f"{self.name} is not an admin API fault"
        return service

    def target(self, params: Params) -> str:
        return self.service

    async def inject(self, params: Params, ttl_s: float, ctx: FaultContext, *, label: str) -> Handle:
        base = ctx.url(self.service)
        if not ctx.admin_token:
            raise FaultError(f"{self.name} ({label!r}): no admin token for {base} (is the stack up?)")
        fault = await admin.create_fault(
            base, ctx.admin_token, self.kind.name, params.model_dump(), check_ttl(ttl_s), label
        )
        return {"kind": "admin", "service": self.service, "url": base, "id": str(fault["id"])}

    async def revert(self, handle: Handle, ctx: FaultContext) -> RevertOutcome:
        return await admin.delete_fault(str(handle["url"]), ctx.admin_token, str(handle["id"]))


def admin_faults(family: str) -> list[AdminFault]:
    """The implementations of every fault type of an admin family, in contract order."""
    return [AdminFault(kind.type) for kind in KINDS if kind.family == family]
