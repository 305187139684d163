"""Helpers for the drill library tests: which files are library drills and their CI command line.

Every library drill carries one comment line ``# ci: crashlab drill scenarios/NAME.yaml --speed K --quiet``:
the short run CI makes of it (and the command a trainer can copy). The five-crash drills are the
lead's and are run by their own tests.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS_DIR = ROOT / "scenarios"
CRASHLAB = str(ROOT / ".venv" / "bin" / "crashlab")
_CI_LINE = re.compile(r"^# ci: crashlab drill (?P<path>\S+) --speed (?P<speed>\d+(?:\.\d+)?) --quiet$", re.M)


@dataclass(frozen=True)
class LibraryDrill:
    path: Path
    speed: float

    @property
    def name(self) -> str:
        return self.path.stem


def all_scenario_files() -> list[Path]:
    return sorted(SCENARIOS_DIR.glob("*.yaml"))


def library_files() -> list[Path]:
    """Every drill file of the library (all of scenarios/ but the lead's five-crash drills)."""
    return [p for p in all_scenario_files() if not p.name.startswith("five-crash")]


def ci_line(path: Path) -> tuple[str, float] | None:
    """The ``# ci:`` line's scenario path and speed, or None when the file has none."""
    match = _CI_LINE.search(path.read_text(encoding="utf-8"))
    return (match["path"], float(match["speed"])) if match else None


def library_drills() -> list[LibraryDrill]:
    drills = []
    for path in library_files():
        line = ci_line(path)
        if line is not None:
            drills.append(LibraryDrill(path, line[1]))
    return drills


def run_crashlab(root: Path, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    """``crashlab ARGS`` from the repository, with its own stack state file and runs folder under ``root``."""
    import os

    env = {
        **os.environ,
        "CRASHLAB_STATE_DIR": str(root / "state"),
        "CRASHLAB_RUNS_DIR": str(root / "runs"),
    }
    return subprocess.run(
        [CRASHLAB, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
