"""The ``chaos`` commands of the CLI: the catalogue listing and a leftover-free ``revert --all``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers_drill import CRASHLAB


def crashlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"CRASHLAB_STATE_DIR": str(cwd / "state"), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    return subprocess.run([CRASHLAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_chaos_list_names_every_family_with_params(tmp_path: Path) -> None:
    done = crashlab("chaos", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    stall = lines.index(next(line for line in lines if line.startswith("dependency.stall")))
    assert lines[stall + 1].split()[:2] == ["ms", "required"]
    as_json = json.loads(crashlab("chaos", "list", "--json", cwd=tmp_path).stdout)
    families = {row["name"].split(".")[0] for row in as_json}
    assert families == {"service", "dependency", "process", "container", "network", "stress"}
    kill = next(row for row in as_json if row["name"] == "process.kill")
    assert kill["revertible"] is False and kill["params"][0]["name"] == "service"


def test_revert_all_without_leftovers_says_so(tmp_path: Path) -> None:
    done = crashlab("chaos", "revert", "--all", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"no leftover faults under {tmp_path / 'runs'}"


def test_drill_of_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = crashlab("drill", "nope.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "crashlab: error: nope.yaml: no such drill file"


def test_a_fault_longer_than_the_longest_ttl_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "long.yaml").write_text(
        "name: long\ndescription: too long\n"
        "load: {users: 1, duration: 3h}\n"
        "timeline:\n  - {name: stall, at: 1m, duration: 1h30m, fault: {type: dependency.stall, ms: 100}}\n",
        encoding="utf-8",
    )
    done = crashlab("drill", "long.yaml", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith("crashlab: error: long.yaml:5: timeline[0].duration: must be <= 1h")
    assert not (tmp_path / "runs").exists()
