"""Figures of the embedded (local) stack: cold-start time of `crashlab up` to all-healthy (target
under 5 s) and resident memory of the whole stack at idle (target under 300 MB).

    .venv/bin/python bench/stack.py [--runs 3] [--idle-s 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

# run as a script, this file's folder comes first on sys.path and its name would hide the `stack` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from crashlab.rundir import RunDir  # noqa: E402
from stack.local import up  # noqa: E402
from stack.local.state import read_state  # noqa: E402
from stack.runtime import StackConfig  # noqa: E402

CRASHLAB = str(Path(sys.executable).with_name("crashlab"))


def cli_cold_start(tmp: Path) -> float:
    """Wall time of `crashlab up` (a fresh interpreter, as a user runs it) until it returns healthy."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(tmp / "state"), "CRASHLAB_RUNS_DIR": str(tmp / "runs")}
    started = time.monotonic()
    done = subprocess.run(
        [CRASHLAB, "up", "--json"], env=env, cwd=tmp, capture_output=True, text=True, timeout=120
    )
    took = time.monotonic() - started
    try:
        if done.returncode != 0:
            raise SystemExit(f"crashlab up failed: {done.stderr.strip()}")
    finally:
        subprocess.run([CRASHLAB, "down"], env=env, cwd=tmp, capture_output=True, timeout=120, check=False)
    return took


def idle_memory(tmp: Path, idle_s: float) -> tuple[float, float, dict[str, float]]:
    """Seconds of ``stack.local.up()`` (no CLI start-up) to all-healthy, then the total RSS (MB) of the
    supervisor and every part after ``idle_s`` seconds of idling."""
    os.environ["CRASHLAB_STATE_DIR"] = str(tmp / "state-mem")
    started = time.monotonic()
    stack = up(StackConfig(run_dir=RunDir.create("bench", tmp / "runs")))
    took = time.monotonic() - started
    try:
        time.sleep(idle_s)
        state = read_state(stack.state_file)
        assert state is not None
        pids = {"supervisor": state.supervisor_pid} | {p.name: p.pid for p in stack.status() if p.pid}
        per_part = {name: psutil.Process(pid).memory_info().rss / 2**20 for name, pid in pids.items() if pid}
        return took, sum(per_part.values()), per_part
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crashlab-bench-") as raw:
        tmp = Path(raw)
        times = [cli_cold_start(tmp / f"cold{i}") for i in range(args.runs)]
        api_s, total, per_part = idle_memory(tmp, args.idle_s)
    load = os.getloadavg()[0]
    print(
        f"crashlab up -> all healthy (CLI, {args.runs} runs): "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s"
        " (target < 5 s)"
    )
    print(f"stack.local.up() -> all healthy (in-process, no CLI import): {api_s:.2f} s")
    print(f"load average (1 min) while measuring: {load:.1f} on {os.cpu_count()} cores")
    parts = ", ".join(f"{name} {mb:.0f}" for name, mb in per_part.items())
    print(f"embedded stack RSS at idle after {args.idle_s:g} s: {total:.0f} MB ({parts}) (target < 300 MB)")
    print(
        json.dumps(
            {
                "cold_start_s": times,
                "api_up_s": api_s,
                "load1": load,
                "idle_rss_mb": total,
                "idle_rss_mb_by_part": per_part,
            }
        )
    )


if __name__ == "__main__":
    main()
