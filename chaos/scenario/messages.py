"""Turn pydantic's validation errors into one clear problem each, with the data path and the bad value.

- unknown fields: ``unknown field 'duraton'; did you mean 'duration'?``
- unknown fault types: ``unknown fault type 'dependency.stal'; did you mean 'dependency.stall'?``
  (one message instead of a wall of union errors)
- bounds: ``must be >= 0 (got -5)``
- choices: ``must be 'local' or 'docker' (got 'lokal'); did you mean 'local'?``
"""

from __future__ import annotations

import difflib
import json
import re
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from chaos.scenario.fault_specs import FAULT_TYPES
from chaos.scenario.model import (
    CountRange,
    FaultStep,
    GroupStep,
    HttpGuardrail,
    HttpProbe,
    PromQLGuardrail,
    PromQLProbe,
    Scenario,
)
from crashlab.faultkinds import RULE_ERROR
from gameday.model import UntilPromQL

Loc = tuple[str | int, ...]

#: Union tags pydantic puts into error locations; they are not fields of the file.
_CLASS_TAGS: dict[type[BaseModel], str] = {
    PromQLProbe: "probe:promql",
    HttpProbe: "probe:http",
    PromQLGuardrail: "guardrail:promql",
    HttpGuardrail: "guardrail:http",
    FaultStep: "step:fault",
    GroupStep: "step:group",
    CountRange: "count:range",
    UntilPromQL: "until:promql",
    **{model: name for name, model in FAULT_TYPES.items()},
}
TAGS = frozenset({*_CLASS_TAGS.values(), "switch:enabled", "switch:settings", "count:exact", "until:end"})


def suggest(word: str, choices: Sequence[str]) -> str:
    """``; did you mean 'x'?`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def show(value: Any, limit: int = 60) -> str:
    """A short readable rendering of a bad value."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def data_path(data: Any, loc: Loc) -> Loc:
    """The location in the YAML data: union tags and ``[key]`` markers removed."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, str) and part in TAGS and not (isinstance(node, dict) and part in node):
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def format_loc(path: Loc) -> str:
    """``timeline[3].fault.ms``; ``(root)`` for the document."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def _candidates(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _candidates(get_args(tp)[0])
    if origin is Union or origin is types.UnionType:
        return [c for arg in get_args(tp) for c in _candidates(arg)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def fields_at(loc: Loc, root: type[BaseModel] = Scenario) -> list[str]:
    """The field names allowed at the model reached by pydantic's ``loc`` (tags included)."""
    current: list[Any] = [root]
    for part in loc:
        following: list[Any] = []
        for tp in (c for t in current for c in _candidates(t)):
            origin = get_origin(tp)
            if _is_model(tp) and isinstance(part, str):
                fields = {info.alias or name: info for name, info in tp.model_fields.items()}
                if part in fields:
                    following.append(fields[part].annotation)
                elif _CLASS_TAGS.get(tp) == part:
                    following.append(tp)
            elif origin is list and isinstance(part, int):
                following.append(get_args(tp)[0])
            elif origin is dict and part != "[key]":
                following.append(get_args(tp)[1])
        current = following
    names: list[str] = []
    for tp in (c for t in current for c in _candidates(t)):
        if _is_model(tp):
            names.extend(n for n in _field_names(tp) if n not in names)
    return names


def _expected(ctx: dict[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bound(err: ErrorDetails, op: str, key: str) -> str:
    ctx = err.get("ctx") or {}
    return f"must be {op} {_number(ctx.get(key))} (got {show(err['input'])})"


_TYPE_MESSAGES = {
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


#: unknown fields that look like a secret written into the drill (the admin token above all)
_SECRET = re.compile(r"(token|secret|password|bearer)$", re.IGNORECASE)


def convert(err: ErrorDetails, data: Any, root: type[BaseModel] = Scenario) -> tuple[Loc, str]:
    """``(path in the data, message)`` for one pydantic error of validating ``data`` as ``root``."""
    kind = err["type"]
    loc: Loc = tuple(err["loc"])
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    path = data_path(data, loc)
    if kind == "missing":
        return path, "required field missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        if _SECRET.search(name):
            return path, (
                f"{name!r}: a secret never goes in a drill file; the admin token comes from "
                "$CRASHLAB_ADMIN_TOKEN or a file named in target.admin_token_file"
            )
        allowed = fields_at(loc[:-1], root)
        return path, f"unknown field {name!r}{suggest(name, allowed)}"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        if ctx.get("discriminator") == "'type'":
            return (*path, "type"), f"unknown fault type {tag!r}{suggest(tag, list(FAULT_TYPES))}"
        return path, f"unknown kind {tag!r}"
    if kind == "union_tag_not_found":
        keys = [k for k in value if isinstance(k, str)] if isinstance(value, dict) else []
        close = difflib.get_close_matches("type", keys, n=1, cutoff=0.6)
        if close:
            return (*path, close[0]), f"unknown field {close[0]!r}; did you mean 'type'?"
        return (*path, "type"), "required field missing (the fault type, e.g. 'dependency.stall')"
    if kind in {"probe_kind", "guardrail_kind", "step_kind"}:
        return path, err["msg"]
    if kind == "literal_error":
        hint = suggest(value, _expected(ctx)) if isinstance(value, str) else ""
        if loc and loc[-1] == "[key]":
            return path, f"unknown key {show(value)}; expected {ctx.get('expected')}{hint}"
        return path, f"must be {ctx.get('expected')} (got {show(value)}){hint}"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        return path, _bound(err, *bounds[kind])
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return path, f"must not be empty (got {show(value)})"
    if kind == "too_short":
        return path, f"needs at least {ctx.get('min_length')} item(s)"
    if kind == "string_pattern_mismatch":
        return path, f"must match {ctx.get('pattern')} (got {show(value)})"
    if kind in {"duration", RULE_ERROR}:
        return path, err["msg"]
    if kind in {"value_error", "assertion_error"}:
        message = re.sub(r"^(Value|Assertion) error, ", "", err["msg"])
        if not isinstance(value, dict | list):
            message += f" (got {show(value)})"
        return path, message
    if kind in _TYPE_MESSAGES:
        return path, f"{_TYPE_MESSAGES[kind]} (got {show(value)})"
    message = err["msg"]
    message = message[0].lower() + message[1:] if message else kind
    return path, f"{message} (got {show(value)})"
