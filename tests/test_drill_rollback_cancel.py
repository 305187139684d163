"""A revert cancelled while it is under way (a drill window that ends at the very moment a step ends:
a game day's end, Ctrl-C) still reverts the fault and journals it, so nothing is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from chaos.runner import events as ev
from chaos.runner.events import EventBus
from chaos.runner.rollback import Rollback
from tests.helpers_drill import Services, admin_faults, services


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with services(tmp_path_factory.mktemp("svc")) as running:
        yield running


class Seen:
    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def on_event(self, event: ev.Event) -> None:
        self.events.append(event)


async def test_a_cancelled_revert_finishes_and_is_recorded(svc: Services) -> None:
    bus = EventBus()
    seen = Seen()
    bus.subscribe(seen)
    rollback = Rollback(svc.context(), bus)
    await rollback.inject("stall#6", "dependency.stall", {"ms": 2000}, 30.0)
    assert len(admin_faults(svc.urls["odds"], svc.token)) == 1
    reverting = asyncio.create_task(rollback.revert("stall#6"))
    await asyncio.sleep(0)  # the revert has started: the fault is no longer among the active ones
    reverting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reverting
    await rollback.revert_all()
    assert admin_faults(svc.urls["odds"], svc.token) == []
    assert [e.name for e in seen.events if isinstance(e, ev.FaultReverted)] == ["stall#6"]
