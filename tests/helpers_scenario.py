"""Helpers for the scenario tests: the broken-file corpus and its ``# expect:`` lines."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chaos.scenario import Scenario, parse_scenario

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


def scenario_from(text: str) -> Scenario:
    """A scenario from YAML text; fails the test with every problem when it is invalid."""
    scenario, problems = parse_scenario(text, "test.yaml")
    assert scenario is not None, "\n".join(str(p) for p in problems)
    return scenario


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``crashlab ARGS`` in a subprocess, from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "crashlab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
