"""Properties of the plan for generated timelines: sorted, complete, within the timeline, scaled."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.plan import length_s, plan
from chaos.scenario.model import Scenario

_names = itertools.count()


def _fault_step(at: int, duration: int, repeat: tuple[int, int] | None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": f"s{next(_names)}",
        "at": at,
        "duration": duration,
        "fault": {"type": "dependency.latency", "ms": 100},
    }
    if repeat:
        step["repeat"] = {"count": repeat[0], "every": duration + repeat[1]}
    return step


LEAVES = st.builds(
    _fault_step,
    st.integers(0, 30),
    st.integers(1, 20),
    st.none() | st.tuples(st.integers(1, 3), st.integers(0, 10)),
)


def _group(mode: str, at: int, children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": f"g{next(_names)}", "at": at, mode: children}


STEPS = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        _group,
        st.sampled_from(["parallel", "sequence"]),
        st.integers(0, 30),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=8,
)


def _count(step: dict[str, Any]) -> int:
    times = step.get("repeat", {}).get("count", 1)
    children = step.get("parallel") or step.get("sequence")
    return times * (sum(_count(c) for c in children) if children else 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(STEPS, min_size=1, max_size=4), st.sampled_from([1.0, 2.0, 10.0, 0.5]))
def test_plan_properties(timeline: list[dict[str, Any]], speed: float) -> None:
    scenario = Scenario.model_validate({"name": "prop", "description": "generated", "timeline": timeline})
    base = plan(scenario)
    steps = base.steps
    assert len(steps) == sum(_count(s) for s in timeline)
    assert [s.start_s for s in steps] == sorted(s.start_s for s in steps)
    assert len({s.label for s in steps}) == len(steps)
    assert all(s.start_s >= 0 and s.end_s <= base.timeline_s + 1e-9 for s in steps)
    assert base.timeline_s == pytest.approx(max(step.at + length_s(step) for step in scenario.timeline))
    fast = plan(scenario, speed)
    assert sorted(s.label for s in fast.steps) == sorted(s.label for s in steps)
    by_label = {s.label: s for s in fast.steps}
    for step in steps:
        scaled = by_label[step.label]
        assert scaled.start_s == pytest.approx(step.start_s / speed, abs=1e-6)
        assert scaled.duration_s == pytest.approx(step.duration_s / speed, abs=1e-6)
    assert fast.total_s == pytest.approx(base.total_s / speed, abs=1e-6)
