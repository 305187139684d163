"""Prometheus: what the report reads over the drill window, through the one client (crashlab.prometheus).

The live Prometheus named in ``manifest.json`` (``urls.prometheus``) is asked first. When it does not
answer, or has nothing for the window, :class:`ReplayPrometheus` starts the ``prometheus`` binary (found
:func:`crashlab.binaries.find`: ``$CRASHLAB_PROMETHEUS_BIN``, else ``PATH``) on a copy of the run's own
TSDB (``runs/<id>/prometheus/data``) on a free loopback port, so a report can be rendered again days later.

Counters are read as raw samples (exact totals across restarts); the evaluator's series (chaos.verdict)
are fetched once and shared with it, so the page and the verdict count the same requests.
"""

from __future__ import annotations

import math
import re
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from chaos import verdict
from crashlab import binaries
from crashlab.errors import CrashlabError
from crashlab.ports import free_port
from crashlab.prometheus import Exemplar, Prometheus, PrometheusError, Series
from reports.model import SourceProblem, Window
from stack.prometheus.generate import CLIENT_BAD_OUTCOMES

#: the user requests: the SLOs' route (probes, scrapes and the admin API are not user traffic)
ROUTES = verdict.PLAY
#: the players' bad outcomes, as the player-availability SLO counts them (4xx are the players' own)
CLIENT_BAD = f'outcome=~"{CLIENT_BAD_OUTCOMES}"'
#: the evaluator's raw series, under the names the analysis uses
SHARED = {
    "requests_raw": "server",
    "client_requests_raw": "players",
    "degraded_raw": "degraded",
    "exits_raw": "exits",
    "restarts_raw": "restarts",
}


def raw_queries() -> dict[str, str]:
    """The counters read as raw samples (plain selectors) besides the evaluator's."""
    return {
        "latency_buckets_raw": f"rps_http_request_duration_seconds_bucket{{{ROUTES}}}",
        "dependency_raw": "rps_dependency_requests_total",
        "dependency_timeouts_raw": 'rps_dependency_requests_total{outcome="timeout"}',
        "panics_raw": "rps_panics_total",
        "rounds_raw": "rps_rounds_total",
    }


def range_queries(rate_window: str, latency_target: float) -> dict[str, str]:
    """Every range query the report makes, by name (also printed in the appendix)."""
    w = rate_window
    hist = f"rps_http_request_duration_seconds_bucket{{{ROUTES}}}"
    dep_hist = "rps_dependency_request_duration_seconds_bucket"
    return {
        "request_rate": f"sum(rate(rps_http_requests_total{{{ROUTES}}}[{w}]))",
        "error_rate": f'sum(rate(rps_http_requests_total{{{ROUTES},status=~"5.."}}[{w}]))',
        "p50": f"histogram_quantile(0.5, sum by (le) (rate({hist}[{w}])))",
        "p95": f"histogram_quantile(0.95, sum by (le) (rate({hist}[{w}])))",
        "p99": f"histogram_quantile(0.99, sum by (le) (rate({hist}[{w}])))",
        "latency_slo_quantile": f"histogram_quantile({latency_target:g}, sum by (le) (rate({hist}[{w}])))",
        "dependency_rate": f"sum(rate(rps_dependency_requests_total[{w}]))",
        "dependency_retry_rate": f"sum(rate(rps_dependency_retries_total[{w}]))",
        "dependency_p99": f"histogram_quantile(0.99, sum by (le) (rate({dep_hist}[{w}])))",
        "in_flight": "sum(rps_http_requests_in_flight)",
        "dependency_in_flight": "sum(rps_dependency_in_flight)",
        "memory": 'max by (job) (process_resident_memory_bytes{job=~"game|odds"})',
        "supervisor_memory": "max by (service) (crashlab_process_resident_memory_bytes)",
        "open_fds": 'max by (job) (process_open_fds{job=~"game|odds"})',
        "open_connections": "sum(rps_open_connections)",
        "circuit_state": "max(rps_circuit_state)",
        "alerts": 'ALERTS{alertstate="firing"}',
        "fault_active": "crashlab_fault_active",
        "service_faults": 'max by (__name__, fault) ({__name__=~"rps_active_faults|odds_active_faults"})',
        "degraded_rate": f"sum(rate(rps_degraded_answers_total[{w}]))",
        "process_up": "crashlab_process_up",
        # how old the newest scrape is: above a few scrape intervals, Prometheus recorded nothing
        "scrape_age": "min(time() - timestamp(up))",
        # the players' view (the load generator's counters): what a load balancer would count
        "client_request_rate": f"sum(rate(crashlab_client_requests_total{{{ROUTES}}}[{w}]))",
        "client_error_rate": f"sum(rate(crashlab_client_requests_total{{{ROUTES},{CLIENT_BAD}}}[{w}]))",
    }


@dataclass
class PromData:
    url: str
    replayed: bool
    step_s: float
    rate_window: str
    queries: dict[str, str]
    results: dict[str, list[Series]]
    #: the evaluator's series (chaos.verdict.fetch), shared with the verdict
    telemetry: verdict.Telemetry
    #: query name -> why it failed (the rest of the report still renders)
    errors: dict[str, str] = field(default_factory=dict)
    exemplars: list[Exemplar] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No sample at all in the window: nothing was recorded (or the TSDB could not be read)."""
        return not any(s.points for series in self.results.values() for s in series)

    def get(self, name: str) -> list[Series]:
        return self.results.get(name, [])

    def one(self, name: str) -> Series | None:
        series = self.results.get(name) or []
        return series[0] if series else None


def choose_step(duration_s: float, max_points: int = 400) -> float:
    return float(max(1, math.ceil(duration_s / max_points)))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")


def parse_duration(text: str) -> float | None:
    m = _DURATION.match(text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]


def scrape_interval(manifest: dict[str, Any], prometheus_dir: Path) -> float:
    """manifest ``scrape_interval_s``, else the run's Prometheus config ``global.scrape_interval``,
    else 5 s."""
    value = manifest.get("scrape_interval_s")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    for config in sorted(prometheus_dir.glob("*.y*ml")) if prometheus_dir.is_dir() else []:
        try:
            loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(loaded, dict):
            interval = (loaded.get("global") or {}).get("scrape_interval")
            if isinstance(interval, str) and (seconds := parse_duration(interval)):
                return seconds
    return 5.0


def query_all(
    prom: Prometheus,
    window: Window,
    queries: dict[str, str],
    raws: dict[str, str],
    step_s: float,
    *,
    workers: int = 4,
) -> tuple[dict[str, list[Series]], dict[str, str]]:
    """Every range query over the window and every raw counter (from PAD_S before it), 4 at a time."""
    results: dict[str, list[Series]] = {}
    errors: dict[str, str] = {}
    since = window.start_s - verdict.PAD_S

    def run(item: tuple[str, str]) -> tuple[str, list[Series] | str]:
        name, expr = item
        try:
            if name in raws:
                return name, prom.raw(expr, since, window.end)
            return name, prom.query_range(expr, window.start, window.end, step_s)
        except PrometheusError as exc:
            return name, str(exc)[:400]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, value in pool.map(run, [*queries.items(), *raws.items()]):
            if isinstance(value, str):
                errors[name] = value
            else:
                results[name] = value
    return results, errors


class ReplayPrometheus:
    """A Prometheus on a copy of a run's TSDB, on a free loopback port; stopped and removed on exit."""

    def __init__(self, data_dir: Path, ready_timeout_s: float = 60.0) -> None:
        self.data_dir = data_dir
        self.ready_timeout_s = ready_timeout_s
        self.url = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> ReplayPrometheus:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = binaries.find("prometheus")  # MissingBinary says how to install it
        self._tmp = tempfile.TemporaryDirectory(prefix="crashlab-replay-")
        root = Path(self._tmp.name)
        data = root / "data"
        shutil.copytree(self.data_dir, data, ignore=shutil.ignore_patterns("lock", "queries.active"))
        config = root / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n", encoding="utf-8")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = (root / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=root,
        )
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"replay Prometheus exited with {self._proc.returncode}: {self.log_tail()}"
                )
            if Prometheus(self.url).ready(timeout_s=1.0) is None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"replay Prometheus on {self.url} not ready after {self.ready_timeout_s:g}s")

    def log_tail(self) -> str:
        """The last lines Prometheus logged (warnings and errors)."""
        if self._tmp is None:
            return ""
        text = (Path(self._tmp.name) / "prometheus.log").read_text(encoding="utf-8", errors="replace")
        return " | ".join(text.strip().splitlines()[-3:])

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def collect(
    url: str, replayed: bool, window: Window, step_s: float, rate_window: str, latency_target: float
) -> PromData:
    prom = Prometheus(url, timeout_s=15.0)
    queries, raws = range_queries(rate_window, latency_target), raw_queries()
    telemetry = verdict.fetch(prom, window.start, window.end)
    results, errors = query_all(prom, window, queries, raws, step_s)
    for mine, name in SHARED.items():
        if telemetry.has(name):
            results[mine] = telemetry.get(name)
        elif name in telemetry.errors:
            errors[mine] = telemetry.errors[name]
    shown = {**queries, **raws}
    shown.update({mine: verdict.SELECTORS[name] for mine, name in SHARED.items()})
    shown["alerts (verdict)"] = verdict.SELECTORS["alerts"]
    shown["max p99 (verdict)"] = verdict.p99_query(window.start, window.end)
    if "p99" in telemetry.errors:
        errors["max p99 (verdict)"] = telemetry.errors["p99"]
    try:
        exemplars = prom.exemplars(
            f"rps_http_request_duration_seconds_bucket{{{ROUTES}}}", window.start, window.end
        )
    except PrometheusError:
        exemplars = []
    return PromData(
        url=url,
        replayed=replayed,
        step_s=step_s,
        rate_window=rate_window,
        queries=shown,
        results=results,
        telemetry=telemetry,
        errors=errors,
        exemplars=exemplars,
    )


def load_prometheus(
    live_url: str | None,
    data_dir: Path,
    window: Window,
    manifest: dict[str, Any],
    latency_target: float,
    *,
    replay: bool | None = None,
) -> PromData | SourceProblem:
    """Ask the live Prometheus, else replay the run's TSDB; ``replay=True`` forces the replay. A Prometheus
    without a single sample in the window is a problem (a corrupt or foreign TSDB), not a source."""
    step = choose_step(window.duration_s)
    interval = scrape_interval(manifest, data_dir.parent)
    rate_window = f"{max(4 * interval, 2 * step):g}s"
    why_live = "replay asked for" if replay is True else "no Prometheus URL in manifest.json"
    if live_url and replay is not True:
        why = Prometheus(live_url).ready()
        if why is None:
            data = collect(live_url, False, window, step, rate_window, latency_target)
            if not data.empty or replay is False:
                return data
            first = next(iter(data.errors.values()), "")
            why_live = f"{live_url}: no sample in the drill window" + (f" ({first})" if first else "")
        else:
            why_live = why
    if replay is False:
        return SourceProblem("prometheus", why_live)
    if not data_dir.is_dir() or not any(data_dir.iterdir()):
        return SourceProblem("prometheus", f"{why_live}; and no TSDB to replay at {data_dir}")
    try:
        with ReplayPrometheus(data_dir) as replica:
            data = collect(replica.url, True, window, step, rate_window, latency_target)
            if data.empty:
                tail = replica.log_tail()
                return SourceProblem(
                    "prometheus",
                    f"{why_live}; the replay of {data_dir} holds no sample in the drill window "
                    "(a corrupt or foreign TSDB?)" + (f": {tail}" if tail else ""),
                )
            return data
    except (OSError, RuntimeError, shutil.Error, CrashlabError) as exc:
        return SourceProblem("prometheus", f"{why_live}; replay of {data_dir} failed: {exc}")
