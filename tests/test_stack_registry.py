"""The runtime registry: every runtime declares exactly the capabilities its stacks implement, brings a
stack up and finds it again; faults need only capabilities some runtime has; ``crashlab validate``
refuses a fault whose target runtime lacks one (file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults import registry as catalogue
from stack import registry
from stack.capabilities import Capability, implemented_by
from stack.runtime import StackError
from tests.helpers_scenario import run_cli
from tests.helpers_stack import stack_config, stack_dirs

__all__ = ["stack_dirs"]


@pytest.mark.parametrize("runtime", registry.RUNTIMES, ids=registry.NAMES)
def test_every_runtime_declares_what_its_stacks_implement(runtime: registry.Runtime) -> None:
    driver = runtime.driver()
    assert implemented_by(driver.stack_class) == runtime.capabilities
    assert callable(driver.up) and callable(driver.attach)
    assert runtime.summary


def test_names_are_unique_and_unknown_ones_are_refused() -> None:
    assert len(set(registry.NAMES)) == len(registry.NAMES) and registry.NAMES[0] == "local"
    with pytest.raises(StackError, match=r"unknown runtime 'kubernetes'; use one of local, docker"):
        registry.get("kubernetes")


def test_every_capability_a_fault_needs_some_runtime_has() -> None:
    offered = {cap for rt in registry.RUNTIMES for cap in rt.capabilities}
    for name, fault in catalogue.CATALOGUE.items():
        assert fault.needs <= offered, name
    # what the drills of the library rely on
    assert catalogue.get("process.restart").needs == {Capability.RESTART}
    assert registry.get("local").has(Capability.RESTART)
    assert registry.with_capability(Capability.SIGNAL) == ("local",)


def test_the_local_runtime_comes_up_and_is_attached_through_the_registry(stack_dirs: Path) -> None:
    local = registry.get("local")
    stack = local.up(stack_config(stack_dirs, with_prometheus=False))
    try:
        assert isinstance(stack, local.driver().stack_class)
        for capability in local.capabilities:
            assert isinstance(stack, capability.protocol), capability
        attached = local.attach()
        assert attached is not None and attached.run_dir.path == stack.run_dir.path
        found = registry.attach_any()
        assert found is not None and found.runtime == "local"
    finally:
        stack.down()
    assert local.attach() is None


def test_validate_names_the_line_of_a_fault_the_runtime_cannot_run(tmp_path: Path) -> None:
    drill = tmp_path / "drill.yaml"
    drill.write_text(
        "name: restart-and-pause\n"
        "description: a restart is fine on docker, a SIGSTOP is not\n"
        "target: {runtime: docker}\n"
        "timeline:\n"
        "  - {name: restart, at: 1s, fault: {type: process.restart, service: game}}\n"
        "  - {name: pause, at: 2s, duration: 2s, fault: {type: process.pause, service: game}}\n",
        encoding="utf-8",
    )
    done = run_cli("validate", str(drill))
    assert done.returncode == 1
    assert done.stdout.strip().splitlines()[0] == (
        f"{drill}:6: timeline[1].fault.type: process.pause needs a runtime that can signal a part's "
        "process on this machine; target.runtime 'docker' cannot (runtimes that can: local)"
    ), done.stdout + done.stderr
    assert "process.restart" not in done.stdout  # the local supervisor and docker both restart parts
    local = drill.read_text(encoding="utf-8").replace("runtime: docker", "runtime: local")
    drill.write_text(local, encoding="utf-8")
    assert run_cli("validate", str(drill)).returncode == 0
