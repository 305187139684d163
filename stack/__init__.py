"""Stack runtimes (:mod:`stack.registry`): ``local`` (stack.local: supervised processes + a real
Prometheus) and ``docker`` (stack.docker: compose + the docker SDK). The CLI uses these two functions.

- ``open_stack(config) -> Stack``: bring a stack up for ``config.runtime`` and wait until healthy.
- ``attach(runtime) -> Stack | None``: the running stack of that runtime, if any.
"""

from __future__ import annotations

from stack import registry
from stack.runtime import RuntimeName, Stack, StackConfig, StackError


def open_stack(config: StackConfig) -> Stack:
    return registry.get(config.runtime).up(config)


def attach(runtime: RuntimeName = "local") -> Stack | None:
    return registry.get(runtime).attach()


__all__ = ["Stack", "StackConfig", "StackError", "attach", "open_stack"]
