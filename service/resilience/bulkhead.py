"""A bulkhead: at most ``limit`` calls at once.

A free slot is taken on the spot (a counter: no coroutine, no lock object); a call that finds them all
taken waits in line (first come, first served) for at most ``max_wait_s``, and a released slot passes
straight to the first in line. Whatever ends a wait (its time, a cancellation, a slot handed over at
the same moment), a slot is never lost nor given twice.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Bulkhead:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: slots taken (those handed from a releasing call to a waiting one included)
        self.in_use = 0
        self._line: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a free slot now (True), unless all are taken or others wait for one (False)."""
        if self.in_use < self.limit and not self._line:
            self.in_use += 1
            return True
        return False

    async def acquire(self, max_wait_s: float) -> bool:
        """A slot within ``max_wait_s`` (True), or none (False); 0 does not wait."""
        if self.try_acquire():
            return True
        if max_wait_s <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        try:
            async with asyncio.timeout(max_wait_s):
                await waiter
            return True  # a releasing call handed its slot over
        except TimeoutError:
            # handed over in the same loop iteration as the time ran out: the slot is this call's
            return waiter.done() and not waiter.cancelled()
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot it will not use: pass it on
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._line:
                self._line.remove(waiter)

    def release(self) -> None:
        """A call is done: its slot goes to the first in line still waiting, or back to the free."""
        while self._line:
            waiter = self._line.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_use -= 1
