"""A drill step's ``fault``: the fault type plus its parameters model from the fault contract.

In the YAML the parameters sit next to ``type`` (``{type: dependency.stall, ms: 120, ramp: 4s}``). Each
fault type of :mod:`crashlab.faultkinds` gets one spec model here, built from the contract's parameters
model and a ``type`` literal, and :data:`FaultSpec` is their discriminated union on ``type``. No
parameter is defined here: what ``crashlab validate`` accepts is what the catalogue and the services'
admin API accept.

:data:`FAULT_TYPES` maps every type name to its spec model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, cast

from pydantic import BaseModel, ConfigDict, Field, create_model

from crashlab.faultkinds import FAMILIES, FAULT_KINDS, KINDS, FaultKind, Params, ServiceName

__all__ = ["FAMILIES", "FAULT_MODELS", "FAULT_TYPES", "FaultBase", "FaultSpec", "ServiceName"]


class FaultBase(BaseModel):
    """Common to all fault specs. ``family``/``kind`` split ``type``; ``params()`` gives the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: str
    #: True for one-shot faults (kill, restart): nothing to revert, ``duration`` optional.
    instant: ClassVar[bool] = False

    @property
    def family(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[1]

    @property
    def contract(self) -> FaultKind:
        """The fault type's entry in the fault contract."""
        return FAULT_KINDS[self.type]

    def params(self) -> dict[str, Any]:
        """Every parameter except ``type`` (durations in seconds): what is journaled and sent."""
        return self.model_dump(exclude={"type"})

    def typed(self) -> Params:
        """The parameters as the contract's model (already validated: not validated again)."""
        model = self.contract.params
        values = {name: getattr(self, name) for name in model.model_fields}
        return model.model_construct(self.model_fields_set - {"type"}, **values)


def _class_name(fault_type: str) -> str:
    return "".join(part.title() for part in fault_type.replace(".", "_").split("_"))


def _spec_model(kind: FaultKind) -> type[FaultBase]:
    bases: tuple[type[BaseModel], ...] = (FaultBase, kind.params)
    fields: dict[str, Any] = {"type": (Literal[kind.type], ...)}
    model = cast(
        type[FaultBase],
        create_model(
            _class_name(kind.type),
            __base__=bases,
            __doc__=f"{kind.summary[0].upper()}{kind.summary[1:]}.",
            **fields,
        ),
    )
    model.instant = kind.instant
    return model


FAULT_MODELS: tuple[type[FaultBase], ...] = tuple(_spec_model(kind) for kind in KINDS)

#: Every fault type name -> its spec model.
FAULT_TYPES: dict[str, type[FaultBase]] = {
    kind.type: model for kind, model in zip(KINDS, FAULT_MODELS, strict=True)
}

if TYPE_CHECKING:
    FaultSpec = FaultBase
else:
    FaultSpec = Annotated[Union[FAULT_MODELS], Field(discriminator="type")]  # noqa: UP007
