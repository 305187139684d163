"""How `make test` shares the suite among its pytest-xdist workers (tests/conftest.py installs it).

- A test file is one unit: its module fixtures (often a whole stack or a played game day) are set up
  once, on one worker.
- The Docker files are one unit: their stacks come up one after another on the one engine.
- In the files of :data:`SPREAD` each test is a unit of its own: they share no costly fixture.
- The drills that load the machine (:data:`HEAVY`, Locust plus a whole stack each) go first, longest
  files first, and at most ``CRASHLAB_TEST_HEAVY`` (default 3) of them run at once, so their crash
  dynamics are not starved of CPU on a small machine; the light files fill the other workers.

The controller sees test ids only (no markers), so the units are named here by file.
"""

from __future__ import annotations

import os

from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

#: files whose stacks share the one Docker engine: one unit
DOCKER = ("tests/test_docker_cli.py", "tests/test_docker_stack.py", "tests/test_five_crash_docker.py")

#: files whose tests share no costly fixture: one unit per test
SPREAD = ("tests/test_library_run.py", "tests/test_gameday_run.py", "tests/test_five_crash.py")

#: the files of drills under load, the longest first (a unit of these starts before any light one)
HEAVY = (
    "docker",
    "tests/test_gameday_run.py",
    "tests/test_five_crash.py",
    "tests/test_gameday_library.py",
    "tests/test_library_run.py",
    "tests/test_remote_drill.py",
)


def unit_of(nodeid: str) -> str:
    """The unit a test belongs to (see the module's docstring)."""
    path = nodeid.split("::", 1)[0]
    if path in DOCKER:
        return "docker"
    if path in SPREAD:
        return nodeid
    return path


def file_of(unit: str) -> str:
    return unit if unit == "docker" else unit.split("::", 1)[0]


def heavy_rank(unit: str) -> int | None:
    """Its place in :data:`HEAVY`, None for a light unit."""
    name = file_of(unit)
    return HEAVY.index(name) if name in HEAVY else None


class SuiteScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """LoadScope scheduling with the units above, heavy units first and at most N of them at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.max_heavy = max(1, int(os.environ.get("CRASHLAB_TEST_HEAVY", "3")))
        # the units in collection order: tests/conftest.py puts the heavy files first
        self.config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _heavy_units(self, node: WorkerController | None = None) -> int:
        """Heavy units assigned and not finished (on ``node``, or on any worker)."""
        works = [self.assigned_work.get(node, {})] if node is not None else self.assigned_work.values()
        return sum(
            1
            for work in works
            for unit, tests in work.items()
            if heavy_rank(unit) is not None and not all(tests.values())
        )

    def _assign_work_unit(self, node: WorkerController) -> None:
        # a worker holds one heavy unit at a time, so N heavy units run on N workers at once
        heavy_allowed = self._heavy_units() < self.max_heavy and self._heavy_units(node) == 0
        for unit in self.workqueue:
            if heavy_allowed or heavy_rank(unit) is None:
                break
        else:
            return  # only heavy units are left and enough run: this worker waits for its next turn
        work_unit = self.workqueue.pop(unit)
        self.assigned_work.setdefault(node, {})[unit] = work_unit
        collection = self.registered_collections[node]
        node.send_runtest_some(
            [collection.index(nodeid) for nodeid, completed in work_unit.items() if not completed]
        )
