"""The timeline scheduler: each planned fault starts at its offset on the monotonic clock (the lag
is measured and journaled), stays for its duration and is reverted; instant faults only inject. A game
day's recurring steps run one occurrence after the other until they are over (:func:`run_recurring`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from chaos.faults.base import TTL_MARGIN_S
from chaos.plan import PlanStep, Recurrence
from chaos.runner.rollback import Rollback
from crashlab.faultkinds import MAX_TTL_S

#: TTL of an instant fault (kill, restart): nothing stays injected, the TTL is only formal.
INSTANT_TTL_S = 5.0


async def sleep_until(deadline: float) -> float:
    """Sleep until the monotonic ``deadline``; returns the lag in ms (>= 0)."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return max(0.0, (time.monotonic() - deadline) * 1000)


async def _inject_shielded(rollback: Rollback, step: PlanStep, lag_ms: float) -> None:
    ttl = min(step.duration_s + TTL_MARGIN_S, MAX_TTL_S) if step.duration_s > 0 else INSTANT_TTL_S
    task = asyncio.ensure_future(
        rollback.inject(
            step.label,
            step.fault.type,
            step.fault.params(),
            ttl,
            lag_ms=lag_ms,
            planned_at_s=step.start_s,
            duration_s=step.duration_s or None,
            baseline=step.baseline,
        )
    )
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        # an injection in flight finishes and is recorded, so the rollback reverts it
        await asyncio.wait([task])
        raise


async def run_step(step: PlanStep, rollback: Rollback, t0: float) -> None:
    lag = await sleep_until(t0 + step.start_s)
    await _inject_shielded(rollback, step, lag)
    if step.duration_s > 0 and step.label in rollback.active:
        lag = await sleep_until(t0 + step.end_s)
        await rollback.revert(step.label, lag_ms=lag)


async def run_timeline(steps: Sequence[PlanStep], rollback: Rollback, t0: float) -> None:
    """Run every step; on cancellation the steps stop and the caller's rollback reverts what is left."""
    tasks = [asyncio.create_task(run_step(step, rollback, t0), name=step.label) for step in steps]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_recurring(rec: Recurrence, rollback: Rollback, t0: float, over: Callable[[], bool]) -> int:
    """Run the occurrences of a recurring step one after the other, each at its offset, until ``over()``
    is true when the next one is due (a game day's ``repeat.until``); returns how many ran. On
    cancellation the steps stop and the caller's rollback reverts what is left."""
    index = 0
    while True:
        await sleep_until(t0 + rec.start_s(index))
        if over():
            return index
        await run_timeline(rec.occurrence(index), rollback, t0)
        index += 1
