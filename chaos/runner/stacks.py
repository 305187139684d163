"""The stack a drill runs against: the running one when it matches the scenario's target, else a new
one brought up into the drill's run directory (and taken down at the end unless ``--keep-up``).

A stack brought up by a drill records its target in its run's manifest (``stack_target``); a running
stack matches when that record equals this scenario's target. The runtime comes from
:mod:`stack.registry`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.runner.errors import DrillError
from chaos.scenario.model import Target
from crashlab.lease import Lease, LeaseBusy, Owner
from crashlab.rundir import RunDir
from stack import registry
from stack.runtime import RestartPolicy, Stack, StackConfig


def target_record(target: Target) -> dict[str, Any]:
    return target.model_dump(mode="json")


def stack_config(target: Target, run_dir: RunDir) -> StackConfig:
    policy = target.restart_policy
    return StackConfig(
        run_dir=run_dir,
        runtime=target.runtime,
        profile=target.profile,
        switches={str(k): v for k, v in target.switches.items()},
        memory_limits_mb={str(k): v for k, v in target.memory_limits_mb.items()},
        restart_policy=RestartPolicy(
            name=policy.name,
            max_retries=policy.max_retries,
            backoff_initial_s=policy.backoff,
            backoff_max_s=policy.backoff_max,
        ),
        seed=target.seed if target.seed is not None else 42,
        alert_windows="fast",
        urls=target.urls.model_dump(exclude_none=True) if target.urls is not None else {},
        admin_token_file=Path(target.admin_token_file) if target.admin_token_file is not None else None,
    )


@dataclass
class DrillStack:
    stack: Stack
    #: True when this drill brought the stack up (so it takes it down at the end)
    owned: bool


def lease_stack(runtime: str, owner: Owner) -> Lease:
    """The runtime's stack lease for this drill (until it ends); a :class:`DrillError` naming the drill
    that holds it (one line: the stack is busy)."""
    try:
        return Lease.acquire(registry.get(runtime).lease_path, owner, what=f"the {runtime} stack")
    except LeaseBusy as exc:
        holder = exc.holder
        stop = f", or stop it (kill -INT {holder.pid})" if holder is not None and holder.pid else ""
        raise DrillError(
            f"the {runtime} stack is busy: {holder or 'another process'} is using it; "
            f"wait for it to end{stop}"
        ) from None


def attach(target: Target) -> DrillStack | None:
    """The running stack of the target's runtime when it was brought up for this very target; None
    when none runs. A running stack for another target is an error (it is someone else's)."""
    running = registry.get(target.runtime).attach()
    if running is None:
        return None
    record = running.run_dir.read_manifest().get("stack_target")
    if record == target_record(target):
        return DrillStack(running, owned=False)
    raise DrillError(
        f"a {target.runtime} stack is already up (run {running.run_dir.path}) with "
        f"{'another target' if record else 'an unknown target (started by `crashlab up`)'}; "
        "this drill needs its own: run `crashlab down` first"
    )


def bring_up(
    target: Target, run_dir: RunDir, configure: Callable[[StackConfig], StackConfig] | None = None
) -> DrillStack:
    """A new stack of the target's runtime, in ``run_dir``, recorded as brought up for ``target``;
    ``configure`` adjusts its config first (a game day points Alertmanager's pager at its console)."""
    config = stack_config(target, run_dir)
    if configure is not None:
        config = configure(config)
    stack = registry.get(target.runtime).up(config)
    run_dir.update_manifest(stack_target=target_record(target))
    return DrillStack(stack, owned=True)


def bring_up_own(
    target: Target, run_dir: RunDir, configure: Callable[[StackConfig], StackConfig], why: str
) -> DrillStack:
    """A new stack like :func:`bring_up`, refusing to start while one of the runtime runs (``why``: what
    needs a stack of its own)."""
    running = registry.get(target.runtime).attach()
    if running is not None:
        raise DrillError(
            f"a {target.runtime} stack is already up (run {running.run_dir.path}); {why}: "
            "run `crashlab down` first"
        )
    return bring_up(target, run_dir, configure)


def acquire(target: Target, run_dir: RunDir) -> DrillStack:
    return attach(target) or bring_up(target, run_dir)
