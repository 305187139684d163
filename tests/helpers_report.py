"""Fixtures for the reporter's tests: synthetic runs in a real Prometheus TSDB, headless Chromium."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from typing import Any

from crashlab.journal import read_journal

CHROMIUM = "/usr/bin/chromium"


def load_summary(run_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_path / "report" / "summary.json").read_text(encoding="utf-8"))
    return data


def locust_counts(run_path: Path) -> tuple[int, int]:
    """Requests and failures straight from Locust's CSV (Aggregated row)."""
    stats = next((run_path / "locust").glob("*_stats.csv"))
    with stats.open(newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return int(row["Request Count"]), int(row["Failure Count"])


def journal_crashes(run_path: Path) -> int:
    return sum(
        1
        for e in read_journal(run_path / "journal.jsonl")
        if e.type == "process" and e.event == "exited" and e.get("reason") != "clean"
    )


def chromium_dom(html: Path, profile: Path, timeout_s: float = 90.0) -> tuple[str, str]:
    """The DOM after scripts ran, and Chromium's log (stderr)."""
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return proc.stdout, proc.stderr


LOCUSTFILE = """
from locust import HttpUser, constant, task


class Player(HttpUser):
    wait_time = constant(0.1)

    @task
    def play(self):
        self.client.post("/play", json={"player_choice": "rock"})
"""


def run_locust(host: str, workdir: Path, seconds: int = 5, users: int = 3) -> Path:
    """Real Locust, headless, as a subprocess; returns its CSV prefix directory."""
    import sys

    workdir.mkdir(parents=True, exist_ok=True)
    locustfile = workdir / "locustfile.py"
    locustfile.write_text(LOCUSTFILE, encoding="utf-8")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            host,
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{seconds}s",
            "--csv",
            str(workdir / "stats"),
            "--csv-full-history",
            "--only-summary",
            "--exit-code-on-error",
            "0",
        ],
        capture_output=True,
        timeout=seconds + 60,
        check=True,
    )
    return workdir


def play(url: str, n: int, *, tolerate_errors: bool = False) -> dict[int, int]:
    """``n`` rounds against the game; status -> count, as the client saw them (0: no answer, when
    ``tolerate_errors``)."""
    import urllib.error
    import urllib.request

    codes: dict[int, int] = {}
    for _ in range(n):
        req = urllib.request.Request(
            f"{url}/play",
            data=b'{"player_choice": "rock"}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                code = resp.status
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
        except OSError:
            if not tolerate_errors:
                raise
            code = 0
        codes[code] = codes.get(code, 0) + 1
    return codes


def admin(url: str, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import urllib.request

    req = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method=method,
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def play_lines(log: Path) -> list[int]:
    """The statuses of the ``POST /play`` access-log lines a service wrote."""
    out = []
    with log.open(encoding="utf-8") as fh:
        for text in fh:
            line = json.loads(text)
            if line.get("route") == "/play" and line.get("method") == "POST" and "status" in line:
                out.append(int(line["status"]))
    return out


def wait_restarted(stack: Any, service: str, timeout_s: float = 30.0) -> None:
    """Wait until the supervisor restarted ``service`` and it is healthy again."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        part = next(p for p in stack.status() if p.name == service)
        if part.restarts >= 1 and part.healthy:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{service} was not restarted within {timeout_s}s")
