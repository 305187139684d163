"""The fault catalogue: every fault type of the contract (:mod:`crashlab.faultkinds`) by its
``family.kind`` name, each with its implementation from the family's module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from chaos.faults import container, dependency, network, process, service, stress
from chaos.faults.base import FaultType
from chaos.faults.errors import FaultError
from crashlab.faultkinds import FAMILIES, FAULT_KINDS, Params

_FAMILY_FAULTS: dict[str, Sequence[FaultType]] = {
    "service": service.FAULTS,
    "dependency": dependency.FAULTS,
    "process": process.FAULTS,
    "container": container.FAULTS,
    "network": network.FAULTS,
    "stress": stress.FAULTS,
}


def _load() -> dict[str, FaultType]:
    catalogue: dict[str, FaultType] = {}
    for family in FAMILIES:
        for fault in _FAMILY_FAULTS[family]:
            catalogue[fault.name] = fault
    missing = sorted(set(FAULT_KINDS) - set(catalogue))
    if missing:
        raise TypeError(f"fault types of crashlab.faultkinds without an implementation: {missing}")
    return catalogue


CATALOGUE: Mapping[str, FaultType] = _load()


def get(name: str) -> FaultType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise FaultError(f"unknown fault type {name!r}; known: {', '.join(sorted(CATALOGUE))}") from None


def validate(name: str, params: Mapping[str, Any], where: str = "fault") -> Params:
    """The typed params of fault ``name`` (the contract's model); errors name ``where`` and the field."""
    fault = get(name)
    try:
        return fault.kind.params.model_validate(dict(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise FaultError(f"{name}: {problems}") from None


def describe() -> list[dict[str, Any]]:
    """The catalogue for ``crashlab chaos list``: name, summary, params with defaults."""
    rows = []
    for name in sorted(CATALOGUE):
        kind = CATALOGUE[name].kind
        params = []
        for pname, field in kind.params.model_fields.items():
            default = None if field.is_required() else field.default
            params.append(
                {
                    "name": pname,
                    "required": field.is_required(),
                    "default": default,
                    "help": field.description,
                }
            )
        rows.append(
            {
                "name": name,
                "summary": kind.summary,
                "revertible": not kind.instant,
                "needs": sorted(c.value for c in CATALOGUE[name].needs),
                "params": params,
            }
        )
    return rows
