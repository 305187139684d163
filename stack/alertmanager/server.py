"""The Alertmanager server process: where its binary is and the command line a stack runs it with.

The local stack runs Debian's ``prometheus-alertmanager`` as a supervised part (stack/local/launch.py):
config and data in ``runs/<id>/alertmanager/`` (``alertmanager.yml``; ``data/``: silences and the
notification log), a loopback port, gossip off (``--cluster.listen-address=``) and that loopback URL
as its external URL, so the links in its notifications (``externalURL``) open from this machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stack.runtime import StackError

#: executable names: Debian's package calls it prometheus-alertmanager, upstream and Homebrew alertmanager
NAMES = ("prometheus-alertmanager", "alertmanager")
ENV = "CRASHLAB_ALERTMANAGER_BIN"
INSTALL_HINT = (
    "install Debian's prometheus-alertmanager (`make setup`, or `apt-get install prometheus-alertmanager`, "
    f"or `brew install alertmanager`), point {ENV} at it, or start the stack without it "
    "(`crashlab up --no-alertmanager`)"
)


def alertmanager_binary() -> str:
    """The Alertmanager server: ``$CRASHLAB_ALERTMANAGER_BIN`` or one of :data:`NAMES` on ``PATH``."""
    explicit = os.environ.get(ENV)
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise StackError(f"alertmanager: {ENV}={explicit} is not an executable file; {INSTALL_HINT}")
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise StackError(f"alertmanager: neither {' nor '.join(NAMES)} is on PATH; {INSTALL_HINT}")


def alertmanager_argv(binary: str, *, config: Path, data: Path, listen: str, url: str) -> list[str]:
    """Serve ``config`` on ``listen`` (``host:port``), data in ``data``, links built on ``url``."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address={listen}",
        f"--web.external-url={url}",
        # an empty address turns the HA gossip off (no extra port, no peers to wait for)
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
