"""Shared pytest configuration. Area fixtures live in tests/helpers_<area>.py (import them from tests).

`make test` runs the suite on several pytest-xdist workers with ``--dist loadgroup``: each test file is
one group (its module fixtures, often a whole stack or a drill, are set up once, on one worker), and
files that must not run beside each other name a shared group (``pytestmark =
pytest.mark.xdist_group(...)``, ): they run one after another on
one worker. Each worker keeps its state files (stacks, leases) in its own ``CRASHLAB_STATE_DIR``.
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


def _group(item: pytest.Item) -> str:
    if item.get_closest_marker("docker") is not None:
        return "docker"  # one engine: the Docker stacks come up one after another
    if item.get_closest_marker("spread") is not None:
        return item.nodeid  # no shared fixture: each test on whichever worker is free
    return item.nodeid.split("::", 1)[0]  # the file: its module fixtures are set up once


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test file is one xdist group (see the module's docstring), and the groups with long tests
    (``slow``, ``docker``) go first so that no worker starts a long drill at the end of the run. The
    order inside a group is kept, so module fixtures are set up once without xdist too."""
    group_of: dict[str, str] = {}
    first_seen: dict[str, int] = {}
    long_groups: set[str] = set()
    for index, item in enumerate(items):
        marker = item.get_closest_marker("xdist_group")
        if marker is not None and marker.args:
            group = str(marker.args[0])
        else:
            group = _group(item)
            item.add_marker(pytest.mark.xdist_group(group))
        group_of[item.nodeid] = group
        first_seen.setdefault(group, index)
        if item.get_closest_marker("slow") is not None or item.get_closest_marker("docker") is not None:
            long_groups.add(group)
    items.sort(key=lambda it: (group_of[it.nodeid] not in long_groups, first_seen[group_of[it.nodeid]]))
