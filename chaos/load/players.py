"""The players' counters of one Locust process (``crashlab_client_*``), mergeable across processes.

Pure Python (no Locust import): the locustfile records into one :class:`Players` per process.

- One process (no workers): it counts and serves its own :class:`Players` (job ``load``).
- Master and workers: each worker counts into its own :class:`Players`; Locust sends a stats report
  from the worker to its master every second, and the worker puts :meth:`Players.take` (what it
  counted since its last report, then zero) into that same report. The master adds every report to
  its own :class:`Players` with :meth:`Players.merge` (in the same event as Locust's own stats) and
  serves the sum. So there is one scrape target (the master) whatever the number of workers or
  machines, and the players' request total moves in lockstep with Locust's aggregated request count.
  The master also serves ``crashlab_load_worker_requests_total{worker}`` (requests per worker, by
  Locust's worker index) and ``crashlab_load_workers`` (workers connected).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _go_float

#: bucket bounds (seconds) of ``crashlab_client_request_duration_seconds``
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: the ``le`` label values, as prometheus_client writes them
LE = (*(str(_go_float(b)) for b in BUCKETS), "+Inf")  # type: ignore[no-untyped-call]
#: what :meth:`Players.take` returns and :meth:`Players.merge` reads (inside Locust's report)
REPORT_KEY = "crashlab_players"
#: after the last scrape's read, time for its answer to go out before the process exits
SCRAPE_SENT_S = 0.2
#: at the end of a test, how long a master waits for its workers' last reports, on top of the users'
#: stop timeout
LAST_REPORT_MARGIN_S = 5.0
#: then how long a process serving the players' metrics waits for a scrape of its last counts
LAST_SCRAPE_WAIT_S = 5.0
#: and at least a little over Locust's CSV interval (1 s): Locust writes its CSVs then, not at exit
CSV_PASS_S = 1.25


def quit_grace_s(stop_timeout_s: float) -> float:
    """How long Locust may take to stop once asked (users' stop timeout, the last reports, the last
    scrape and CSV pass), plus a margin: what a caller waits before it kills it."""
    return stop_timeout_s + LAST_REPORT_MARGIN_S + max(LAST_SCRAPE_WAIT_S, CSV_PASS_S) + SCRAPE_SENT_S + 3.0


#: set in a worker's report once all its users have stopped (its last counts)
FINAL_KEY = "crashlab_players_final"


class Players(Collector):
    """Requests by ``(route, outcome)``, their durations by route, and the outcome tally by
    ``"route:kind"`` keys (the locustfile's ``outcomes.json``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str]] = Counter()
        #: per route: count per bucket of :data:`BUCKETS` (not cumulative), the last one is +Inf
        self.buckets: dict[str, list[int]] = {}
        self.sums: dict[str, float] = {}
        self.outcomes: Counter[str] = Counter()
        #: requests counted per worker index (a master's merges only)
        self.by_worker: Counter[str] = Counter()
        #: a master sets this: how many workers are connected
        self.workers: Callable[[], int] | None = None
        #: when a scrape last read the counters (``time.time()``)
        self.scraped_at = 0.0

    # --- counting (one process) -------------------------------------------------------------------
    def observe(self, route: str, outcome: str, seconds: float) -> None:
        slot = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
        with self._lock:
            self.requests[route, outcome] += 1
            self.buckets.setdefault(route, [0] * (len(BUCKETS) + 1))[slot] += 1
            self.sums[route] = self.sums.get(route, 0.0) + seconds

    def count(self, route: str, kind: str) -> None:
        with self._lock:
            self.outcomes[f"{route}:{kind}"] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    # --- a worker's report, a master's merge -----------------------------------------------------
    def take(self) -> dict[str, Any]:
        """What was counted since the last call (msgpack-friendly), and start again from zero."""
        with self._lock:
            data = {
                "requests": [[route, outcome, n] for (route, outcome), n in self.requests.items()],
                "buckets": {route: list(counts) for route, counts in self.buckets.items()},
                "sums": dict(self.sums),
                "outcomes": dict(self.outcomes),
            }
            self.requests.clear()
            self.buckets.clear()
            self.sums.clear()
            self.outcomes.clear()
        return data

    def merge(self, data: dict[str, Any], worker: str | None = None) -> None:
        """Add a worker's :meth:`take` (``worker``: its index, for ``crashlab_load_worker_*``)."""
        with self._lock:
            added = 0
            for route, outcome, n in data.get("requests", []):
                self.requests[str(route), str(outcome)] += int(n)
                added += int(n)
            for route, counts in data.get("buckets", {}).items():
                mine = self.buckets.setdefault(str(route), [0] * (len(BUCKETS) + 1))
                for i, n in enumerate(counts[: len(mine)]):
                    mine[i] += int(n)
            for route, seconds in data.get("sums", {}).items():
                self.sums[str(route)] = self.sums.get(str(route), 0.0) + float(seconds)
            for key, n in data.get("outcomes", {}).items():
                self.outcomes[str(key)] += int(n)
            if worker is not None:
                self.by_worker[worker] += added

    def wait_scraped(self, timeout_s: float) -> bool:
        """Wait until a scrape has read the counters as they are now (Prometheus keeps the last counts
        of a process that is about to exit); False after ``timeout_s`` without one."""
        since = time.time()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.scraped_at > since:
                time.sleep(SCRAPE_SENT_S)
                return True
            time.sleep(0.05)
        return False

    def outcomes_by_route(self) -> dict[str, dict[str, int]]:
        """``{"/play": {"attempts": n, "ok": n, "timeout": n, ...}}`` (the ``outcomes.json`` routes)."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for key, value in self.outcomes.items():
                route, kind = key.split(":", 1)
                out.setdefault(route, {})[kind] = value
        return out

    # --- Prometheus ------------------------------------------------------------------------------
    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily | GaugeMetricFamily]:
        requests = CounterMetricFamily(
            "crashlab_client_requests", "requests as the players saw them", labels=["route", "outcome"]
        )
        durations = HistogramMetricFamily(
            "crashlab_client_request_duration_seconds",
            "request duration as the players saw it (up to their timeout)",
            labels=["route"],
        )
        with self._lock:
            for (route, outcome), n in sorted(self.requests.items()):
                requests.add_metric([route, outcome], n)
            for route, counts in sorted(self.buckets.items()):
                cumulative, running = [], 0
                for bound, n in zip(LE, counts, strict=True):
                    running += n
                    cumulative.append((bound, float(running)))
                durations.add_metric([route], cumulative, self.sums.get(route, 0.0))
            by_worker = sorted(self.by_worker.items())
            self.scraped_at = time.time()
        yield requests
        yield durations
        if self.workers is not None:
            per_worker = CounterMetricFamily(
                "crashlab_load_worker_requests",
                "the players' requests by Locust worker (index)",
                labels=["worker"],
            )
            for worker, n in by_worker:
                per_worker.add_metric([worker], n)
            yield per_worker
            yield GaugeMetricFamily(
                "crashlab_load_workers", "Locust workers connected to this master", value=self.workers()
            )
