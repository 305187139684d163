"""The fault catalogue: one module per family (service, dependency, process, container, network,
stress), each fault type of the contract (:mod:`crashlab.faultkinds`, which holds the parameters
models) with inject (with a TTL) / revert (from a JSON handle), collected in :mod:`chaos.faults.registry`."""

from chaos.faults.base import FaultContext, FaultType, Handle, RevertOutcome
from chaos.faults.errors import FaultError
from crashlab.faultkinds import Params

__all__ = ["FaultContext", "FaultError", "FaultType", "Handle", "Params", "RevertOutcome"]
