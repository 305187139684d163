"""Shared pytest configuration. Area fixtures live in tests/helpers_<area>.py (import them from tests).

`make test` runs the suite on several pytest-xdist workers; tests/scheduling.py says how it shares the
files among them. Each worker keeps its state files (stacks, leases) in its own ``CRASHLAB_STATE_DIR``.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

#: set when this suite chose the state dir itself (so each xdist worker replaces it with its own)
_OWN_STATE = "CRASHLAB_TESTS_OWN_STATE_DIR"


def pytest_configure(config: pytest.Config) -> None:
    # a test that does not name a state dir never meets another worker's stack or lease, nor the
    # checkout's own .crashlab/
    if os.environ.get("CRASHLAB_STATE_DIR") and not os.environ.get(_OWN_STATE):
        return  # the caller's choice
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    state = tempfile.mkdtemp(prefix=f"crashlab-tests-{worker}-")
    os.environ["CRASHLAB_STATE_DIR"] = state
    os.environ[_OWN_STATE] = "1"
    config.add_cleanup(lambda: shutil.rmtree(state, ignore_errors=True))


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from tests.scheduling import SuiteScheduling

    return SuiteScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heavy files first, by their rank in tests.scheduling.HEAVY (the workers take units in
    collection order); the order inside a file is kept, so module fixtures are set up once without
    xdist too."""
    from tests.scheduling import HEAVY, file_of, heavy_rank, unit_of

    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(file_of(unit_of(item.nodeid)), index)

    def key(item: pytest.Item) -> tuple[int, int]:
        name = file_of(unit_of(item.nodeid))
        rank = heavy_rank(name)
        return (len(HEAVY) if rank is None else rank, first_seen[name])

    items.sort(key=key)
