"""The local stack's Prometheus exposes no write API to local users: the lifecycle endpoints (reload,
quit) answer 403, the TSDB admin API is off; a configuration reload goes through SIGHUP from whoever owns
the process (file_sd targets need none)."""

from __future__ import annotations

import os
import signal
import urllib.error
import urllib.request

from stack.local import LocalStack
from tests.helpers_stack import local_stack, prom_value, stack_dirs, wait_until

__all__ = ["local_stack", "stack_dirs"]


def _post_status(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_lifecycle_and_admin_endpoints_are_closed_and_sighup_reloads(local_stack: LocalStack) -> None:
    stack = local_stack
    prom = stack.urls["prometheus"]
    assert _post_status(prom + "/-/reload") == 403  # "Lifecycle API is not enabled."
    assert _post_status(prom + "/-/quit") == 403
    assert _post_status(prom + "/api/v1/admin/tsdb/snapshot") >= 400  # "admin APIs disabled"
    assert all(p.healthy for p in stack.status() if p.name == "prometheus")

    reloads = 'prometheus_config_last_reload_success_timestamp_seconds{job="prometheus"}'
    before = wait_until(lambda: prom_value(stack, reloads), 30, "Prometheus scraping itself")
    pid = stack.pid("prometheus")
    assert pid is not None
    os.kill(pid, signal.SIGHUP)
    after = wait_until(
        lambda: (v := prom_value(stack, reloads)) is not None and v > before and v, 30, "a reload on SIGHUP"
    )
    assert after > before
    assert stack.pid("prometheus") == pid  # reloaded in place, not restarted
