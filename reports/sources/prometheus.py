"""Prometheus: range queries over the drill window through prometheus-api-client.

The live Prometheus named in ``manifest.json`` (``urls.prometheus``) is asked first. When it does not
answer, :class:`ReplayPrometheus` starts ``/usr/bin/prometheus`` on a copy of the run's own TSDB
(``runs/<id>/prometheus/data``) on a free loopback port, so a report can be rendered again days later.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import yaml
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from reports.model import Series, SourceProblem, Window
from stack.prometheus.generate import CLIENT_BAD_OUTCOMES

PROMETHEUS_BIN = os.environ.get("CRASHLAB_PROMETHEUS_BIN", "/usr/bin/prometheus")
#: Requests a user sent (probes, scrapes and the admin API are not user traffic).
ROUTES = 'route!~"/healthz|/readyz|/metrics|/admin.*"'
#: the players' bad outcomes, as the player-availability SLO counts them (4xx are the players' own)
CLIENT_BAD = f'outcome=~"{CLIENT_BAD_OUTCOMES}"'
#: how many steps before the window the raw counter queries start (their baseline)
RAW_PAD_STEPS = 5


def range_queries(rate_window: str, latency_target: float) -> dict[str, str]:
    """Every range query the report makes, by name (also printed in the appendix)."""
    w = rate_window
    hist = f"rps_http_request_duration_seconds_bucket{{{ROUTES}}}"
    dep_hist = "rps_dependency_request_duration_seconds_bucket"
    return {
        "requests_raw": f"rps_http_requests_total{{{ROUTES}}}",
        "request_rate": f"sum(rate(rps_http_requests_total{{{ROUTES}}}[{w}]))",
        "error_rate": f'sum(rate(rps_http_requests_total{{{ROUTES},status=~"5.."}}[{w}]))',
        "latency_buckets_raw": f"sum by (le, job, instance) ({hist})",
        "p50": f"histogram_quantile(0.5, sum by (le) (rate({hist}[{w}])))",
        "p95": f"histogram_quantile(0.95, sum by (le) (rate({hist}[{w}])))",
        "p99": f"histogram_quantile(0.99, sum by (le) (rate({hist}[{w}])))",
        "latency_slo_quantile": f"histogram_quantile({latency_target:g}, sum by (le) (rate({hist}[{w}])))",
        "dependency_raw": "rps_dependency_requests_total",
        "dependency_rate": f"sum(rate(rps_dependency_requests_total[{w}]))",
        "dependency_retry_rate": f"sum(rate(rps_dependency_retries_total[{w}]))",
        "dependency_p99": f"histogram_quantile(0.99, sum by (le) (rate({dep_hist}[{w}])))",
        "dependency_timeouts_raw": 'rps_dependency_requests_total{outcome="timeout"}',
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
        "panics_raw": "rps_panics_total",
        "degraded_raw": "rps_degraded_answers_total",
        "degraded_rate": f"sum(rate(rps_degraded_answers_total[{w}]))",
        "rounds_raw": "rps_rounds_total",
        "exits_raw": "crashlab_process_exits_total",
        "restarts_raw": "crashlab_process_restarts_total",
        "process_up": "crashlab_process_up",
        # how old the newest scrape is: above a few scrape intervals, Prometheus recorded nothing
        "scrape_age": "min(time() - timestamp(up))",
        # the players' view (the load generator's counters): what a load balancer would count
        "client_requests_raw": "crashlab_client_requests_total",
        "client_request_rate": f"sum(rate(crashlab_client_requests_total[{w}]))",
        "client_error_rate": f"sum(rate(crashlab_client_requests_total{{{CLIENT_BAD}}}[{w}]))",
    }


@dataclass(frozen=True)
class Exemplar:
    ts: float
    value: float
    trace_id: str
    labels: dict[str, str]


@dataclass
class PromData:
    url: str
    replayed: bool
    step_s: float
    rate_window: str
    queries: dict[str, str]
    results: dict[str, list[Series]]
    #: query name -> why it failed (the rest of the report still renders)
    errors: dict[str, str] = field(default_factory=dict)
    exemplars: list[Exemplar] = field(default_factory=list)

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


def _client(url: str, timeout_s: float) -> PrometheusConnect:
    return PrometheusConnect(
        url=url, disable_ssl=True, retry=Retry(total=1, backoff_factor=0.1), timeout=timeout_s
    )


def is_ready(url: str, timeout_s: float = 2.0) -> str | None:
    """None when Prometheus at ``url`` answers, else why not."""
    try:
        with requests.Session() as session:
            resp = session.get(f"{url}/-/ready", timeout=timeout_s)
            return None if resp.status_code == 200 else f"HTTP {resp.status_code} from {url}/-/ready"
    except requests.RequestException as exc:
        return f"{url} does not answer ({type(exc).__name__})"


def _to_series(raw: list[dict[str, Any]]) -> list[Series]:
    out = []
    for item in raw:
        points = [(float(t), float(v)) for t, v in item.get("values", []) if v not in ("NaN", "+Inf", "-Inf")]
        out.append(Series(labels=dict(item.get("metric", {})), points=points))
    return out


def query_all(
    url: str,
    window: Window,
    queries: dict[str, str],
    step_s: float,
    *,
    timeout_s: float = 15.0,
    workers: int = 4,
) -> tuple[dict[str, list[Series]], dict[str, str]]:
    results: dict[str, list[Series]] = {}
    errors: dict[str, str] = {}

    # raw counters start a few steps early: their baseline is the last value before the window
    early = window.start - timedelta(seconds=RAW_PAD_STEPS * step_s)

    def run(item: tuple[str, str]) -> tuple[str, list[Series] | str]:
        name, expr = item
        client = _client(url, timeout_s)
        try:
            begin = early if name.endswith("_raw") else window.start
            raw = client.custom_query_range(expr, begin, window.end, step=f"{step_s:g}s")
            return name, _to_series(raw)
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            return name, f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, value in pool.map(run, queries.items()):
            if isinstance(value, str):
                errors[name] = value
            else:
                results[name] = value
    return results, errors


def query_exemplars(url: str, window: Window, timeout_s: float = 10.0) -> list[Exemplar]:
    params = {
        "query": f"rps_http_request_duration_seconds_bucket{{{ROUTES}}}",
        "start": f"{window.start_s:.3f}",
        "end": f"{window.end_s:.3f}",
    }
    try:
        with requests.Session() as session:
            resp = session.get(f"{url}/api/v1/query_exemplars", params=params, timeout=timeout_s)
            if resp.status_code != 200:
                return []
            body = resp.json()
    except (requests.RequestException, ValueError):
        return []
    out = []
    for group in body.get("data") or []:
        for ex in group.get("exemplars") or []:
            labels = dict(ex.get("labels") or {})
            trace_id = labels.get("trace_id") or labels.get("traceID") or ""
            if trace_id:
                out.append(
                    Exemplar(
                        ts=float(ex["timestamp"]),
                        value=float(ex["value"]),
                        trace_id=trace_id.lower(),
                        labels=dict(group.get("seriesLabels") or {}),
                    )
                )
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
        if not Path(PROMETHEUS_BIN).exists():
            raise RuntimeError(f"{PROMETHEUS_BIN} not found (install the prometheus package)")
        self._tmp = tempfile.TemporaryDirectory(prefix="crashlab-replay-")
        root = Path(self._tmp.name)
        data = root / "data"
        shutil.copytree(self.data_dir, data, ignore=shutil.ignore_patterns("lock", "queries.active"))
        config = root / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n", encoding="utf-8")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = (root / "prometheus.log").open("wb")
        self._proc = subprocess.Popen(
            [
                PROMETHEUS_BIN,
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
                    f"replay Prometheus exited with {self._proc.returncode}: {self._log_tail()}"
                )
            if is_ready(self.url, timeout_s=1.0) is None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"replay Prometheus on {self.url} not ready after {self.ready_timeout_s:g}s")

    def _log_tail(self) -> str:
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
    queries = range_queries(rate_window, latency_target)
    results, errors = query_all(url, window, queries, step_s)
    return PromData(
        url=url,
        replayed=replayed,
        step_s=step_s,
        rate_window=rate_window,
        queries=queries,
        results=results,
        errors=errors,
        exemplars=query_exemplars(url, window),
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
    """Ask the live Prometheus, else replay the run's TSDB; ``replay=True`` forces the replay."""
    step = choose_step(window.duration_s)
    interval = scrape_interval(manifest, data_dir.parent)
    rate_window = f"{max(4 * interval, 2 * step):g}s"
    why_live = "replay asked for" if replay is True else "no Prometheus URL in manifest.json"
    if live_url and replay is not True:
        why = is_ready(live_url)
        if why is None:
            data = collect(live_url, False, window, step, rate_window, latency_target)
            if data.results or replay is False:
                return data
            why_live = f"{live_url}: every query failed ({next(iter(data.errors.values()), '')})"
        else:
            why_live = why
    if replay is False:
        return SourceProblem("prometheus", why_live)
    if not data_dir.is_dir() or not any(data_dir.iterdir()):
        return SourceProblem("prometheus", f"{why_live}; and no TSDB to replay at {data_dir}")
    try:
        with ReplayPrometheus(data_dir) as replica:
            return collect(replica.url, True, window, step, rate_window, latency_target)
    except (OSError, RuntimeError, shutil.Error) as exc:
        return SourceProblem("prometheus", f"{why_live}; replay of {data_dir} failed: {exc}")
