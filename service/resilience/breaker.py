"""A circuit breaker: closed -> open (after consecutive failures or a failure rate) -> half-open."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import IntEnum

from service.profile import CircuitBreaker as BreakerSettings


class State(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


#: the states as module constants (an enum class's attribute goes through EnumType.__getattr__'s hook)
_CLOSED, _HALF_OPEN, _OPEN = State.CLOSED, State.HALF_OPEN, State.OPEN


class CircuitOpen(Exception):
    """The breaker refused the call."""


class Breaker:
    def __init__(
        self,
        settings: BreakerSettings,
        *,
        on_state: Callable[[State], None] = lambda s: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._on_state = on_state
        self._clock = clock
        self._state = _CLOSED
        self._consecutive = 0
        self._window: deque[bool] = deque(maxlen=settings.window)
        self._opened_at = 0.0
        self._probes = 0
        on_state(self._state)

    @property
    def state(self) -> State:
        if self._state is _OPEN and self._clock() - self._opened_at >= self.settings.open_s:
            self._set(_HALF_OPEN)
        return self._state

    def _set(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            self._probes = 0
            if state is _CLOSED:
                self._consecutive = 0
                self._window.clear()
            self._on_state(state)

    def acquire(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go ahead now."""
        state = self.state
        if state is _OPEN:
            raise CircuitOpen("open")
        if state is _HALF_OPEN:
            if self._probes >= self.settings.half_open_max_calls:
                raise CircuitOpen("half-open, probe in flight")
            self._probes += 1

    def success(self) -> None:
        if self._state is _HALF_OPEN:
            self._set(_CLOSED)
            return
        self._consecutive = 0
        self._window.append(True)

    def failure(self) -> None:
        if self._state is _HALF_OPEN:
            self._opened_at = self._clock()
            self._set(_OPEN)
            return
        self._consecutive += 1
        self._window.append(False)
        failures = self._window.count(False)
        full = len(self._window) >= self.settings.window
        if self._consecutive >= self.settings.failure_threshold or (
            full and failures / len(self._window) >= self.settings.failure_rate
        ):
            self._opened_at = self._clock()
            self._set(_OPEN)
