"""The bulkhead: at most ``limit`` calls at once, a free slot taken without waiting, a full one waited
for in line up to ``max_wait_s``; a slot is never lost nor doubled, whatever ends the wait."""

from __future__ import annotations

import asyncio

import pytest

from service.resilience.bulkhead import Bulkhead


async def test_free_slots_are_taken_at_once_and_the_bound_holds() -> None:
    bulkhead = Bulkhead(2)
    assert bulkhead.try_acquire() and bulkhead.try_acquire()
    assert not bulkhead.try_acquire()
    assert not await bulkhead.acquire(0)  # no wait allowed: refused at once
    bulkhead.release()
    assert await bulkhead.acquire(0)
    assert bulkhead.in_use == 2


async def _taken_with_two_in_line() -> tuple[Bulkhead, asyncio.Task[bool], asyncio.Task[bool]]:
    """A one-slot bulkhead, its slot taken, and two calls waiting (5 s) in line for it."""
    bulkhead = Bulkhead(1)
    assert bulkhead.try_acquire()
    first = asyncio.create_task(bulkhead.acquire(5))
    second = asyncio.create_task(bulkhead.acquire(5))
    await asyncio.sleep(0)
    return bulkhead, first, second


async def test_a_released_slot_goes_to_the_first_in_line() -> None:
    bulkhead, first, second = await _taken_with_two_in_line()
    assert not bulkhead.try_acquire()  # people in line: no jumping it
    bulkhead.release()
    assert await first and not second.done()
    bulkhead.release()
    assert await second
    bulkhead.release()
    assert bulkhead.in_use == 0 and bulkhead.try_acquire()


async def test_a_wait_that_runs_out_leaves_the_line() -> None:
    bulkhead = Bulkhead(1)
    assert bulkhead.try_acquire()
    assert not await bulkhead.acquire(0.01)
    bulkhead.release()
    assert bulkhead.in_use == 0  # nobody in line took it
    assert bulkhead.try_acquire()


async def test_a_cancelled_waiter_hands_on_a_slot_given_to_it() -> None:
    bulkhead, waiter, other = await _taken_with_two_in_line()
    bulkhead.release()  # the slot is handed to ``waiter`` ...
    waiter.cancel()  # ... which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await other  # the slot went on, not lost
    bulkhead.release()
    assert bulkhead.in_use == 0


async def test_a_slot_handed_over_as_the_wait_runs_out_is_kept() -> None:
    bulkhead = Bulkhead(1)
    assert bulkhead.try_acquire()
    loop = asyncio.get_running_loop()
    waiting = asyncio.create_task(bulkhead.acquire(0.05))
    await asyncio.sleep(0)
    # the release and the timeout land in the same loop iteration
    loop.call_at(loop.time() + 0.05, bulkhead.release)
    got = await waiting  # whichever came first, the caller holds the slot it is told it holds
    assert bulkhead.in_use == (1 if got else 0)
    if got:
        bulkhead.release()
    assert bulkhead.in_use == 0
