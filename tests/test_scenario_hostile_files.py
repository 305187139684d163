"""Hostile files: whatever file or directory a command is given, it ends with one line per problem naming
the file (and line), a documented exit code and no traceback, within a memory and time bound; a YAML
file is refused before it expands past the bounds of crashlab.safe_yaml.

Each command runs as a subprocess under a 1 GiB address-space limit and a 60 s timeout: guard rails, so
that a regression fails here (MemoryError, timeout) instead of eating the machine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.scenario import parse_scenario
from crashlab.safe_yaml import YamlError, load_yaml_text
from tests.helpers_scenario import HOSTILE_FILES, alias_bomb, run_cli

LIMIT_BYTES = 1024**3


def crashlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"CRASHLAB_STATE_DIR": str(cwd / "state"), "CRASHLAB_RUNS_DIR": str(cwd / "runs")}
    return run_cli(*args, env=env, memory_limit=LIMIT_BYTES)


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_validate_refuses_a_hostile_file_in_one_line(tmp_path: Path, name: str) -> None:
    make, message = HOSTILE_FILES[name]
    content = make()
    path = tmp_path / f"{name}.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    done = crashlab("validate", str(path), cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    if message == "ok":  # big but within every bound: checked in full
        assert done.returncode == 0 and done.stdout.startswith(f"ok: {path} ("), done.stderr[-2000:]
        return
    assert done.returncode == 1, (done.stdout, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"{path}:") and message in line for line in lines), lines
    assert done.stderr.strip().endswith(("1 problem", "problems")), done.stderr
    # the same file given to a drill: one line per problem on stderr, exit 2, nothing started
    done = crashlab("drill", str(path), "--dry-run", cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory-of-nothing", "missing"])
def test_validate_refuses_what_is_not_a_drill_file(tmp_path: Path, special: str) -> None:
    if special == "fifo":
        target = tmp_path / "pipe.yaml"
        os.mkfifo(target)
        expected = f"{target}: (file): cannot read: not a regular file (a device, FIFO or socket)"
    elif special == "directory-of-nothing":
        target = tmp_path / "empty"
        target.mkdir()
        (target / "notes.txt").write_text("not a drill\n", encoding="utf-8")
        expected = f"{target}: (file): no drill files (*.yaml, *.yml) in this directory"
    elif special == "missing":
        target = tmp_path / "nope.yaml"
        expected = f"{target}: (file): cannot read: No such file or directory"
    else:
        target = Path(special)
        expected = "/dev/zero: (file): cannot read: not a regular file (a device, FIFO or socket)"
    done = crashlab("validate", str(target), cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert (done.returncode, done.stdout.strip()) == (1, expected), done.stderr


def test_a_hostile_profile_is_refused_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb-profile.yaml"
    bomb.write_text(alias_bomb().replace("name: bomb\n", ""), encoding="utf-8")
    done = crashlab("serve", "game", "--profile", str(bomb), "--port", "0", cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2
    # refused at the first anchor past the bound: e (line 6) stands for 66,430 nodes
    assert done.stderr.strip().splitlines() == [
        f"crashlab: error: {bomb}:6: more than 20000 nodes once its aliases are expanded (column 6)"
    ]


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab:-[]{},&*!|>'\"#%@`\n \t0123456789.e+\x00\x85\ufeff")), max_size=120
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(YAMLISH)
def test_any_text_loads_or_is_one_yaml_error(text: str) -> None:
    try:
        load_yaml_text(text, "fuzz.yaml")
    except YamlError as exc:
        assert str(exc).startswith("fuzz.yaml") and "\n" not in str(exc)
    scenario, problems = parse_scenario(text, "fuzz.yaml")
    assert scenario is not None or problems
