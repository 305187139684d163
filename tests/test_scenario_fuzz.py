"""Whatever a drill file holds, validation answers with problems (file, line, field), never a crash."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.scenario import parse_scenario
from tests.helpers_scenario import EXAMPLE

BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["10s", "1h30m", "dependency.stal", "service.latency", "-5", "{gmae}/x", "lokal"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


PATHS = _paths(BASE)


def _mutate(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    copy = deepcopy(data)
    node = copy
    for part in path[:-1]:
        node = node[part]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copy


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(PATHS), VALUES, st.booleans()), min_size=1, max_size=3),
)
def test_any_mutation_gives_a_scenario_or_located_problems(mutations: list[tuple[Any, Any, bool]]) -> None:
    data: Any = BASE
    for path, value, delete in mutations:
        try:
            data = _mutate(data, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the path
    text = yaml.safe_dump(data, sort_keys=False)
    lines = text.count("\n") + 1
    scenario, problems = parse_scenario(text, "fuzz.yaml")
    assert (scenario is None) == bool(problems)
    for problem in problems:
        assert problem.path == "fuzz.yaml"
        assert problem.line is not None and 1 <= problem.line <= lines
        assert problem.field and problem.message
