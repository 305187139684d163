"""The fault contract: ``crashlab validate`` accepts a parameter exactly when the admin API does.

Every fault kind of ``crashlab.faultkinds`` has its bounds walked (each field's minimum, maximum and the
values just outside, every choice, required fields, unknown fields, JSON types) from the model's own JSON
Schema. Each case goes through ``crashlab validate`` (a drill file with that fault step), through the
runner's catalogue (``registry.validate``) and, for kinds a service's admin API carries out, through a
real game or odds service (``POST /admin/faults`` on loopback). All must give the expected answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chaos.faults import FaultError, registry
from crashlab.faultkinds import KINDS, MAX_TTL_S, FaultKind
from stack.registry import RUNTIMES
from tests.helpers_service import AUTH, running

ROOT = Path(__file__).resolve().parent.parent

#: gentle values for the fields a case does not vary (valid, and harmless while the fault is injected
#: for a moment: a loop block that would start only after 10 minutes, a leak of a few bytes)
GENTLE: dict[str, Any] = {
    "ms": 1,
    "mb_per_s": 0.001,
    "max_mb": 1,
    "percent": 1,
    "block_ms": 1,
    "every_ms": 600_000,
    "limit_mb": 64,
    "cpus": 0.5,
    "kbit": 64,
    "mb": 64,
}
#: fields that only come together: varying one sets the other
COMPANIONS: dict[str, dict[str, Any]] = {"ramp_to_ms": {"ramp": 1}, "ramp": {"ramp_to_ms": 100}}
#: string fields with a pattern: valid and invalid samples
PATTERNS: dict[str, tuple[list[str], list[str]]] = {
    "code": (["SYS_OVERLOADED", "A" * 64], ["sys_overloaded", "A" * 65, "", "SYS OVERLOADED"]),
    "signal": (["SIGTERM", "TERM", "9"], ["sigterm", "SIGNOPE", "", "-9"]),
    "netns": (["crashlab-x", "a" * 64], ["../etc", "a" * 65, "", "two words"]),
    "dev": (["lo", "eth0.1"], ["", "x" * 16, "two words"]),
}
#: the duration field: (value, valid) with its companion set
DURATIONS: list[tuple[Any, bool]] = [
    ("4s", True),
    ("250ms", True),
    (2.5, True),
    (MAX_TTL_S, True),
    (MAX_TTL_S + 0.001, False),
    ("2h", False),
    (-1, False),
    ("4 parsecs", False),
    (True, False),
]


@dataclass(frozen=True)
class Case:
    kind: FaultKind
    params: dict[str, Any]
    valid: bool
    why: str

    def __str__(self) -> str:
        expected = "ok" if self.valid else "refused"
        return f"{self.kind.type} {json.dumps(self.params)} ({self.why}; expected {expected})"


def _number_cases(spec: dict[str, Any]) -> list[tuple[Any, bool, str]]:
    integer = spec["type"] == "integer"
    step = 1 if integer else 0.001
    cases: list[tuple[Any, bool, str]] = []
    if "minimum" in spec:
        cases += [(spec["minimum"], True, "minimum"), (spec["minimum"] - step, False, "below minimum")]
    if "exclusiveMinimum" in spec:
        low = spec["exclusiveMinimum"]
        cases += [(low, False, "at exclusive minimum"), (low + step, True, "just above exclusive minimum")]
    if "maximum" in spec:
        cases += [(spec["maximum"], True, "maximum"), (spec["maximum"] + step, False, "above maximum")]
    if "exclusiveMaximum" in spec:
        high = spec["exclusiveMaximum"]
        cases += [(high, False, "at exclusive maximum"), (high - step, True, "just below exclusive maximum")]
    sample = cases[0][0] if cases else 1
    cases += [(str(sample), False, "a number as a string"), (True, False, "a bool")]
    if integer:
        cases.append((float(sample) + 0.5, False, "a fraction for an integer"))
    return cases


def _field_cases(name: str, spec: dict[str, Any]) -> list[tuple[Any, bool, str]]:
    options = spec.get("anyOf", [spec])
    cases: list[tuple[Any, bool, str]] = []
    for option in options:
        kind = option.get("type")
        if kind == "null":
            cases.append((None, True, "null"))
        elif name == "ramp":
            continue  # the duration: DURATIONS
        elif kind in ("number", "integer"):
            cases += _number_cases(option)
        elif "enum" in option:
            cases += [(choice, True, "a choice") for choice in option["enum"]]
            cases += [("nope", False, "not a choice"), (1, False, "a number for a choice")]
        elif "pattern" in option:
            good, bad = PATTERNS[name]
            cases += [(v, True, "matches the pattern") for v in good]
            cases += [(v, False, "does not match the pattern") for v in bad]
            cases.append((7, name == "signal", "a number for a string (a signal may be a number)"))
        else:
            raise AssertionError(f"no cases for {name}: {spec}")
    if name == "ramp":
        cases += [(value, valid, "a duration") for value, valid in DURATIONS]
    return cases


def cases_of(kind: FaultKind) -> list[Case]:
    schema = kind.params.model_json_schema()
    fields: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    base = {name: GENTLE[name] for name in fields if name in required or name in GENTLE}
    cases = [Case(kind, base, True, "the required fields")]
    for name in sorted(required):
        cases.append(Case(kind, {k: v for k, v in base.items() if k != name}, False, f"{name} missing"))
    cases.append(Case(kind, {**base, "bogus": 1}, False, "an unknown field"))
    for name, spec in fields.items():
        for value, valid, why in _field_cases(name, spec):
            companions = COMPANIONS.get(name, {}) if value is not None else {}
            cases.append(Case(kind, {**base, **companions, name: value}, valid, f"{name}: {why}"))
    if "ramp" in fields:
        cases.append(Case(kind, {**base, "ramp_to_ms": 100}, False, "ramp_to_ms without ramp"))
        cases.append(Case(kind, {**base, "ramp": "4s"}, False, "ramp without ramp_to_ms"))
    return cases


ALL_CASES = [case for kind in KINDS for case in cases_of(kind)]


def _drill(index: int, case: Case) -> str:
    # a runtime that can run the fault: the contract is about parameters, not capabilities
    needs = registry.get(case.kind.type).needs
    runtime = next(rt.name for rt in RUNTIMES if needs <= rt.capabilities)
    fault = json.dumps({"type": case.kind.type, **case.params})
    return (
        f"name: case-{index}\ndescription: {json.dumps(case.why)}\ntarget: {{runtime: {runtime}}}\n"
        f"timeline:\n  - name: f\n    duration: 1h\n    fault: {fault}\n"
    )


def crashlab_validate(tmp: Path, cases: list[Case]) -> list[bool]:
    """One ``crashlab validate`` over a folder of one-step drills: whether each case's file is ok."""
    for index, case in enumerate(cases):
        (tmp / f"case-{index:04d}.yaml").write_text(_drill(index, case), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "crashlab", "validate", str(tmp)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    ok = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok: ")}
    return [str(tmp / f"case-{index:04d}.yaml") in ok for index in range(len(cases))]


def catalogue_accepts(case: Case) -> bool:
    try:
        registry.validate(case.kind.type, case.params)
    except FaultError:
        return False
    return True


async def admin_accepts(session: aiohttp.ClientSession, url: str, case: Case) -> bool:
    """POST the case; a created fault is deleted at once. Anything but 201 or 400 fails the test."""
    body = {"type": case.kind.name, "params": case.params, "ttl_s": 30}
    async with session.post(f"{url}/admin/faults", json=body, headers=AUTH) as resp:
        answer = await resp.json()
        assert resp.status in (201, 400), f"{case}: {resp.status} {answer}"
    if resp.status == 201:
        async with session.delete(f"{url}/admin/faults/{answer['id']}", headers=AUTH) as gone:
            assert gone.status == 200
        return True
    assert answer["code"] == "ERR_INVALID_FAULT" and answer["message"].startswith("params"), answer
    return False


def test_the_walk_covers_every_kind_and_both_answers() -> None:
    assert {case.kind.type for case in ALL_CASES} == {kind.type for kind in KINDS}
    for kind in KINDS:
        answers = {case.valid for case in ALL_CASES if case.kind is kind}
        assert answers == {True, False}, kind.type


async def test_validate_the_catalogue_and_the_admin_api_agree_on_every_bound(tmp_path: Path) -> None:
    validated = crashlab_validate(tmp_path, ALL_CASES)
    answers: dict[int, dict[str, bool]] = {}
    for index, case in enumerate(ALL_CASES):
        answers[index] = {"crashlab validate": validated[index], "catalogue": catalogue_accepts(case)}
    async with running("game") as game, running("odds") as odds, aiohttp.ClientSession() as session:
        urls = {"game": game.url, "odds": odds.url}
        for index, case in enumerate(ALL_CASES):
            service = case.kind.admin_service
            if service is not None:
                answers[index]["admin API"] = await admin_accepts(session, urls[service], case)
    wrong = [
        f"{case}: " + ", ".join(f"{part} {'ok' if ok else 'refused'}" for part, ok in answers[i].items())
        for i, case in enumerate(ALL_CASES)
        if set(answers[i].values()) != {case.valid}
    ]
    assert not wrong, f"{len(wrong)} of {len(ALL_CASES)} cases disagree:\n" + "\n".join(wrong)
    admin_cases = sum(1 for a in answers.values() if "admin API" in a)
    assert admin_cases > 150, admin_cases


@pytest.mark.parametrize("scenario", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_every_drill_fault_of_the_library_passes_the_catalogue(scenario: Path) -> None:
    from chaos.plan import plan
    from chaos.scenario import load_scenario

    for step in plan(load_scenario(scenario)).steps:
        typed = registry.validate(step.fault.type, step.fault.params())
        assert typed == step.fault.typed(), step.label


def test_docs_contracts_tables_every_kind_with_its_params() -> None:
    text = (ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")
    section = text.split("## Fault contract", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    where = {"netns", "pid", "dev", "service"}
    for kind in KINDS:
        cells = [row for row in rows if f"`{kind.type}`" in row[0]]
        assert len(cells) == 1, f"docs/contracts.md: one row for {kind.type}"
        params = set(kind.params.model_fields) - (where if kind.family == "network" else set())
        missing = [name for name in params if f"`{name}`" not in cells[0][1]]
        assert not missing, f"docs/contracts.md: {kind.type} row misses {missing}"
