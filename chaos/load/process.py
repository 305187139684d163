"""Locust as a headless subprocess (never imported here: gevent monkey-patches).

:class:`LoadProcess` starts ``python -m locust -f chaos/load/locustfile.py --headless ...`` with
the drill's load settings, writing ``stats*.csv`` (with full history), ``stats.json``,
``outcomes.json`` and ``locust.log`` into the run's ``locust/`` folder; :func:`live_stats` reads
the last aggregated history row for the live progress.
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

from crashlab.errors import CrashlabError

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


def command(host: str, settings: LoadSettings, out_dir: Path) -> list[str]:
    # Locust's -t is whole seconds; at least one
    run_time = max(1, round(settings.total_s))
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
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
        f"{max(1.0, settings.client_timeout_s * (1 + settings.client_retries)):g}",
        "--exit-code-on-error",
        "0",
    ]


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


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM Locust when the runner dies (even by SIGKILL), so no load is
    left running without its drill."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


class LoadProcess:
    """One Locust run as a subprocess of its own session (so a Ctrl-C in the terminal reaches only us)."""

    def __init__(self, host: str, settings: LoadSettings, out_dir: Path) -> None:
        self.host = host
        self.settings = settings
        self.out_dir = out_dir
        self._proc: asyncio.subprocess.Process | None = None
        self._stdout: Any = None

    @property
    def metrics_url(self) -> str | None:
        """Where Prometheus scrapes the players' metrics (job ``load``), if served."""
        return f"http://127.0.0.1:{self.settings.metrics_port}" if self.settings.metrics_port else None

    @property
    def exit_code(self) -> int | None:
        """None while Locust runs (or before it started)."""
        return self._proc.returncode if self._proc else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        argv = command(self.host, self.settings, self.out_dir)
        self._stdout = (self.out_dir / "locust.out").open("wb")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                env=environment(self.settings, self.out_dir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            self._stdout.close()
            raise LoadError(f"starting Locust failed: {exc} ({' '.join(argv)})") from exc

    async def wait(self, timeout_s: float | None = None) -> int:
        assert self._proc is not None, "start() first"
        try:
            code = await asyncio.wait_for(self._proc.wait(), timeout_s)
        finally:
            if self._proc.returncode is not None and self._stdout is not None:
                self._stdout.close()
                self._stdout = None
        return code

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """Ask Locust to stop (SIGTERM: it writes its CSV/JSON), SIGKILL after ``grace_s``."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            try:
                self._proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(self._proc.wait(), grace_s)
            except ProcessLookupError:
                pass
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None
        return self._proc.returncode

    def live(self) -> LiveStats | None:
        return live_stats(self.out_dir)


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
