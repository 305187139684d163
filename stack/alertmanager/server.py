"""The Alertmanager server process: where its binary is and the command line a stack runs it with.

The local stack runs Debian's ``prometheus-alertmanager`` as a supervised part (stack/local/launch.py):
config and data in ``runs/<id>/alertmanager/`` (``alertmanager.yml``; ``data/``: silences and the
notification log), a loopback port, gossip off (``--cluster.listen-address=``) and that loopback URL
as its external URL, so the links in its notifications (``externalURL``) open from this machine.
"""

from __future__ import annotations

from pathlib import Path

from crashlab import binaries
from stack.runtime import StackError


def alertmanager_binary() -> str:
    """The Alertmanager server (:func:`crashlab.binaries.find`: ``$CRASHLAB_ALERTMANAGER_BIN``, else
    ``prometheus-alertmanager`` or ``alertmanager`` on ``PATH``)."""
    try:
        return binaries.find(
            "alertmanager", hint="or start the stack without it (`crashlab up --no-alertmanager`)"
        )
    except binaries.MissingBinary as exc:
        raise StackError(str(exc)) from None


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
