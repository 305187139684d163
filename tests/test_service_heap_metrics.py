"""The serving process's collector settings, and the metrics' pre-bound children and off switch."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from service.heap import GC_THRESHOLD0, settle_heap
from service.metrics import GameMetrics, gauge_child


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_freezes_start_up_and_raises_threshold0() -> None:
    settle_heap()
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold()[0] == GC_THRESHOLD0


def test_children_are_the_labelled_children() -> None:
    metrics = GameMetrics()
    child = metrics.requests_of["/play", "POST", "200", ""]
    assert child is metrics.requests_of["/play", "POST", "200", ""]
    child.inc()
    metrics.duration_of["/play", "POST"].observe(0.02, exemplar={"trace_id": "ab" * 16})
    text = generate_latest(metrics.registry).decode()
    assert 'rps_http_requests_total{code="",method="POST",route="/play",status="200"} 1.0' in text


def test_in_flight_child_is_what_the_gauge_shows() -> None:
    metrics = GameMetrics()
    dep = gauge_child(metrics.dep_in_flight.labels("odds"))
    server = gauge_child(metrics.in_flight)
    for _ in range(3):
        dep.inc()
        server.inc()
    dep.dec()
    text = generate_latest(metrics.registry).decode()
    assert 'rps_dependency_in_flight{dependency="odds"} 2.0' in text
    assert "rps_http_requests_in_flight 3.0" in text


def test_metrics_off_record_nothing() -> None:
    metrics = GameMetrics(enabled=False)
    metrics.requests_of["/play", "POST", "200", ""].inc()
    metrics.dep_duration_of["odds", "get_odds"].observe(0.1)
    metrics.in_flight.inc()
    text = generate_latest(metrics.registry).decode()
    assert "rps_http_requests_total" not in text and "process_" in text
