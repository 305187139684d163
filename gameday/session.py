"""How the game-day runner starts the consoles' process (GAMEDAY.md, "The console process"):

```
python -m gameday.console --run RUN_DIR --runtime R --team-port P --facilitator-port Q --listen ADDR
                          --prometheus URL
```

with the game day's secrets in the environment only (never on a command line): the secret that signs
member tokens, the facilitator's token, the join code and the pager's token. The runner makes them and
the two ports once per game day and gives the same ones to every (re)start, so a restarted console keeps
its URLs, its members' tokens and Alertmanager's pager webhook.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from crashlab.ports import free_port
from gameday.console.auth import Secrets, new_join_code
from gameday.console.serve import LOOPBACK

PAGER_PATH = "/hooks/alertmanager"


def _url(host: str, port: int) -> str:
    host = LOOPBACK if host in ("0.0.0.0", "::", "") else host
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@dataclass(frozen=True)
class ConsoleLaunch:
    """The consoles' addresses and secrets for one game day."""

    runtime: str
    #: the team console's address (``--listen``); the facilitator's is always loopback
    listen: str
    team_port: int
    facilitator_port: int
    secrets: Secrets

    @property
    def join_code(self) -> str:
        return self.secrets.join_code

    @property
    def facilitator_token(self) -> str:
        return self.secrets.facilitator_token

    @property
    def pager_token(self) -> str:
        return self.secrets.pager_token

    @classmethod
    def new(
        cls, runtime: str, listen: str = LOOPBACK, team_port: int = 0, facilitator_port: int = 0
    ) -> ConsoleLaunch:
        """Fresh secrets; free ports for the ones not given."""
        team = team_port or free_port()
        facilitator = facilitator_port or free_port()
        while facilitator == team:
            facilitator = free_port()
        return cls(
            runtime=runtime,
            listen=listen,
            team_port=team,
            facilitator_port=facilitator,
            secrets=Secrets(
                secret=secrets.token_urlsafe(32),
                facilitator_token=secrets.token_urlsafe(24),
                join_code=new_join_code(),
                pager_token=secrets.token_urlsafe(24),
            ),
        )

    @property
    def team_url(self) -> str:
        """The team console from this machine (loopback is served even with ``--listen``)."""
        return _url(LOOPBACK, self.team_port)

    @property
    def room_url(self) -> str:
        """The team console as the room opens it (``--listen``'s address)."""
        if self.listen in ("0.0.0.0", "::"):
            return f"http://<this machine's address>:{self.team_port}/"
        return _url(self.listen, self.team_port)

    @property
    def facilitator_url(self) -> str:
        return _url(LOOPBACK, self.facilitator_port)

    @property
    def facilitator_link(self) -> str:
        """The facilitator's browser URL: the token in the fragment (never sent to a server)."""
        return f"{self.facilitator_url}#token={self.facilitator_token}"

    @property
    def pager_url(self) -> str:
        """Alertmanager's webhook for pages (on loopback, whatever ``--listen`` is)."""
        return self.team_url.rstrip("/") + PAGER_PATH

    def argv(self, run_dir: Path, prometheus: str | None) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "gameday.console",
            "--run",
            str(run_dir),
            "--runtime",
            self.runtime,
            "--team-port",
            str(self.team_port),
            "--facilitator-port",
            str(self.facilitator_port),
            "--listen",
            self.listen,
        ]
        return [*argv, "--prometheus", prometheus] if prometheus else argv

    def env(self) -> dict[str, str]:
        """The secrets, for the console's environment."""
        return self.secrets.env()
