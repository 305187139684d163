"""Stack runtimes: ``local`` (stack.local: supervised processes + a real Prometheus) and ``docker``
(stack.docker: compose + the docker SDK). The drill runner and the CLI use these two functions.

- ``open_stack(config) -> Stack``: bring a stack up for ``config.runtime`` and wait until healthy.
- ``attach(runtime) -> Stack | None``: the running stack of that runtime, if any.

``stack.docker`` must offer ``up(config: StackConfig) -> Stack`` and ``attach() -> Stack | None``;
it is imported only when the docker runtime is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from stack.runtime import RuntimeName, Stack, StackConfig, StackError


def runtime_module(runtime: RuntimeName) -> ModuleType:
    """``stack.local`` or ``stack.docker``, imported on demand."""
    if runtime not in ("local", "docker"):
        raise StackError(f"stack: unknown runtime {runtime!r}; use local or docker")
    name = f"stack.{runtime}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise StackError(
                f"{runtime} runtime: {name} is not available in this installation; use --runtime local"
            ) from None
        raise StackError(f"{runtime} runtime: cannot import {name}: missing module {exc.name!r}") from None
    for attr in ("up", "attach"):
        if not callable(getattr(module, attr, None)):
            raise StackError(f"{runtime} runtime: {name} has no {attr}() yet; use --runtime local")
    return module


def open_stack(config: StackConfig) -> Stack:
    stack: Stack = runtime_module(config.runtime).up(config)
    return stack


def attach(runtime: RuntimeName = "local") -> Stack | None:
    stack: Stack | None = runtime_module(runtime).attach()
    return stack


__all__ = ["Stack", "StackConfig", "StackError", "attach", "open_stack", "runtime_module"]
