"""Timeline precision of ``crashlab drill``: how late each fault starts and ends (target: < 100 ms).

Runs a real drill on its own local stack: ``--steps`` overlapping ``service.latency`` /
``dependency.latency`` faults a quarter-second apart under a small Locust load, then reads the
journal's ``lag_ms`` (actual minus planned time on the monotonic clock) of every inject and revert.

    .venv/bin/python bench/drill.py [--steps 20] [--users 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crashlab.journal import read_journal


def scenario(steps: int, users: int) -> str:
    lines = [
        "name: bench-timeline",
        "description: many short faults to measure the scheduler's lag",
        "target: {runtime: local, profile: hardened}",
        f"load: {{users: {users}, spawn_rate: {users}, duration: {steps * 0.25 + 4:g}s, "
        "think_time: {min: 50ms, max: 150ms}}",
        "timeline:",
    ]
    for i in range(steps):
        kind = "service" if i % 2 == 0 else "dependency"
        fault = f"{{type: {kind}.latency, ms: 20}}"
        lines.append(f"  - {{name: f{i}, at: {1 + i * 0.25:g}s, duration: 1s, fault: {fault}}}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--users", type=int, default=10)
    args = parser.parse_args()
    crashlab = str(Path(sys.executable).with_name("crashlab"))
    with tempfile.TemporaryDirectory(prefix="crashlab-bench-") as tmp:
        root = Path(tmp)
        (root / "bench.yaml").write_text(scenario(args.steps, args.users), encoding="utf-8")
        env = {
            **os.environ,
            "CRASHLAB_STATE_DIR": str(root / "state"),
            "CRASHLAB_RUNS_DIR": str(root / "runs"),
        }
        started = time.perf_counter()
        done = subprocess.run([crashlab, "drill", "bench.yaml", "--quiet"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode not in (0, 1):
            sys.exit(f"drill failed ({done.returncode}): {done.stdout}{done.stderr}")
        run = Path(done.stdout.strip().splitlines()[-1])
        events = [
            e
            for e in read_journal(root / run / "journal.jsonl")
            if e.type == "fault" and e.source == "runner"
        ]
        for kind in ("injected", "reverted"):
            lags = sorted(float(e.get("lag_ms")) for e in events if e.event == kind)
            print(
                f"{kind:>9}: n={len(lags)} p50={statistics.median(lags):.1f} ms "
                f"p95={lags[int(0.95 * (len(lags) - 1))]:.1f} ms max={lags[-1]:.1f} ms"
            )
        print(f"drill wall time {wall:.1f}s (stack up and down included)")


if __name__ == "__main__":
    main()
