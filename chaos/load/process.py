"""Locust as a headless subprocess (never imported here: gevent monkey-patches).

:class:`LoadProcess` starts ``python -m locust -f chaos/load/locustfile.py --headless ...`` with
the drill's load settings, writing ``stats*.csv`` (with full history), ``stats.json``,
``outcomes.json`` and ``locust.log`` into the run's ``locust/`` folder; :func:`live_stats` reads
the last aggregated history row for the live progress.

With ``workers`` (or ``remote_workers``) it starts Locust as a master plus that many worker
processes on this machine (``worker-<i>.log``), and the master waits for ``remote_workers`` more to
join (``crashlab load worker --master HOST:PORT``). The master writes the same files and serves the
players' metrics summed over its workers (:mod:`chaos.load.players`): callers see one Locust.
"""

from __future__ import annotations

import asyncio
import csv
import ctypes
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.load.players import quit_grace_s
from crashlab.errors import CrashlabError
from crashlab.ports import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


class LoadError(CrashlabError):
    """Locust could not start or failed; the message names the command and its log."""


@dataclass(frozen=True)
class Stage:
    duration_s: float
    users: int
    spawn_rate: float | None = None


@dataclass(frozen=True)
class LoadSettings:
    users: int = 10
    spawn_rate: float = 10.0
    duration_s: float = 60.0
    stages: tuple[Stage, ...] = ()
    request_mix: dict[str, int] = field(default_factory=lambda: {"play": 1})
    client_timeout_s: float = 2.0
    client_retries: int = 1
    think_min_s: float = 0.1
    think_max_s: float = 0.5
    players: int = 50
    seed: int = 0
    #: serve the players' metrics on this loopback port (0: none)
    metrics_port: int = 0
    #: Locust worker processes on this machine (0 and no remote workers: one process, no master)
    workers: int = 0
    #: workers from other machines the master waits for (``crashlab load worker``)
    remote_workers: int = 0
    #: where the master listens for workers (port 0: a free one, for local workers only)
    master_bind: str = "127.0.0.1"
    master_port: int = 0
    #: seconds the master waits for all its workers before it gives up (exit 1)
    workers_wait_s: float = 60.0

    @property
    def stop_timeout_s(self) -> float:
        """Locust's ``--stop-timeout``: a player's round (every attempt) may finish."""
        return max(1.0, self.client_timeout_s * (1 + self.client_retries))

    @property
    def distributed(self) -> bool:
        return self.workers > 0 or self.remote_workers > 0

    @property
    def start_wait_s(self) -> float:
        """How much longer than one process Locust may take to start its users: a master first waits
        for its workers (local and remote) to join, up to ``workers_wait_s``."""
        return self.workers_wait_s if self.distributed else 0.0

    @property
    def topology(self) -> str:
        """``one Locust process`` or ``a master and 2 workers, 1 more joining at 0.0.0.0:5557``."""
        if not self.distributed:
            return "one Locust process"
        text = f"a master and {self.workers} local worker(s)"
        if self.remote_workers:
            port = self.master_port or "a free port"
            text += f", {self.remote_workers} more joining at {self.master_bind}:{port}"
        return text

    @property
    def total_s(self) -> float:
        return sum(s.duration_s for s in self.stages) if self.stages else self.duration_s


@dataclass(frozen=True)
class LiveStats:
    users: int
    rps: float
    failures_per_s: float
    p99_ms: float | None
    requests: int
    failures: int

    @property
    def error_rate(self) -> float:
        return self.failures_per_s / self.rps if self.rps else 0.0


def locust_argv(*args: str) -> list[str]:
    """``python -m locust -f <the players' locustfile> ARGS``."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def command(host: str, settings: LoadSettings, out_dir: Path, master_port: int = 0) -> list[str]:
    """The one Locust process, or the master (``master_port``: where it listens for its workers)."""
    # Locust's -t is whole seconds; at least one
    run_time = max(1, round(settings.total_s))
    master = (
        [
            "--master",
            "--master-bind-host",
            settings.master_bind,
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(settings.workers + settings.remote_workers),
            "--expect-workers-max-wait",
            f"{settings.workers_wait_s:g}",
        ]
        if settings.distributed
        else []
    )
    return locust_argv(
        "--headless",
        "-H",
        host,
        "-u",
        str(settings.users),
        "-r",
        f"{settings.spawn_rate:g}",
        "-t",
        f"{run_time}s",
        "--csv",
        str(out_dir / "stats"),
        "--csv-full-history",
        "--json-file",
        str(out_dir / "stats"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--logfile",
        str(out_dir / "locust.log"),
        "--stop-timeout",
        f"{settings.stop_timeout_s:g}",
        "--exit-code-on-error",
        "0",
        *master,
    )


def worker_command(master_host: str, master_port: int, log_file: Path | None = None) -> list[str]:
    """One Locust worker of the players' locustfile; it takes the test's options from its master."""
    logging = ["--logfile", str(log_file)] if log_file is not None else []
    return locust_argv(
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
        *logging,
    )


def connect_host(bind: str) -> str:
    """Where a worker on this machine reaches a master bound to ``bind``."""
    return "127.0.0.1" if bind in ("", "*", "0.0.0.0", "::") else bind


def environment(settings: LoadSettings, out_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "CRASHLAB_LOAD_CLIENT_TIMEOUT": f"{settings.client_timeout_s:g}",
            "CRASHLAB_LOAD_CLIENT_RETRIES": str(settings.client_retries),
            "CRASHLAB_LOAD_THINK_MIN": f"{settings.think_min_s:g}",
            "CRASHLAB_LOAD_THINK_MAX": f"{settings.think_max_s:g}",
            "CRASHLAB_LOAD_PLAYERS": str(settings.players),
            "CRASHLAB_LOAD_REQUEST_MIX": json.dumps(settings.request_mix),
            "CRASHLAB_LOAD_OUTCOMES_FILE": str(out_dir / "outcomes.json"),
            "CRASHLAB_LOAD_SEED": str(settings.seed),
            "CRASHLAB_LOAD_METRICS_PORT": str(settings.metrics_port),
        }
    )
    env.pop("CRASHLAB_LOAD_STAGES", None)
    if settings.stages:
        env["CRASHLAB_LOAD_STAGES"] = json.dumps(
            [
                {"duration": s.duration_s, "users": s.users, "spawn_rate": s.spawn_rate}
                for s in settings.stages
            ]
        )
    return env


def worker_environment() -> dict[str, str]:
    """A worker's environment: no drill settings of its own (the master sends them at the start)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CRASHLAB_LOAD_")}


async def _terminate(proc: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns when it is gone."""
    if proc.returncode is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), grace_s)
    except ProcessLookupError:
        pass
    except TimeoutError:
        proc.kill()
        await proc.wait()


def die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the runner dies (even by SIGKILL), so no load (or game-day
    console) is left running without its drill."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


class LoadProcess:
    """One Locust run (one process, or a master and its local workers), each child in a session of its
    own (so a Ctrl-C in the terminal reaches only us) and SIGTERMed when we die."""

    def __init__(self, host: str, settings: LoadSettings, out_dir: Path) -> None:
        self.host = host
        self.settings = settings
        self.out_dir = out_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._workers: list[asyncio.subprocess.Process] = []
        self._outputs: list[Any] = []
        #: where the master listens for workers (set by start() when distributed)
        self.master_port: int | None = None

    @property
    def metrics_url(self) -> str | None:
        """Where Prometheus scrapes the players' metrics (job ``load``), if served."""
        return f"http://127.0.0.1:{self.settings.metrics_port}" if self.settings.metrics_port else None

    @property
    def exit_code(self) -> int | None:
        """None while Locust (the master) runs (or before it started)."""
        return self._proc.returncode if self._proc else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    async def _spawn(self, argv: list[str], env: dict[str, str], output: Path) -> asyncio.subprocess.Process:
        out = output.open("wb")
        self._outputs.append(out)
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except OSError as exc:
            raise LoadError(f"starting Locust failed: {exc} ({' '.join(argv)})") from exc

    async def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        settings = self.settings
        if settings.distributed:
            self.master_port = settings.master_port or free_port(connect_host(settings.master_bind))
        argv = command(self.host, settings, self.out_dir, self.master_port or 0)
        try:
            env = environment(settings, self.out_dir)
            self._proc = await self._spawn(argv, env, self.out_dir / "locust.out")
            if self.master_port is not None:
                host, env = connect_host(settings.master_bind), worker_environment()
                for i in range(settings.workers):
                    log = self.out_dir / f"worker-{i}.log"
                    argv = worker_command(host, self.master_port, log)
                    self._workers.append(await self._spawn(argv, env, log.with_suffix(".out")))
        except LoadError:
            await self.stop(grace_s=2.0)
            raise

    async def wait(self, timeout_s: float | None = None) -> int:
        """The master's (or the one process's) exit code; its workers quit with it."""
        assert self._proc is not None, "start() first"
        code = await asyncio.wait_for(self._proc.wait(), timeout_s)
        await self._reap_workers(grace_s=10.0)
        return code

    async def stop(self, grace_s: float | None = None) -> int | None:
        """Ask Locust to stop (SIGTERM: it writes its CSV/JSON and tells its workers to quit), SIGKILL
        after ``grace_s`` (default: all it may need, :func:`chaos.load.players.quit_grace_s`)."""
        if grace_s is None:
            grace_s = quit_grace_s(self.settings.stop_timeout_s)
        if self._proc is not None:
            await _terminate(self._proc, grace_s)
        await self._reap_workers(grace_s)
        return self._proc.returncode if self._proc else None

    async def _reap_workers(self, grace_s: float) -> None:
        """Workers quit when their master does; a worker still there after ``grace_s`` is stopped."""
        if self._workers:
            await asyncio.wait([asyncio.ensure_future(w.wait()) for w in self._workers], timeout=grace_s)
            await asyncio.gather(*(_terminate(w, 5.0) for w in self._workers))
        for out in self._outputs:
            out.close()
        self._outputs.clear()

    def live(self) -> LiveStats | None:
        return live_stats(self.out_dir)

    def users_started(self) -> bool:
        """Locust's players are playing: a history row with users or requests (a master writes rows
        with no users while it waits for its workers)."""
        live = self.live()
        return live is not None and (live.users > 0 or live.requests > 0)


def live_stats(out_dir: Path) -> LiveStats | None:
    """The last ``Aggregated`` row of ``stats_stats_history.csv`` (None before the first one)."""
    path = out_dir / "stats_stats_history.csv"
    try:
        with path.open(encoding="utf-8") as fh:
            last: dict[str, str] | None = None
            for row in csv.DictReader(fh):
                if row.get("Name") == "Aggregated":
                    last = row
    except FileNotFoundError:
        return None
    if last is None:
        return None

    def num(key: str) -> float:
        try:
            return float(last[key]) if last and last.get(key) not in (None, "", "N/A") else 0.0
        except ValueError:
            return 0.0

    p99 = num("99%")
    return LiveStats(
        users=int(num("User Count")),
        rps=num("Requests/s"),
        failures_per_s=num("Failures/s"),
        p99_ms=p99 or None,
        requests=int(num("Total Request Count")),
        failures=int(num("Total Failure Count")),
    )


def outcomes(out_dir: Path) -> dict[str, Any]:
    """The players' outcomes by route and kind (written by the locustfile when Locust quits)."""
    path = out_dir / "outcomes.json"
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
