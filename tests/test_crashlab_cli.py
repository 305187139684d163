"""``crashlab`` never ends in a traceback: an unexpected error in any command is one line naming the command
and the file with the details (exit 70); Ctrl-C exits 130; a CrashlabError keeps its own exit code."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from tests.helpers_scenario import ROOT

#: the real ``crashlab`` group and entry point, with three commands that fail the ways a bug would
SCRIPT = """
import sys
import click
from crashlab.cli import cli, main
from crashlab.errors import CrashlabError

@cli.command("explode")
def explode() -> None:
    raise RuntimeError("boom\\nsecond line")

@cli.group("outer")
def outer() -> None:
    pass

@outer.command("inner")
@click.argument("key")
def inner(key: str) -> None:
    raise KeyError(key)

@cli.command("interrupt")
def interrupt() -> None:
    raise KeyboardInterrupt

@cli.command("refuse")
def refuse() -> None:
    raise CrashlabError("x.yaml: refused")

sys.argv = ["crashlab", *sys.argv[1:]]
main()
"""


def crashlab(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_unexpected_error_is_one_line_naming_the_command_and_the_details(tmp_path: Path) -> None:
    done = crashlab(tmp_path, "explode")
    assert done.returncode == 70
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    match = re.fullmatch(
        r"crashlab: internal error in `crashlab explode`: RuntimeError: boom "
        r"\(a bug in crashlab; details in (.+)\)",
        lines[0],
    )
    assert match, lines[0]
    details = Path(match[1])
    assert details.parent == tmp_path / "state" / "errors"
    assert stat.S_IMODE(details.stat().st_mode) == 0o600
    text = details.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in explode\nRuntimeError: boom" in text

    done = crashlab(tmp_path, "outer", "inner", "nope")
    assert done.returncode == 70
    assert done.stderr.startswith("crashlab: internal error in `crashlab outer inner`: KeyError: 'nope' (")
    assert "Traceback" not in done.stderr


def test_interrupt_and_crashlab_errors_keep_their_exit_codes(tmp_path: Path) -> None:
    done = crashlab(tmp_path, "interrupt")
    assert (done.returncode, done.stderr.strip()) == (130, "crashlab: interrupted")
    done = crashlab(tmp_path, "refuse")
    assert (done.returncode, done.stderr.strip()) == (2, "crashlab: error: x.yaml: refused")
    done = crashlab(tmp_path, "no-such-command")
    assert done.returncode == 2 and "No such command" in done.stderr
