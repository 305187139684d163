"""The fault catalogue: every fault type by its ``family.kind`` name."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from chaos.faults.base import FaultType, Params
from chaos.faults.errors import FaultError

FAMILIES = ("service", "dependency", "process", "container", "network", "stress")


def _load() -> dict[str, FaultType]:
    catalogue: dict[str, FaultType] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"chaos.faults.{family}")
        for fault in module.FAULTS:
            catalogue[fault.name] = fault
    return catalogue


CATALOGUE: Mapping[str, FaultType] = _load()


def get(name: str) -> FaultType:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise FaultError(f"unknown fault type {name!r}; known: {', '.join(sorted(CATALOGUE))}") from None


def validate(name: str, params: Mapping[str, Any], where: str = "fault") -> Params:
    """The typed params of fault ``name``; errors name ``where`` and the bad field."""
    fault = get(name)
    try:
        return fault.params_model.model_validate(dict(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise FaultError(f"{name}: {problems}") from None


def describe() -> list[dict[str, Any]]:
    """The catalogue for ``crashlab chaos list``: name, summary, params with defaults."""
    rows = []
    for name in sorted(CATALOGUE):
        fault = CATALOGUE[name]
        params = []
        for pname, field in fault.params_model.model_fields.items():
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
            {"name": name, "summary": fault.summary, "revertible": fault.revertible, "params": params}
        )
    return rows
