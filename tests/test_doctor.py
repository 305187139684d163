"""``crashlab doctor``: every binary of crashlab/system-packages.txt is checked; a missing one fails the
run with the package that provides it; the kernel probe leaves no namespace behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crashlab.doctor import requirements

CRASHLAB = [sys.executable, "-m", "crashlab"]


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CRASHLAB, "doctor", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_the_package_list_names_what_the_issue_requires() -> None:
    binaries = {r.binary for r in requirements()}
    for needed in (
        "prometheus",
        "promtool",
        "amtool",
        "nft",
        "tc",
        "ip",
        "stress-ng",
        "chromium",
        "chromedriver",
    ):
        assert needed in binaries


def test_this_machine_after_make_setup_has_everything() -> None:
    """`make setup` installs every package of the list, so doctor passes on a machine it prepared."""
    before = _netns()
    done = _doctor("--json")
    report = json.loads(done.stdout)
    missing = [c for c in report["checks"] if c["status"] == "missing"]
    assert missing == [] and done.returncode == 0, missing
    names = {c["name"] for c in report["checks"]}
    assert {r.binary for r in requirements()} <= names
    # netem or both halves of its fallback were probed
    assert "netem" in names
    assert _netns() == before  # the scratch namespace is gone


def test_a_missing_binary_fails_and_names_its_package(tmp_path: Path) -> None:
    """With a PATH holding only python, every binary is missing: exit 1, each with its package."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bindir)}
    done = _doctor(env=env)
    assert done.returncode == 1
    assert "MISSING" in done.stdout
    assert "nftables" in done.stdout and "prometheus-alertmanager" in done.stdout
    assert "check(s) failed" in done.stderr
    assert "Traceback" not in done.stderr
