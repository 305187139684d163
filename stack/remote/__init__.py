"""The ``remote`` runtime: a stack running elsewhere (a Kubernetes cluster through port-forwards,
another machine through a tunnel), reached over HTTP only.

``up(config) -> RemoteStack`` starts nothing: it checks that each URL of ``config.urls`` answers as the
part it names and that the admin APIs take the token (``target.admin_token_file``, else
``$CRASHLAB_ADMIN_TOKEN``); ``RemoteStack.down()`` leaves the stack running. ``attach()`` finds
nothing (crashlab runs nothing of a remote stack); ``recover(run_dir)`` is the stack a drill used, for
the leftover cleanup. See docs/stack.md, "A stack running elsewhere".
"""

from stack.admintoken import admin_token
from stack.remote.connect import REQUIRED_PARTS, attach, recover, up
from stack.remote.running import RemoteStack

__all__ = ["REQUIRED_PARTS", "RemoteStack", "admin_token", "attach", "recover", "up"]
