"""Benchmark: the load generator is never a drill's bottleneck.

Capacity (issue 16): one Locust process running the drills' user (``chaos/load/locustfile.py``'s
``Player``, a ``FastHttpUser``) pinned to ONE core, with the five-crash drill's users, timeout and
retries but no think time, against an instant server on the other core (a raw asyncio protocol
with a canned ``/play`` answer: it costs little, so Locust's own CPU is the limit). Printed next to
the five-crash drill's peak request rate, from its scenario (``scenarios/five-crash.yaml``: users,
think time, retries) and from a run's Locust stats (the largest one-second count of the run's
history); the generator must reach at least twice the drill's peak.

    .venv/bin/python bench/load.py [--seconds 20] [--run runs/<id>] [--drill scenarios/five-crash.yaml]

Without ``--run``, the newest run of the drill under ``runs/`` (or ``$CRASHLAB_RUNS_DIR``) is read;
when there is none, the bench runs the drill first (``crashlab drill``, about three minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loopback import http_answer, pin, serve_canned, wait_port  # noqa: E402

from chaos.load.process import command, environment  # noqa: E402
from chaos.runner.preflight import load_settings  # noqa: E402
from chaos.scenario.validate import load_scenario  # noqa: E402

DRILL = ROOT / "scenarios" / "five-crash.yaml"
GENERATOR_CPU = 1
SERVER_CPU = 0


# --- the instant server (a subprocess on the other core) --------------------------------------------


#: the instant server's one answer, whatever the request
INSTANT = http_answer(
    b"200 OK",
    b'{"player_choice":"rock","computer_choice":"paper","result":"lose","timestamp":'
    b'"2026-01-01T00:00:00.000Z","round_id":"1-1","trace_id":"00000000000000000000000000000000",'
    b'"degraded":false,"win_rate":0.3333}',
)


# --- the drill's peak --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillLoad:
    users: int
    think_min_s: float
    think_max_s: float
    retries: int

    @property
    def steady_rps(self) -> float:
        """Every player at the mean think time with instant answers (a drill's service is slower)."""
        return self.users / ((self.think_min_s + self.think_max_s) / 2)

    @property
    def worst_rps(self) -> float:
        """Every player at the shortest think time, every attempt failing at once and retried."""
        return self.users * (1 + self.retries) / self.think_min_s if self.think_min_s else float("inf")


def scenario_load(path: Path) -> DrillLoad:
    load = load_scenario(path).load
    assert load is not None, f"{path}: no load"
    users = load.users or max(s.users for s in load.stages or [])
    return DrillLoad(users, load.think_time.min, load.think_time.max, load.client_retries)


def newest_run(runs_dir: Path, drill: str) -> Path | None:
    runs = [p for p in runs_dir.glob(f"*-{drill}-*") if (p / "locust" / "stats_stats_history.csv").exists()]
    return max(runs, key=lambda p: p.name) if runs else None


def run_peak(run: Path) -> tuple[float, float]:
    """(largest one-second request count, mean req/s with load on) from a run's Locust history."""
    rows = _history(run / "locust" / "stats_stats_history.csv")
    peak = 0.0
    for (t0, n0), (t1, n1) in itertools.pairwise(rows):
        if t1 > t0:
            peak = max(peak, (n1 - n0) / (t1 - t0))
    span = rows[-1][0] - rows[0][0] if len(rows) > 1 else 0
    return peak, (rows[-1][1] - rows[0][1]) / span if span else 0.0


def run_drill(drill: Path, runs_dir: Path) -> Path:
    print(f"no run of {drill.stem} under {runs_dir}: running it (crashlab drill {drill}) ...", flush=True)
    crashlab = str(Path(sys.executable).with_name("crashlab"))
    subprocess.run([crashlab, "drill", str(drill), "--quiet", "--runs-dir", str(runs_dir)], check=False)
    run = newest_run(runs_dir, drill.stem)
    if run is None:
        raise SystemExit(f"the drill wrote no Locust history under {runs_dir}")
    return run


# --- Locust's capacity on one core -------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    rps: float  # requests a second of wall time while every user ran
    per_core: float  # requests a second of Locust's own CPU time: its rate with a whole core
    cpu_pct: float  # of the one core it is pinned to, in that window
    requests: int
    failures: int


def _history(path: Path) -> list[tuple[int, int]]:
    """(unix second, total requests so far) of each aggregated row of a Locust history CSV."""
    with path.open(newline="") as fh:
        return [
            (int(row["Timestamp"]), int(row["Total Request Count"]))
            for row in csv.DictReader(fh)
            if row["Name"] == "Aggregated"
        ]


def _at(samples: list[tuple[float, float]], t: float) -> float:
    """Locust's CPU seconds at wall time ``t``, interpolated between samples."""
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if t0 <= t <= t1:
            return c0 + (c1 - c0) * (t - t0) / (t1 - t0) if t1 > t0 else c0
    return samples[-1][1] if t > samples[-1][0] else samples[0][1]


def locust_capacity(drill: Path, seconds: float, users: int | None) -> Capacity:
    """One Locust process with the drill's settings, no think time, pinned to one core, against the
    instant server; measured from its history between the second second of load and the last row
    (start-up and spawning left out)."""
    from tests.support import free_port

    scenario = load_scenario(drill)
    assert scenario.load is not None
    drill_settings = load_settings(scenario.load, scenario.target.seed)
    settings = replace(
        drill_settings,
        users=users or drill_settings.users,
        spawn_rate=float(users or drill_settings.users),
        duration_s=seconds,
        stages=(),
        think_min_s=0.0,
        think_max_s=0.0,
        metrics_port=0,
    )
    port = free_port()
    out = Path(tempfile.mkdtemp(prefix="crashlab-load-bench-"))
    server = subprocess.Popen([sys.executable, __file__, "--role", "instant", "--port", str(port)])
    samples: list[tuple[float, float]] = []
    try:
        wait_port(port)
        argv = ["taskset", "-c", str(GENERATOR_CPU), *command(f"http://127.0.0.1:{port}", settings, out)]
        locust = subprocess.Popen(argv, env=environment(settings, out), stdout=subprocess.DEVNULL)
        proc = psutil.Process(locust.pid)
        while locust.poll() is None:
            try:
                samples.append((time.time(), sum(proc.cpu_times()[:2])))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.1)
        if locust.returncode:
            raise SystemExit(f"locust exited {locust.returncode}; see {out / 'locust.log'}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    rows = [r for r in _history(out / "stats_stats_history.csv") if r[1] > 0]
    (t0, n0), (t1, n1) = rows[1], rows[-1]
    cpu = _at(samples, t1) - _at(samples, t0)
    with (out / "stats_stats.csv").open(newline="") as fh:
        total = next(row for row in csv.DictReader(fh) if row["Name"] == "Aggregated")
    return Capacity(
        rps=(n1 - n0) / (t1 - t0),
        per_core=(n1 - n0) / cpu if cpu > 0 else float("inf"),
        cpu_pct=100 * cpu / (t1 - t0),
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
    )


def capacity_section(args: argparse.Namespace) -> None:
    drill = Path(args.drill)
    runs_dir = Path(os.environ.get("CRASHLAB_RUNS_DIR", ROOT / "runs"))
    run = Path(args.run) if args.run else newest_run(runs_dir, drill.stem) or run_drill(drill, runs_dir)
    load = scenario_load(drill)
    peak, mean = run_peak(run)
    load_avg = os.getloadavg()
    cap = locust_capacity(drill, args.seconds, args.users)
    print(f"== Locust capacity on one core vs the {drill.stem} drill's peak (load average {load_avg[0]:.2f})")
    print(
        f"drill {drill.name}: {load.users} users, think {load.think_min_s:g}-{load.think_max_s:g} s,"
        f" {load.retries} retry: {load.steady_rps:.0f} req/s with instant answers at the mean think time,"
        f" at most {load.worst_rps:.0f} req/s (shortest think, every attempt failing at once)"
    )
    print(f"run {run.name}: peak {peak:.0f} req/s in one second, {mean:.0f} req/s on average")
    print(
        f"Locust FastHttpUser ({args.users or load.users} users, no think time), pinned to CPU"
        f" {GENERATOR_CPU}: {cap.per_core:.0f} req/s per second of its CPU (its rate on a whole core);"
        f" {cap.rps:.0f} req/s measured while it had {cap.cpu_pct:.0f} % of the core"
        f" ({cap.requests} requests, {cap.failures} failures)"
    )
    ratio = cap.per_core / peak if peak else float("inf")
    verdict = "holds" if ratio >= 2 else "DOES NOT hold"
    print(f"one core / the run's peak: {ratio:.1f} x (>= 2 x: {verdict});"
          f" / the scenario's steady rate: {cap.per_core / load.steady_rps:.1f} x;"
          f" / its worst case: {cap.per_core / load.worst_rps:.1f} x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["bench", "instant"], default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=0, help="Locust users (default: the drill's)")
    parser.add_argument("--run", default="", help="a run directory of the drill (default: the newest)")
    parser.add_argument("--drill", default=str(DRILL))
    args = parser.parse_args()
    if args.role == "instant":
        pin(SERVER_CPU)
        asyncio.run(serve_canned(args.port, lambda head: INSTANT))
        return
    capacity_section(args)


if __name__ == "__main__":
    main()
