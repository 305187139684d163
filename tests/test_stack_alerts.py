"""An alert of stack/prometheus/rules really fires in the running Prometheus when the game is made to
fail through its fault API, within the drill windows, and the supervisor journals it."""

from __future__ import annotations

import time

from stack.local import LocalStack
from tests.helpers_stack import events, firing_alerts, inject, local_stack, play, stack_dirs, wait_until

__all__ = ["local_stack", "stack_dirs"]


def test_error_budget_page_fires(local_stack: LocalStack) -> None:
    stack = local_stack
    assert play(stack) == 200
    assert firing_alerts(stack) == []
    fault = inject(stack, "game", {"type": "errors", "params": {"rate": 1.0, "status": 500}, "ttl_s": 60})
    assert fault["type"] == "errors"
    broke_at = time.monotonic()
    statuses: list[int] = []

    def page_firing() -> list[str]:
        # ~15 requests a second, under the hardened rate limit (20/s): 429s would count as good answers
        for _ in range(8):
            statuses.append(play(stack))
            time.sleep(0.06)
        return [
            a["labels"]["alertname"]
            for a in firing_alerts(stack)
            if a["labels"]["alertname"] == "ErrorBudgetBurnPage"
        ]

    wait_until(page_firing, 45, "ErrorBudgetBurnPage firing", every_s=0.0)
    took = time.monotonic() - broke_at
    assert set(statuses) == {500}
    assert took < 45
    firing = [a for a in firing_alerts(stack) if a["labels"]["alertname"] == "ErrorBudgetBurnPage"]
    assert firing[0]["labels"]["severity"] == "page"
    assert firing[0]["labels"]["sloth_slo"] == "availability"
    journaled = wait_until(
        lambda: events(stack, "alert", "firing", alert="ErrorBudgetBurnPage"), 10, "the alert in the journal"
    )
    assert journaled[0].get("severity") == "page"
    assert journaled[0].source == "supervisor"
    print(f"ErrorBudgetBurnPage fired {took:.1f} s after the game started failing")
