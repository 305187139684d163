"""The fault catalogue: one module per family (service, dependency, process, container, network,
stress), each fault type with validate (pydantic params) / inject (with a TTL) / revert (from a
JSON handle), collected in :mod:`chaos.faults.registry`."""

from chaos.faults.base import FaultContext, FaultType, Handle, Params, RevertOutcome
from chaos.faults.errors import FaultError

__all__ = ["FaultContext", "FaultError", "FaultType", "Handle", "Params", "RevertOutcome"]
