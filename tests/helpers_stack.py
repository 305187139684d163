"""Fixtures and helpers of the stack tests: local stacks in a temporary state/runs directory, the
Prometheus HTTP API, the admin API and the journal."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crashlab.journal import JournalEvent, read_journal
from crashlab.rundir import RunDir
from crashlab.waits import wait_until as wait_until
from crashlab.waits import wait_until_async as wait_until_async
from stack.local import LocalStack
from stack.local.running import group_pids, process_alive
from stack.runtime import RestartPolicy, StackConfig

#: a stand-in service: answers 200 to every GET on $CRASHLAB_PORT, exits with $EXIT_CODE after $EXIT_AFTER_S
TINY = """
import http.server, os, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(os.environ["CRASHLAB_PORT"])), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
threading.Event().wait(float(os.environ.get("EXIT_AFTER_S", "60")))
os._exit(int(os.environ.get("EXIT_CODE", "0")))
"""


@pytest.fixture
def stack_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir and runs dir, so tests never see each other's (or a developer's) stack."""
    monkeypatch.setenv("CRASHLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CRASHLAB_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path


def stack_config(root: Path, **overrides: Any) -> StackConfig:
    fields: dict[str, Any] = {
        "run_dir": RunDir.create("test", root / "runs"),
        "restart_policy": RestartPolicy(
            name="on-failure", max_retries=5, backoff_initial_s=0.2, backoff_max_s=1.0
        ),
        "health_timeout_s": 30.0,
    }
    fields.update(overrides)
    return StackConfig(**fields)


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout_s: float = 5.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read() or b"null")


def play(stack: LocalStack) -> int:
    """One real POST /play; its HTTP status (errors are answers too)."""
    req = urllib.request.Request(
        stack.urls["game"] + "/play",
        data=json.dumps({"player_choice": "rock"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Player-Id": "stack-test"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5.0) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def inject(stack: LocalStack, service: str, fault: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = http(
        "POST", stack.urls[service] + "/admin/faults", fault, token=stack.admin_token
    )
    return result


def prom_query(stack: LocalStack, promql: str) -> list[dict[str, Any]]:
    url = stack.urls["prometheus"] + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    body = http("GET", url)
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def prom_value(stack: LocalStack, promql: str) -> float | None:
    result = prom_query(stack, promql)
    return float(result[0]["value"][1]) if result else None


def exemplar_trace_ids(stack: LocalStack, selector: str, window_s: float = 120) -> set[str]:
    """``trace_id`` of every exemplar Prometheus stored for ``selector`` in the last ``window_s``."""
    now = time.time()
    query = urllib.parse.urlencode({"query": selector, "start": now - window_s, "end": now})
    body = http("GET", stack.urls["prometheus"] + "/api/v1/query_exemplars?" + query)
    return {e["labels"].get("trace_id", "") for series in body["data"] for e in series["exemplars"]}


def active_jobs(stack: LocalStack) -> set[str]:
    body = http("GET", stack.urls["prometheus"] + "/api/v1/targets?state=active")
    return {t["labels"]["job"] for t in body["data"]["activeTargets"]}


def firing_alerts(stack: LocalStack) -> list[dict[str, Any]]:
    body = http("GET", stack.urls["prometheus"] + "/api/v1/alerts")
    return [a for a in body["data"]["alerts"] if a["state"] == "firing"]


def events(stack_or_run: LocalStack | RunDir, type: str, event: str, **match: Any) -> list[JournalEvent]:
    run = stack_or_run.run_dir if isinstance(stack_or_run, LocalStack) else stack_or_run
    return [
        e
        for e in read_journal(run.journal_path)
        if e.type == type and e.event == event and all(e.get(k) == v for k, v in match.items())
    ]


def stack_processes(stack: LocalStack) -> list[tuple[int, float]]:
    """(pid, create time) of the supervisor and every part, to check later that none is left."""
    import psutil

    pids = [stack.state.supervisor_pid] + [p.pid for p in stack.status() if p.pid is not None]
    out = []
    for pid in set(pids):
        try:
            out.append((pid, psutil.Process(pid).create_time()))
        except psutil.Error:
            continue
    return out


def assert_nothing_left(stack: LocalStack, procs: list[tuple[int, float]]) -> None:
    alive = [pid for pid, created in procs if process_alive(pid, created)]
    assert alive == [], f"processes left behind: {alive}"
    assert group_pids(stack.state.pgid) == []


@pytest.fixture
def local_stack(stack_dirs: Path) -> Iterator[LocalStack]:
    """A healthy local stack (hardened profile, Prometheus, fast alert windows); always taken down."""
    from stack.local import up

    stack = up(stack_config(stack_dirs))
    try:
        yield stack
    finally:
        stack.down()


def supervisor_metric(stack: LocalStack, name: str, **labels: str) -> float | None:
    """One sample of the supervisor's own ``/metrics`` (no Prometheus needed)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(stack.urls["supervisor"] + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
