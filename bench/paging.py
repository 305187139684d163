"""Page delivery on the embedded stack: the game fails (errors fault, 100 %), Prometheus fires
ErrorBudgetBurnPage, Alertmanager routes it to the pager webhook (a local HTTP server here).
Prints, per run and as medians: fault -> alert firing (Prometheus' ``startsAt``), firing -> webhook
received (Alertmanager's group_wait of 1 s in drill windows plus the delivery), and fault -> webhook.

    .venv/bin/python bench/paging.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# run as a script, this file's folder comes first on sys.path and its name would hide the `stack` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from crashlab.rundir import RunDir  # noqa: E402
from stack.local import LocalStack, up  # noqa: E402
from stack.runtime import StackConfig  # noqa: E402

PAGE = "ErrorBudgetBurnPage"


class Pager(BaseHTTPRequestHandler):
    """Records (receipt time, JSON body) of every webhook POST."""

    received: list[tuple[float, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        Pager.received.append((time.time(), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def request(stack: LocalStack, method: str, url: str, body: Any = None, token: bool = False) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {stack.admin_token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def one_run(tmp: Path, pager_url: str) -> tuple[float, float]:
    """(fault -> firing, firing -> webhook) in seconds."""
    Pager.received.clear()
    stack = up(StackConfig(run_dir=RunDir.create("bench-paging", tmp / "runs"), pager_url=pager_url))
    try:
        stack.wait_scraped()
        fault = {"type": "errors", "params": {"rate": 1.0, "status": 500}, "ttl_s": 120}
        injected = time.time()
        request(stack, "POST", stack.urls["game"] + "/admin/faults", fault, token=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            for at, body in Pager.received:
                for alert in body["alerts"]:
                    if alert["labels"]["alertname"] == PAGE and body["status"] == "firing":
                        fired = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00")).timestamp()
                        return fired - injected, at - fired
            # ~15 rounds a second, under the hardened rate limit
            request(stack, "POST", stack.urls["game"] + "/play", {"player_choice": "rock"})
            time.sleep(0.06)
        raise SystemExit(f"no {PAGE} at the webhook within 90 s")
    finally:
        stack.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pager_url = f"http://127.0.0.1:{server.server_address[1]}/pager"
    results = []
    with tempfile.TemporaryDirectory(prefix="crashlab-bench-paging-") as raw:
        os.environ["CRASHLAB_STATE_DIR"] = str(Path(raw) / "state")
        for i in range(args.runs):
            to_fire, to_pager = one_run(Path(raw) / f"run{i}", pager_url)
            results.append((to_fire, to_pager))
            print(f"run {i + 1}: fault -> firing {to_fire:.2f} s, firing -> webhook {to_pager:.2f} s")
    server.shutdown()
    fire = [r[0] for r in results]
    deliver = [r[1] for r in results]
    total = [a + b for a, b in results]
    print(
        f"{PAGE} over {args.runs} runs (median, min-max): fault -> firing {statistics.median(fire):.2f} s "
        f"({min(fire):.2f}-{max(fire):.2f}); firing -> webhook {statistics.median(deliver):.2f} s "
        f"({min(deliver):.2f}-{max(deliver):.2f}); fault -> webhook {statistics.median(total):.2f} s"
    )
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        json.dumps({"fault_to_firing_s": fire, "firing_to_webhook_s": deliver, "fault_to_webhook_s": total})
    )


if __name__ == "__main__":
    main()
