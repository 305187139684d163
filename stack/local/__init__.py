"""The ``local`` runtime: odds, game and a real Prometheus as supervised local processes.

``up(config) -> LocalStack`` starts one (and waits until it is healthy); ``attach() -> LocalStack |
None`` finds the running one from the state file; ``LocalStack.down()`` stops it. See docs/stack.md.
"""

from stack.local.launch import prometheus_binary, up
from stack.local.running import LocalStack, attach

__all__ = ["LocalStack", "attach", "prometheus_binary", "up"]
