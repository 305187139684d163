"""Helpers for the scenario tests: the broken-file corpus and its ``# expect:`` lines."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos.scenario import Problem, Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
BAD_DIR = ROOT / "tests" / "data" / "bad-scenarios"
SCENARIOS_DIR = ROOT / "scenarios"
EXAMPLE = SCENARIOS_DIR / "example-latency.yaml"
_EXPECT = re.compile(r"^# expect: (\d+): (\S+): (.+)$")


@dataclass(frozen=True)
class Expected:
    """One ``# expect: LINE: FIELD: MESSAGE`` line of a corpus file (MESSAGE: the start of the message)."""

    line: int
    field: str
    message: str


def bad_files() -> list[Path]:
    return sorted(BAD_DIR.glob("*.yaml"))


def expectations(path: Path) -> list[Expected]:
    found = []
    for text in path.read_text(encoding="utf-8").splitlines():
        match = _EXPECT.match(text)
        if match:
            found.append(Expected(int(match[1]), match[2], match[3]))
    return found


def assert_expected_problems(path: Path, problems: list[Problem]) -> None:
    """``problems`` are exactly the file's ``# expect:`` lines: same count, line, field, message start."""
    expected = expectations(path)
    shown = "\n".join(str(p) for p in problems)
    assert len(problems) == len(expected), shown
    for problem, want in zip(problems, expected, strict=True):
        assert problem.path == str(path)
        assert (problem.line, problem.field) == (want.line, want.field), shown
        assert problem.message.startswith(want.message), shown


def scenario_from(text: str) -> Scenario:
    """A scenario from YAML text; fails the test with every problem when it is invalid."""
    scenario, problems = parse_scenario(text, "test.yaml")
    assert scenario is not None, "\n".join(str(p) for p in problems)
    return scenario


def run_cli(
    *args: str, env: dict[str, str] | None = None, memory_limit: int | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """``crashlab ARGS`` in a subprocess, from the project root; ``env`` added to the environment,
    ``memory_limit``: an address-space limit in bytes (RLIMIT_AS) as a guard rail."""

    def limits() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    return subprocess.run(
        [sys.executable, "-m", "crashlab", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=limits if memory_limit is not None else None,
        check=False,
    )


def alias_bomb() -> str:
    """About 400 bytes that stand for 9^9 (387 million) strings once the aliases are expanded."""
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return (
        "anchors:\n" + "\n".join(lines) + "\nname: bomb\ndescription: x\nexpectations: {alerts_fired: *i}\n"
    )


def nested_repeats() -> str:
    """A group repeated 1000 times of a group repeated 1000 times of a fault repeated 1000 times."""
    fault = "{type: dependency.latency, ms: 10}"
    return EXAMPLE.read_text(encoding="utf-8").split("\ntimeline:")[0] + (
        "\ntimeline:\n"
        "  - name: outer\n    repeat: {count: 1000, every: 1ms}\n    sequence:\n"
        "      - name: inner\n        repeat: {count: 1000, every: 1ms}\n        parallel:\n"
        f"          - {{name: f, duration: 1ms, repeat: {{count: 1000, every: 1ms}}, fault: {fault}}}\n"
    )


def many_steps() -> str:
    """A valid drill with as many timeline steps as fit in the node bound: validated in full."""
    head = (
        EXAMPLE.read_text(encoding="utf-8").split("\ntimeline:")[0].replace("duration: 1m30s", "duration: 2h")
    )
    steps = "".join(
        f"  - {{name: s{i}, at: {2 * i}s, duration: 1s, fault: {{type: dependency.latency, ms: 10}}}}\n"
        for i in range(1400)
    )
    return head + "\ntimeline:\n" + steps


#: name -> (file content, the start of the expected message after ``path:line: ``)
#: hostile drill files: name -> (a function making the content, the start of the expected message after
#: ``path:line: ``); tests/test_scenario_hostile_files.py checks them, bench/hostile_files.py measures them
HOSTILE_FILES: dict[str, tuple[Callable[[], str | bytes], str]] = {
    "alias-bomb": (alias_bomb, "yaml: more than 20000 nodes once its aliases are expanded"),
    "recursive-alias": (lambda: "name: &a [x, *a]\n", "yaml: an alias inside its own anchor"),
    "deep-nesting": (lambda: "name: " + "[" * 100 + "]" * 100 + "\n", "yaml: nested deeper than 64 levels"),
    "very-deep-nesting": (
        lambda: "name: " + "[" * 5000 + "]" * 5000 + "\n",
        "yaml: exceeded maximum nesting depth",  # libyaml's own bound (1000 levels) comes first
    ),
    "deep-block-nesting": (
        lambda: "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
        "yaml: nested deeper than 64 levels",
    ),
    "nul-byte": (lambda: "name: a\x00b\n", "yaml: character '\\x00' is not allowed"),
    "huge-integer": (lambda: "name: x\nseed: " + "9" * 5000 + "\n", "yaml: an integer of 5000 digits"),
    "not-utf8": (lambda: b"name: \xff\xfe\n", "yaml: not UTF-8 text"),
    "too-large": (lambda: "# " + "x" * (300 * 1024) + "\n", "(file): too large"),
    "unbounded-duration": (
        lambda: EXAMPLE.read_text(encoding="utf-8").replace("duration: 1m30s", "duration: 3.6e20"),
        "load.duration: a duration must be at most 24h",
    ),
    "nested-repeats": (nested_repeats, "timeline: expands to 1000000000 fault steps (at most 10000)"),
    "many-steps": (many_steps, "ok"),
}
