"""What hostile drill files cost ``crashlab validate``: wall time, peak memory (RSS) and the answer for each
file of ``tests/helpers_scenario.HOSTILE_FILES`` (alias bomb, deep nesting, NUL byte, a 5,000-digit
integer, nested repeats, a file at the node bound, ...), plus ``/dev/zero``.

    .venv/bin/python bench/hostile_files.py [--timeout 300]

Each run is a fresh ``python -m crashlab validate FILE`` subprocess; peak memory is its ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers_scenario import HOSTILE_FILES  # noqa: E402


def measure(path: str, timeout_s: float) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, the answer's last line or how it ended)."""
    script = (
        "import resource, subprocess, sys, json\n"
        "done = subprocess.run([sys.executable, '-m', 'crashlab', 'validate', sys.argv[1]],"
        " capture_output=True, text=True, timeout=float(sys.argv[2]))\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "out = (done.stdout.strip().splitlines() or [''])[0]\n"
        "print(json.dumps([peak, done.returncode, out, 'Traceback' in done.stderr]))\n"
    )
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, path, str(timeout_s)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s + 30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return time.monotonic() - start, float("nan"), "timed out"
    took = time.monotonic() - start
    if done.returncode != 0:
        return took, float("nan"), (done.stderr.strip().splitlines() or ["?"])[-1][:100]
    peak_kb, code, first, traceback = json.loads(done.stdout)
    answer = f"exit {code}{' TRACEBACK' if traceback else ''}: {first.split(': ', 1)[-1][:90]}"
    return took, peak_kb / 1024, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per file")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        paths: list[tuple[str, str]] = []
        for name, (make, _message) in sorted(HOSTILE_FILES.items()):
            content = make()
            path = Path(tmp) / f"{name}.yaml"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            paths.append((name, str(path)))
        paths.append(("dev-zero", "/dev/zero"))
        print(f"{'file':<20} {'bytes':>8} {'seconds':>8} {'peak MiB':>9}  answer")
        for name, path in paths:
            size = os.path.getsize(path) if name != "dev-zero" else 0
            took, peak, answer = measure(path, args.timeout)
            print(f"{name:<20} {size:>8} {took:>8.2f} {peak:>9.1f}  {answer}", flush=True)


if __name__ == "__main__":
    main()
