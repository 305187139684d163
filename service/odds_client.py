"""The game's client of the odds dependency, with every resilience switch.

naive (switches off): no timeout at all, a new session and connection per call (kept open, leaked,
when the call fails), retries every ``naive_interval_ms`` with no limit, no breaker, no bulkhead.
hardened: the request deadline bounds every attempt and travels as ``X-Request-Deadline-Ms``,
capped exponential backoff with full jitter and a retry budget, a circuit breaker, a bulkhead and
one pooled session.

Every fix can be switched on or off while the service runs: the client keeps one :class:`Fixes`
(the switches in force and the components they enable) and each call uses the one it started with.
A change of the switches (``apply``) builds a new ``Fixes``, rebuilding only the components whose
switch section changed; a pooled session that is switched off or resized is closed once its calls
are done.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import aiohttp
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from yarl import URL

from crashlab.headers import REQUEST_DEADLINE_MS as DEADLINE_HEADER
from service.errors import ApiError
from service.logs import JsonLog
from service.metrics import GameMetrics, gauge_child
from service.profile import Profile
from service.resilience.backoff import RetryBudget, full_jitter_delay
from service.resilience.breaker import Breaker, CircuitOpen, State
from service.resilience.bulkhead import Bulkhead
from service.spans import LeanTracer
from service.tracing import inject_context

DEPENDENCY = "odds"
#: naive: no client timeout at all (aiohttp's default would be 5 minutes)
_NO_TIMEOUT = aiohttp.ClientTimeout(total=None)

#: an enum class's attribute goes through EnumType.__getattr__'s hook: read once
_CLIENT = SpanKind.CLIENT

#: the ``Fixes`` field each switch section builds
_COMPONENT = {
    "circuit_breaker": "breaker",
    "bulkhead": "bulkhead",
    "retry": "budget",
    "pooled_client": "pool",
}


#: the ClientTimeout of an attempt's cap (``deadline.attempt_ms``), made once per cap: most attempts
#: start with more of the deadline left than the cap
_CAP_TIMEOUTS: dict[float, aiohttp.ClientTimeout] = {}


def _attempt_timeout(remaining: float, cap: float) -> aiohttp.ClientTimeout:
    """``ClientTimeout(total=min(remaining, cap))``."""
    if remaining < cap:
        return aiohttp.ClientTimeout(total=remaining)
    timeout = _CAP_TIMEOUTS.get(cap)
    if timeout is None:
        timeout = _CAP_TIMEOUTS[cap] = aiohttp.ClientTimeout(total=cap)
    return timeout


class DependencyError(ApiError):
    """A dependency call failed for good (after retries); ``outcome`` of the last attempt."""

    def __init__(self, code: str, outcome: str, detail: str, *, retryable: bool) -> None:
        super().__init__(code, f"odds: {detail}")
        self.outcome = outcome
        self.retryable = retryable


class PoolExhausted(RuntimeError):
    """Too many open connections to the dependency (naive: a panic in background work)."""


class Pool:
    """One pooled ``ClientSession``; retired (switched off or resized) it closes once its calls end."""

    def __init__(self, limit: int, trace_configs: list[aiohttp.TraceConfig]) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0),
            trace_configs=trace_configs,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self.users = 0
        self.retired = False

    def open_connections(self) -> int:
        if self.session.closed:
            return 0
        connector: Any = self.session.connector
        try:
            idle = sum(len(conns) for conns in connector._conns.values())
            return len(connector._acquired) + idle
        except AttributeError:
            return 0

    def release(self) -> bool:
        """A call is done with the session; True: the pool is retired and idle, close its session."""
        self.users -= 1
        return self.retired and self.users == 0

    async def retire(self) -> None:
        self.retired = True
        if self.users == 0:
            await self.session.close()


@dataclass(frozen=True)
class Fixes:
    """The switches in force and the components they enable (None: switched off)."""

    profile: Profile
    breaker: Breaker | None = None
    bulkhead: Bulkhead | None = None
    budget: RetryBudget | None = None
    pool: Pool | None = None


class OddsClient:
    def __init__(
        self,
        base_url: str,
        profile: Profile,
        metrics: GameMetrics,
        log: JsonLog,
        tracer_provider: TracerProvider,
        trace_configs: list[aiohttp.TraceConfig],
        rng: random.Random,
        *,
        client_spans: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.metrics = metrics
        self.log = log
        self.trace_configs = trace_configs
        #: lean client spans unless the contrib instrumentation is on (``trace_configs``) or the
        #: benchmark leaves them out (``client_spans``)
        self.tracer = None
        if client_spans and not trace_configs:
            self.tracer = LeanTracer(tracer_provider, "crashlab.odds_client")
        url = URL(self.base_url)
        #: the client spans' peer attributes
        self._address = url.host or ""
        self._port = url.port or 80
        self.rng = rng
        self._per_call_open = 0
        self._leaked: list[aiohttp.ClientSession] = []
        #: pools switched off or resized whose calls have not all ended
        self._retired: set[Pool] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self.fixes = self._build(profile, None, pooled=False)
        # read at scrape time: open -> half-open happens by the clock, not by a call
        metrics.circuit_state.labels(DEPENDENCY).set_function(lambda: float(self.circuit_state))
        self._in_flight = gauge_child(metrics.dep_in_flight.labels(DEPENDENCY))
        self._requests_of = metrics.dep_requests_of
        self._duration_of = metrics.dep_duration_of
        metrics.open_connections.labels(DEPENDENCY).set_function(lambda: float(self.open_connections()))

    @property
    def profile(self) -> Profile:
        return self.fixes.profile

    def _build(self, profile: Profile, old: Fixes | None, *, pooled: bool = True) -> Fixes:
        """The components for ``profile``: kept from ``old`` when their switch section is unchanged."""

        def same(section: str) -> bool:
            return old is not None and getattr(old.profile, section) == getattr(profile, section)

        def keep_or(section: str, make: Any) -> Any:
            if same(section):
                return getattr(old, _COMPONENT[section])
            return make() if getattr(profile, section).enabled else None

        breaker: Breaker | None = keep_or(
            "circuit_breaker",
            lambda: Breaker(
                profile.circuit_breaker,
                on_state=lambda s: self.log.warning(
                    "circuit state", dependency=DEPENDENCY, circuit=s.name.lower()
                ),
            ),
        )
        bulkhead: Bulkhead | None = keep_or("bulkhead", lambda: Bulkhead(profile.bulkhead.max_concurrent))
        budget: RetryBudget | None = keep_or(
            "retry", lambda: RetryBudget(profile.retry.budget_ratio, profile.retry.budget_min_per_s)
        )
        pool: Pool | None = None
        if pooled:
            pool = keep_or("pooled_client", lambda: Pool(profile.pooled_client.limit, self.trace_configs))
        if old is not None and old.pool is not None and old.pool is not pool:
            self._retire(old.pool)
        return Fixes(profile, breaker, bulkhead, budget, pool)

    def _retire(self, pool: Pool) -> None:
        self._retired.add(pool)
        task = asyncio.get_running_loop().create_task(pool.retire())
        self._closers.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._closers.discard(t)
            if pool.session.closed:
                self._retired.discard(pool)

        task.add_done_callback(done)

    def apply(self, old: Profile, new: Profile) -> None:
        """The switches changed (on the loop): calls from now on use the new fixes."""
        del old
        self.fixes = self._build(new, self.fixes)

    async def start(self) -> None:
        self.fixes = self._build(self.profile, None)

    async def close(self) -> None:
        pools = {self.fixes.pool, *self._retired} - {None}
        for pool in pools:
            assert pool is not None
            await pool.session.close()
        self._retired.clear()
        if self._closers:
            await asyncio.wait(set(self._closers))
        leaked, self._leaked = self._leaked, []
        for session in leaked:
            await session.close()
        self._per_call_open = 0

    def open_connections(self) -> int:
        pools = [self.fixes.pool, *self._retired]
        pooled = sum(p.open_connections() for p in pools if p is not None)
        return pooled + self._per_call_open

    @property
    def circuit_state(self) -> State:
        breaker = self.fixes.breaker
        return breaker.state if breaker is not None else State.CLOSED

    async def call(
        self, operation: str, method: str, path: str, *, json: Any = None, deadline: float | None = None
    ) -> Any:
        """One logical call: attempts, retries and their pacing; returns the JSON answer. Each attempt
        uses the fixes in force when it starts, so a switch flipped during a long retry loop counts."""
        fixes = self.fixes
        profile = fixes.profile
        bound = profile.pooled_client.pool_exhausted_at
        if not profile.pooled_client.enabled and bound and self._per_call_open >= bound:
            raise PoolExhausted(f"odds connection pool exhausted: {self._per_call_open} open connections")
        if fixes.budget is not None:
            fixes.budget.deposit()
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(fixes, operation, method, path, json, deadline)
            except DependencyError as exc:
                if not exc.retryable:
                    raise
                fixes = self.fixes
                retry = fixes.profile.retry
                if fixes.budget is not None:
                    if attempt >= retry.max_attempts or not fixes.budget.withdraw():
                        raise
                    delay = full_jitter_delay(attempt, retry.base_ms / 1000, retry.cap_ms / 1000, self.rng)
                    if deadline is not None and loop.time() + delay >= deadline:
                        raise
                else:
                    if retry.naive_max_attempts and attempt >= retry.naive_max_attempts:
                        raise
                    delay = retry.naive_interval_ms / 1000
            self.metrics.dep_retries.labels(DEPENDENCY, operation).inc()
            await asyncio.sleep(delay)
            fixes = self.fixes

    async def _attempt(
        self, fixes: Fixes, operation: str, method: str, path: str, body: Any, deadline: float | None
    ) -> Any:
        breaker, bulkhead = fixes.breaker, fixes.bulkhead
        if breaker is not None:
            try:
                breaker.acquire()
            except CircuitOpen:
                self._requests_of[DEPENDENCY, operation, "rejected"].inc()
                raise DependencyError(
                    "TP_ODDS_CIRCUIT_OPEN", "rejected", "circuit open", retryable=False
                ) from None
        # a free slot is taken on the spot (no coroutine); a full bulkhead is waited on (or not)
        if bulkhead is not None and not (
            bulkhead.try_acquire() or await bulkhead.acquire(fixes.profile.bulkhead.max_wait_ms / 1000)
        ):
            if breaker is not None and breaker.state is State.HALF_OPEN:
                breaker.failure()
            self._requests_of[DEPENDENCY, operation, "rejected"].inc()
            raise DependencyError("TP_ODDS_BULKHEAD_FULL", "rejected", "bulkhead full", retryable=False)
        try:
            outcome, result, error = await self._send(fixes, operation, method, path, body, deadline)
        finally:
            if bulkhead is not None:
                bulkhead.release()
        self._requests_of[DEPENDENCY, operation, outcome].inc()
        if breaker is not None:
            if outcome == "ok":
                breaker.success()
            else:
                breaker.failure()
        if error is not None:
            raise error
        return result

    async def _send(
        self, fixes: Fixes, operation: str, method: str, path: str, body: Any, deadline: float | None
    ) -> tuple[str, Any, DependencyError | None]:
        """One HTTP exchange with its client span and metrics: (outcome, JSON answer, error)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        profile = fixes.profile
        headers: dict[str, str] = {}
        timeout = _NO_TIMEOUT
        if deadline is not None and profile.deadline.enabled:
            remaining = deadline - start
            if remaining <= 0:
                passed = DependencyError("TP_ODDS_TIMEOUT", "timeout", "deadline passed", retryable=False)
                return "timeout", None, passed
            headers[DEADLINE_HEADER] = str(int(remaining * 1000))
            timeout = _attempt_timeout(remaining, profile.deadline.attempt_ms / 1000)
        pool = fixes.pool
        if pool is not None:
            pool.users += 1
            session = pool.session
        else:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), trace_configs=self.trace_configs, timeout=timeout
            )
            self._per_call_open += 1
        url = self.base_url + path
        span = None
        if self.tracer is not None:
            attributes: dict[str, AttributeValue] = {
                "http.request.method": method,
                "url.full": url,
                "server.address": self._address,
                "server.port": self._port,
                "crashlab.operation": operation,
            }
            span = self.tracer.start_span(method, kind=_CLIENT, attributes=attributes)
            inject_context(span, headers)
        self._in_flight.inc()
        outcome, result, status = "error", None, 0
        error: DependencyError | None = None
        try:
            # the exchange, inline (not a coroutine of its own: one layer less on every resume)
            async with session.request(method, url, json=body, headers=headers, timeout=timeout) as r:
                code = r.status
                if code >= 400:
                    retryable = code >= 500 or code == 429
                    error = DependencyError(
                        "TP_ODDS_UNAVAILABLE", "error", f"HTTP {code}", retryable=retryable
                    )
                else:
                    try:
                        result = await r.json()
                    except (ValueError, aiohttp.ContentTypeError):
                        error = DependencyError("TP_ODDS_BAD_RESPONSE", "error", "not JSON", retryable=False)
            # an answer, read (the status counts only then: a call cut short has none)
            status = code
            if error is None:
                outcome = "ok"
        except TimeoutError:
            outcome = "timeout"
            error = DependencyError("TP_ODDS_TIMEOUT", "timeout", "timed out", retryable=True)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
            outcome = "reset"
            detail = f"connection reset ({type(exc).__name__})"
            error = DependencyError("TP_ODDS_UNAVAILABLE", "reset", detail, retryable=True)
        except aiohttp.ClientError as exc:
            detail = f"{type(exc).__name__}: {exc}"
            error = DependencyError("TP_ODDS_UNAVAILABLE", "error", detail, retryable=True)
        finally:
            if span is not None:
                if status:
                    span.set_attribute("http.response.status_code", status)
                if outcome != "ok":
                    span.set_status(Status(StatusCode.ERROR, outcome))
                span.end()
            self._in_flight.dec()
            self._duration_of[DEPENDENCY, operation].observe(loop.time() - start)
            if pool is not None:
                if pool.release():  # retired, and this was its last call
                    await pool.session.close()
                    self._retired.discard(pool)
            else:
                # naive: like not closing the body on an error status, the connection stays open
                if status >= 400 and profile.pooled_client.leak_on_error:
                    self._leaked.append(session)
                else:
                    self._per_call_open -= 1
                    await session.close()
        return outcome, result, error
