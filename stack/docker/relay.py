"""Metrics of processes on the host, relayed to the Docker stack's Prometheus through the observer.

In the full (bridge) layout Prometheus runs on the compose network and cannot reach an exporter bound
to the host's loopback (the drill runner's ``/metrics``, Locust's players' metrics). The observer is on
that network (``observer:9100``) and publishes its port on the host's 127.0.0.1, so the relay goes
through it, the same way in both layouts:

    exporter on 127.0.0.1:P  <--GET--  :class:`RelayFeed` (a thread in the process that added the target)
                                           |  PUT /relay/<job>   (the observer's published port)
                                           v
    Prometheus  --scrape-->  observer /relay/<job>/metrics   (job label from the target file)

The feed copies the exporter's text every half second; when the exporter stops answering it withdraws
the job (``DELETE``) so Prometheus sees the target down, as it would scraping it directly. The observer
keeps a job's text :data:`RELAY_TTL_S` without a new copy, then answers 503: a feed whose process
died leaves no frozen series behind.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from dataclasses import dataclass

from stack.http import request_ok

#: a relayed job's name (also a path segment)
JOB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
#: the largest exposition the observer takes
MAX_RELAY_BYTES = 4 * 1024 * 1024
#: a job not refreshed for this long is dropped (its feed is gone)
RELAY_TTL_S = 10.0
FEED_INTERVAL_S = 0.5


def relay_path(job: str) -> str:
    """Where Prometheus scrapes a relayed job on the observer (``__metrics_path__``)."""
    return f"/relay/{job}/metrics"


@dataclass
class _Copy:
    body: bytes
    content_type: str
    at: float


class Relay:
    """The observer's side: the latest exposition per job, thread-safe."""

    def __init__(self, ttl_s: float = RELAY_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._jobs: dict[str, _Copy] = {}
        self._lock = threading.Lock()

    def put(self, job: str, body: bytes, content_type: str) -> None:
        with self._lock:
            self._jobs[job] = _Copy(body, content_type, time.monotonic())

    def drop(self, job: str) -> None:
        with self._lock:
            self._jobs.pop(job, None)

    def get(self, job: str) -> tuple[bytes, str] | None:
        with self._lock:
            copy = self._jobs.get(job)
            if copy is None:
                return None
            if time.monotonic() - copy.at > self.ttl_s:
                del self._jobs[job]
                return None
            return copy.body, copy.content_type

    def jobs(self) -> list[str]:
        with self._lock:
            return sorted(self._jobs)


class RelayFeed:
    """The host's side: copies one exporter's ``/metrics`` to the observer's relay until stopped."""

    def __init__(self, job: str, source_url: str, observer_url: str, interval_s: float = FEED_INTERVAL_S):
        if not JOB_NAME.match(job):
            raise ValueError(f"relay job {job!r}: expected letters, digits, '_' or '-'")
        self.job = job
        self.source = source_url.rstrip("/") + "/metrics"
        self.target = f"{observer_url.rstrip('/')}/relay/{job}"
        self.interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relay-{job}", daemon=True)
        #: copies delivered to the observer (for tests and status)
        self.copies = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """One last copy (the exporter's final counts), then stop; the job is withdrawn."""
        self._done.set()
        self._thread.join(timeout_s)
        self._send("DELETE", None, "")

    def _run(self) -> None:
        while True:
            self.copy_once()
            if self._done.wait(self.interval_s):
                self.copy_once()
                return

    def copy_once(self) -> bool:
        try:
            with urllib.request.urlopen(self.source, timeout=2.0) as resp:
                body = resp.read(MAX_RELAY_BYTES + 1)
                content_type = resp.headers.get("Content-Type", "text/plain; version=0.0.4")
        except (OSError, ValueError):
            self._send("DELETE", None, "")  # down, as Prometheus would see it scraping directly
            return False
        if len(body) > MAX_RELAY_BYTES:
            return False
        if self._send("PUT", body, content_type):
            self.copies += 1
            return True
        return False

    def _send(self, method: str, body: bytes | None, content_type: str) -> bool:
        headers = {"Content-Type": content_type} if content_type else {}
        return request_ok(urllib.request.Request(self.target, data=body, method=method, headers=headers))
