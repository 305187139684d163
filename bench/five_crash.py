"""The main job's figures: the five-crash drill (and its hardened rerun) N times in a row.

For each run: crashes (from the journal), the verdict, wall time of the whole `crashlab drill --report`
command (bring-up, drill, report), TTD (from the post-mortem: the incident's first stall to the first
alert) and the peak resident memory of everything the drill ran (runner, supervisor, services,
Prometheus, Locust: the drill command's whole process tree, sampled every 0.25 s).

    .venv/bin/python bench/five_crash.py [--runs 5] [--drill five-crash] [--drill five-crash-hardened]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _tree(pid: int) -> set[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return {proc, *proc.children(recursive=True)}
    except psutil.Error:
        return set()


def _stack_rss(drill_pid: int, runs: Path) -> int:
    """RSS of the drill's process tree plus the supervisor's (found by its state file), each process once."""
    members = _tree(drill_pid)
    for state in runs.glob(".state/*.json"):
        try:
            members |= _tree(int(json.loads(state.read_text(encoding="utf-8"))["supervisor_pid"]))
        except (OSError, ValueError, KeyError):
            continue
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_once(drill: str, runs: Path) -> dict[str, object]:
    env = {**os.environ, "CRASHLAB_STATE_DIR": str(runs / ".state")}
    command = [sys.executable, "-m", "crashlab", "drill", f"scenarios/{drill}.yaml", "--quiet", "--report"]
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, "--runs-dir", str(runs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _stack_rss(proc.pid, runs))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    run_dirs = sorted(p for p in runs.iterdir() if p.is_dir() and drill in p.name)
    summary_path = run_dirs[-1] / "report" / "summary.json" if run_dirs else None
    summary = (
        json.loads(summary_path.read_text(encoding="utf-8")) if summary_path and summary_path.exists() else {}
    )
    times = summary.get("times") or {}
    return {
        "drill": drill,
        "exit": proc.returncode,
        "crashes": summary.get("crashes"),
        "verdict": summary.get("verdict"),
        "wall_s": round(wall, 1),
        "ttd_s": summary.get("ttd_s"),
        "ttd_from": times.get("incident_start_by") or times.get("fault_start"),
        "first_alert": times.get("first_alert_name"),
        "peak_rss_mb": round(peak / 2**20),
        "availability_players": summary.get("availability_client"),
        "run_dir": str(run_dirs[-1]) if run_dirs else None,
        "tail": output.strip().splitlines()[-7:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--drill", action="append", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args()
    drills = args.drill or ["five-crash", "five-crash-hardened"]
    base = Path(tempfile.mkdtemp(prefix="crashlab-bench-five-crash-"))
    results: list[dict[str, object]] = []
    for drill in drills:
        for i in range(args.runs):
            runs = base / f"{drill}-{i}"
            runs.mkdir(parents=True)
            result = run_once(drill, runs)
            results.append(result)
            print(
                f"{drill} run {i + 1}: exit {result['exit']}, crashes {result['crashes']}, "
                f"verdict {result['verdict']}, wall {result['wall_s']} s, TTD {result['ttd_s']} s "
                f"({result['ttd_from']} -> {result['first_alert']}), peak RSS {result['peak_rss_mb']} MB, "
                f"players' availability {result['availability_players']}",
                flush=True,
            )
    print()
    for drill in drills:
        mine = [r for r in results if r["drill"] == drill]
        crashes = ",".join(str(r["crashes"]) for r in mine)
        walls = [float(str(r["wall_s"])) for r in mine]
        ttds = [float(str(r["ttd_s"])) for r in mine if r["ttd_s"] is not None]
        peaks = [int(str(r["peak_rss_mb"])) for r in mine]
        print(
            f"{drill}: crashes per run {crashes}; wall {min(walls):.0f}-{max(walls):.0f} s; "
            + (f"TTD {min(ttds):.1f}-{max(ttds):.1f} s; " if ttds else "TTD n/a; ")
            + f"peak RSS of the whole stack {max(peaks)} MB"
        )
    print(f"runs kept in {base}" if args.keep else "")
    if not args.keep:
        subprocess.run(["rm", "-rf", str(base)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
