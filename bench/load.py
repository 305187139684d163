"""Benchmark: the load generator is never a drill's bottleneck, and it scales with workers.

Two sections (``--section capacity|scaling``, default both):

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

Scaling (issue 15.4): the same players as one Locust process and as a master with 1, 2 and 4 worker
processes (``load.workers``), side by side, with ``--users-per-worker`` users per worker and no think
time, against the instant server (here on any core). Each configuration runs ``--rounds`` times,
interleaved, for ``--scale-seconds``; the medians are printed: requests/s (from the master's
aggregated history while every user ran), the ratio to one worker, the cores Locust's processes and
the server got, requests/s per Locust core, failures. Workers scale until the machine's cores are
used up: on 2 cores expect 1 -> 2 workers to gain and 4 to add nothing (more workers than cores).
The load average before and after is printed with the figures (the machine may be shared: other
processes then take cores, and more Locust processes get a larger share of them).

    .venv/bin/python bench/load.py --section scaling [--scale-seconds 10] [--rounds 2] [--workers 1 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import os
import signal
import statistics
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


def _history_rows(path: Path) -> list[tuple[int, int, int]]:
    """(unix second, total requests so far, users) of each aggregated row of a Locust history CSV."""
    with path.open(newline="") as fh:
        return [
            (int(row["Timestamp"]), int(row["Total Request Count"]), int(row["User Count"]))
            for row in csv.DictReader(fh)
            if row["Name"] == "Aggregated"
        ]


def _history(path: Path) -> list[tuple[int, int]]:
    """(unix second, total requests so far) of each aggregated row of a Locust history CSV."""
    return [(t, n) for t, n, _users in _history_rows(path)]


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


# --- scaling: the players' requests/s with 1, 2 and 4 Locust workers (issue 15.4) -------------------


@dataclass(frozen=True)
class Throughput:
    label: str
    rps: float  # requests a second while every user ran (Locust's aggregated history)
    generator_cores: float  # CPU of Locust's processes (master and workers) in that window, in cores
    server_cores: float
    requests: int
    failures: int


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


async def _measure(url: str, workers: int, users: int, seconds: float, server: psutil.Process) -> Throughput:
    from chaos.load.process import LoadProcess, LoadSettings

    settings = LoadSettings(
        users=users,
        spawn_rate=float(users),
        duration_s=seconds,
        think_min_s=0.0,
        think_max_s=0.0,
        client_timeout_s=5.0,
        client_retries=0,
        workers=workers,
    )
    out = Path(tempfile.mkdtemp(prefix="crashlab-scale-bench-"))
    load = LoadProcess(url, settings, out)
    await load.start()
    assert load.pid is not None
    generator = [psutil.Process(pid) for pid in (load.pid, *load.worker_pids)]
    samples: list[tuple[float, float, float]] = []  # (unix time, generator CPU s, server CPU s)
    while load.exit_code is None:
        samples.append((time.time(), _cpu(generator), _cpu([server])))
        await asyncio.sleep(0.25)
    if await load.wait(timeout_s=60):
        raise SystemExit(f"locust exited {load.exit_code}; see {out / 'locust.log'}")
    rows = [(t, n) for t, n, u in _history_rows(out / "stats_stats_history.csv") if u == users and n > 0]
    if len(rows) < 3:
        raise SystemExit(f"too short a run to measure ({len(rows)} rows); raise --scale-seconds")
    (t0, n0), (t1, n1) = rows[1], rows[-1]
    window = [(t, g, s) for t, g, s in samples if t0 <= t <= t1] or samples
    span = (window[-1][0] - window[0][0]) or 1.0
    with (out / "stats_stats.csv").open(newline="") as fh:
        total = next(row for row in csv.DictReader(fh) if row["Name"] == "Aggregated")
    label = f"{workers} worker{'s' if workers != 1 else ''}" if workers else "1 process"
    return Throughput(
        label=label,
        rps=(n1 - n0) / (t1 - t0),
        generator_cores=(window[-1][1] - window[0][1]) / span,
        server_cores=(window[-1][2] - window[0][2]) / span,
        requests=int(total["Request Count"]),
        failures=int(total["Failure Count"]),
    )


def scaling_section(args: argparse.Namespace) -> None:
    """Locust as one process, then a master with 1, 2 and 4 worker processes, against the instant
    server; each configuration ``--rounds`` times, interleaved; medians printed side by side."""
    from tests.support import free_port

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    counts = [0, *args.workers]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--role", "instant", "--any-cpu", "--port", str(port)]
    )
    results: dict[int, list[Throughput]] = {n: [] for n in counts}
    load_before = os.getloadavg()
    try:
        wait_port(port)
        for _ in range(args.rounds):
            for n in counts:
                users = args.users_per_worker * max(1, n)
                results[n].append(
                    asyncio.run(
                        _measure(
                            f"http://127.0.0.1:{port}", n, users, args.seconds, psutil.Process(server.pid)
                        )
                    )
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    load_after = os.getloadavg()
    print(
        f"== the players' requests/s by Locust workers, against the instant server ({cores} cores;"
        f" load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of"
        f" {args.rounds} round(s) of {args.scale_seconds:g} s, {args.users_per_worker} users per worker,"
        " no think time)"
    )
    print(
        f"{'':<11} {'req/s':>8} {'x 1 worker':>10} {'Locust cores':>12} {'req/s per core':>14}"
        f" {'server cores':>12} {'failures':>9}"
    )
    base = statistics.median(r.rps for r in results[counts[1]]) if len(counts) > 1 else 0.0
    for n in counts:
        runs = results[n]
        rps = statistics.median(r.rps for r in runs)
        used = statistics.median(r.generator_cores for r in runs)
        print(
            f"{runs[0].label:<11} {rps:>8.0f} {rps / base if base else 0:>10.2f} {used:>12.2f}"
            f" {statistics.median(r.rps / r.generator_cores for r in runs if r.generator_cores):>14.0f}"
            f" {statistics.median(r.server_cores for r in runs):>12.2f} {sum(r.failures for r in runs):>9}"
        )
    print(
        f"expected on {cores} idle cores: about x{min(2, cores)} from 1 to 2 workers (the server and the"
        f" master take little); beyond {cores} workers the cores are saturated and req/s stays flat."
        " 'Locust cores' is the CPU Locust got: on a shared machine less than it could use, and more"
        " processes get a larger share, so compare 'req/s per core' too"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["bench", "instant"], default="bench")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--any-cpu", action="store_true", help="instant role: do not pin to one core")
    parser.add_argument("--section", choices=["capacity", "scaling", "all"], default="all")
    # capacity
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=0, help="Locust users (default: the drill's)")
    parser.add_argument("--run", default="", help="a run directory of the drill (default: the newest)")
    parser.add_argument("--drill", default=str(DRILL))
    # scaling
    parser.add_argument("--scale-seconds", type=float, default=10.0, help="each scaling run's load time")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each worker count (medians)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts")
    parser.add_argument("--users-per-worker", type=int, default=32)
    args = parser.parse_args()
    if args.role == "instant":
        if not args.any_cpu:
            pin(SERVER_CPU)
        asyncio.run(serve_canned(args.port, lambda head: INSTANT))
        return
    if args.section in ("capacity", "all"):
        capacity_section(args)
    if args.section in ("scaling", "all"):
        scaling_section(args)


if __name__ == "__main__":
    main()
