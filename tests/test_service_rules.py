"""Property tests: the game rules and the pure parts of the resilience fixes."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from service.profile import CircuitBreaker
from service.resilience.backoff import RetryBudget, full_jitter_delay
from service.resilience.breaker import Breaker, CircuitOpen, State
from service.resilience.ratelimit import PlayerBuckets
from service.rules import CHOICES, computer_choice, decide

choices = st.sampled_from(CHOICES)
OPPOSITE = {"win": "lose", "lose": "win", "draw": "draw"}


@given(choices, choices)
def test_rules_are_antisymmetric(a: str, b: str) -> None:
    assert decide(a, b) == OPPOSITE[decide(b, a)]  # type: ignore[arg-type]
    assert (decide(a, b) == "draw") == (a == b)  # type: ignore[arg-type]


@given(choices)
def test_each_choice_beats_exactly_one(a: str) -> None:
    results = sorted(decide(a, b) for b in CHOICES)  # type: ignore[arg-type]
    assert results == ["draw", "lose", "win"]


def test_the_classic_table() -> None:
    assert decide("rock", "scissors") == "win"
    assert decide("scissors", "paper") == "win"
    assert decide("paper", "rock") == "win"
    assert decide("rock", "paper") == "lose"


@given(st.integers(min_value=0, max_value=2**32))
def test_the_computer_is_fair_and_replayable(seed: int) -> None:
    first = [computer_choice(random.Random(seed)) for _ in range(1)]
    rng_a, rng_b = random.Random(seed), random.Random(seed)
    seq_a = [computer_choice(rng_a) for _ in range(300)]
    assert seq_a == [computer_choice(rng_b) for _ in range(300)]
    assert seq_a[:1] == first
    assert all(60 <= seq_a.count(c) <= 140 for c in CHOICES)


@given(st.integers(1, 50), st.floats(0.001, 1), st.floats(0.001, 5), st.integers(0, 2**16))
def test_full_jitter_stays_under_the_cap(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = full_jitter_delay(attempt, base, cap, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2**attempt)


@given(st.integers(1, 500), st.floats(0.05, 1.0))
def test_retry_budget_bounds_retries_by_ratio(calls: int, ratio: float) -> None:
    now = [0.0]
    budget = RetryBudget(ratio, 0.0, clock=lambda: now[0])
    retries = 0
    for _ in range(calls):
        budget.deposit()
        while budget.withdraw():
            retries += 1
    assert retries <= ratio * calls + 5 + 1e-9  # plus the initial half-bucket


@given(st.lists(st.booleans(), max_size=60))
def test_breaker_never_lets_calls_through_while_open(outcomes: list[bool]) -> None:
    now = [0.0]
    breaker = Breaker(CircuitBreaker(enabled=True, failure_threshold=3, open_s=10), clock=lambda: now[0])
    for ok in outcomes:
        try:
            breaker.acquire()
        except CircuitOpen:
            assert breaker.state is State.OPEN
            continue
        breaker.success() if ok else breaker.failure()
        now[0] += 0.1
    if breaker.state is State.OPEN:
        now[0] += 10
        assert breaker.state is State.HALF_OPEN


@given(st.integers(1, 20), st.integers(1, 100))
def test_token_bucket_allows_the_burst_then_refuses(burst: int, extra: int) -> None:
    buckets = PlayerBuckets(1.0, burst, 10, clock=lambda: 0.0)
    allowed = [buckets.take("p") == 0 for _ in range(burst + extra)]
    assert allowed == [True] * burst + [False] * extra
