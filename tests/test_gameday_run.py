"""Real game days (``crashlab gameday`` subprocesses: their own local stack with Alertmanager, the
consoles, Locust, a scripted team playing through the console's HTTP API):

- the five-crash game day at its CI speed (its ``# ci:`` line): the page comes through Alertmanager, the
  team acks it and flips the circuit breaker two seconds after the second crash, and the crashes stop;
- Ctrl-C mid-game reverts every fault and restores the switches and the memory limit;
- a console killed mid-game is started again and the game (and the team) goes on;
- the facilitator extends and ends the game from the facilitator console; the end condition ends it early.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crashlab.journal import JournalEvent, read_journal
from crashlab.waits import wait_until
from reports.writer import report_run
from service import flagfile

ROOT = Path(__file__).resolve().parents[1]
CRASHLAB = str(ROOT / ".venv" / "bin" / "crashlab")
GAMEDAY = ROOT / "scenarios" / "gameday" / "five-crash.yaml"
SHORT = ROOT / "tests" / "data" / "gameday" / "short.yaml"
SHORT_TEAM = ROOT / "tests" / "data" / "gameday" / "team-short.yaml"
RECOVERS = ROOT / "tests" / "data" / "gameday" / "short-recovers.yaml"
FACILITATOR_LINE = re.compile(r"facilitator console: (?P<url>http://127\.0\.0\.1:\d+/)#token=(?P<token>\S+)")
#: a fingerprint (16 hex) and the alert's startsAt: the page id the console makes of Alertmanager's webhook
PAGE_ID = re.compile(r"^[0-9a-f]{16}-\d{8}T\d{6}")

pytestmark = pytest.mark.slow


class Game:
    """One ``crashlab gameday`` process with its own state and runs folders."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.out = root / "gameday.out"
        env = {
            **os.environ,
            "CRASHLAB_STATE_DIR": str(root / "state"),
            "CRASHLAB_RUNS_DIR": str(root / "runs"),
        }
        with self.out.open("w") as out:
            self.proc = subprocess.Popen(
                [CRASHLAB, "gameday", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )

    @property
    def run(self) -> Path:
        runs = [p for p in (self.root / "runs").glob("*") if p.is_dir() and not p.is_symlink()]
        assert len(runs) == 1, runs
        return runs[0]

    def events(self, type_: str | None = None, event: str | None = None, **match: Any) -> list[JournalEvent]:
        runs = list((self.root / "runs").glob("*/journal.jsonl"))
        found = [e for path in runs for e in read_journal(path)]
        return [
            e
            for e in found
            if (type_ is None or e.type == type_)
            and (event is None or e.event == event)
            and all(e.get(k) == v for k, v in match.items())
        ]

    def wait(self, predicate: Any, timeout_s: float, what: str) -> None:
        def check() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"crashlab gameday exited ({self.proc.returncode}) before {what}:\n{self.output()}"
                )
            return bool(predicate())

        wait_until(check, timeout_s, what)

    def output(self) -> str:
        return self.out.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


@pytest.fixture
def games() -> Iterator[list[Game]]:
    started: list[Game] = []
    yield started
    for game in started:
        game.stop()


def ci_args() -> list[str]:
    """The ``# ci:`` line of the five-crash game day, without its ``crashlab gameday``."""
    match = re.search(r"^# ci: crashlab gameday (.+)$", GAMEDAY.read_text(encoding="utf-8"), re.M)
    assert match, "scenarios/gameday/five-crash.yaml has no '# ci: crashlab gameday' line"
    return shlex.split(match[1])


def crashes(game: Game) -> list[datetime]:
    return sorted(
        e.ts
        for e in game.events("process", "exited", service="game")
        if e.get("reason") not in ("clean", None)
    )


def injected_all_reverted(game: Game) -> None:
    injected = {e.get("fault") for e in game.events("fault", "injected")}
    closed = {e.get("fault") for e in game.events("fault") if e.event in ("reverted", "expired")}
    assert injected and injected <= closed, injected - closed


def test_the_team_flips_the_breaker_after_the_second_crash_and_the_crashes_stop(
    tmp_path: Path, games: list[Game]
) -> None:
    args = ci_args()
    speed = float(args[args.index("--speed") + 1])
    game = Game(tmp_path, *args)
    games.append(game)
    assert game.proc.wait(timeout=420) == 0, game.output()
    run = game.run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["team"] == "scripted" and manifest["gameday"]["speed"] == speed
    ended = game.events("gameday", "ended")[0]
    assert ended.get("reason") == "max_duration"
    # its max_duration (2.5 min at the CI speed) had room for six episodes (at 10 s, then every 25 s)
    episodes = {e.get("fault") for e in game.events("fault", "injected") if "stall" in str(e.get("fault"))}
    assert episodes == {f"handshake-timeout#{n}/stall" for n in range(1, 7)}

    # the page came through Alertmanager to the console's pager
    pages = game.events("team", "page")
    assert pages, game.output()
    first = pages[0]
    assert first.get("receiver") == "pager" and first.get("status") == "firing"
    assert PAGE_ID.match(first.get("page_id")), first.get("page_id")
    assert first.get("group_key") and first.get("labels", {}).get("severity") == "page"
    assert game.events("alert", "firing", alert=first.get("alert")), "Prometheus' alert behind the page"

    # the ack and the flip, with their actors
    acks = game.events("team", "ack")
    assert [(a.get("actor"), a.get("page_id")) for a in acks][:1] == [("bo", first.get("page_id"))]
    flips = game.events("team", "action", action="flag", result="ok")
    assert len(flips) == 1
    flip = flips[0]
    assert flip.get("actor") == "ana"
    assert flip.get("params") == {"circuit_breaker": True}
    assert flip.get("before") == {"circuit_breaker": False} and flip.get("after") == {"circuit_breaker": True}

    # two seconds after the second crash; none later than 15 s after the flip; fewer than five
    crashed = crashes(game)
    assert len(crashed) >= 2, game.output()
    delay = (flip.ts - crashed[1]).total_seconds()
    assert 2.0 <= delay <= 4.0, delay
    late = [t for t in crashed if t > flip.ts + timedelta(seconds=15)]
    assert late == [], f"crashes after the flip: {late}"
    assert len(crashed) < 5, crashed

    # the episodes kept coming after the flip (the breaker, not the end of the faults, stopped the crashes)
    after = [e for e in game.events("fault", "injected") if e.ts > flip.ts and "stall" in str(e.get("fault"))]
    assert len(after) >= 3
    injected_all_reverted(game)
    # the switch the team flipped is restored at the end
    assert flagfile.switches(run / "flags" / "flags.json")["circuit_breaker"] is False
    assert game.events("gameday", "restored")

    # the post-mortem's figures match the script: the ack 5 s after the page, the flip that stopped the
    # crashes judged `helped` from the episodes before and after it
    report_run(run)
    team = json.loads((run / "report" / "summary.json").read_text())["team"]
    assert team["tta_s"] == pytest.approx(5.0, abs=2.0)
    judged = [a for a in team["actions"] if a["params"] == {"circuit_breaker": True}]
    assert [(a["actor"], a["effect"]) for a in judged] == [("ana", "helped")], judged
    assert judged[0]["before"]["crashes"] >= 2 and judged[0]["after"]["crashes"] == 0
    assert team["mitigation"] == judged[0]["at"]


def test_ctrl_c_mid_game_reverts_the_faults_and_restores_switches_and_limits(
    tmp_path: Path, games: list[Game]
) -> None:
    game = Game(tmp_path, str(SHORT), "--team", str(SHORT_TEAM), "--quiet")
    games.append(game)
    game.wait(lambda: len(game.events("team", "action", result="ok")) == 2, 120, "the team's two actions")
    game.wait(
        lambda: len(game.events("fault", "injected")) > len(game.events("fault", "reverted")),
        30,
        "a fault injected and not yet reverted",
    )
    run = game.run
    assert flagfile.switches(run / "flags" / "flags.json")["retry"] is True
    game.proc.send_signal(signal.SIGINT)
    assert game.proc.wait(timeout=90) == 2, game.output()
    ended = game.events("gameday", "ended")
    assert [e.get("reason") for e in ended] == ["interrupted"]
    injected_all_reverted(game)
    assert flagfile.switches(run / "flags" / "flags.json")["retry"] is False
    restored = game.events("gameday", "restored")[0].get("restored")
    assert any("flag file" in line for line in restored), restored
    assert any("game memory limit restored to 400 MB" in line for line in restored), restored
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "aborted" and manifest["reason"] == "interrupted by SIGINT"
    assert not (tmp_path / "state" / "stack.json").exists()


def test_a_console_killed_mid_game_is_started_again_and_the_game_goes_on(
    tmp_path: Path, games: list[Game]
) -> None:
    game = Game(tmp_path, str(SHORT), "--team", str(SHORT_TEAM), "--quiet")
    games.append(game)
    game.wait(lambda: len(game.events("team", "action", result="ok")) == 2, 120, "the team's two actions")
    first = game.events("gameday", "console_up")[0]
    os.kill(first.get("pid"), signal.SIGKILL)
    game.wait(lambda: game.events("gameday", "console_down"), 20, "the console's exit to be noticed")
    game.wait(lambda: len(game.events("gameday", "console_up")) == 2, 60, "a new console")
    down = game.events("gameday", "console_down")[0]
    again = game.events("gameday", "console_up")[1]
    assert down.get("pid") == first.get("pid") and down.get("exit_code") == -signal.SIGKILL
    assert again.get("pid") != first.get("pid")
    assert game.proc.wait(timeout=120) == 0, game.output()
    # the game went on: faults kept coming, the team's late note went through the new console
    assert [e for e in game.events("fault", "injected") if e.ts > down.ts]
    notes = game.events("team", "note", actor="cy")
    assert notes and notes[0].ts > again.ts
    assert [e.get("reason") for e in game.events("gameday", "ended")] == ["max_duration"]
    injected_all_reverted(game)
    assert flagfile.switches(game.run / "flags" / "flags.json")["retry"] is False


def facilitator(game: Game) -> tuple[str, str]:
    """The facilitator console's URL and token, as the runner printed them in its terminal."""
    game.wait(lambda: FACILITATOR_LINE.search(game.out.read_text(errors="replace")), 120, "the consoles")
    match = FACILITATOR_LINE.search(game.out.read_text(errors="replace"))
    assert match
    return match["url"], match["token"]


def get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def post(url: str, token: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def test_the_facilitator_extends_and_ends_the_game_and_its_token_is_printed_only_in_the_terminal(
    tmp_path: Path, games: list[Game]
) -> None:
    game = Game(tmp_path, str(SHORT), "--team", str(SHORT_TEAM), "--quiet")
    games.append(game)
    url, token = facilitator(game)
    game.wait(
        lambda: get(url + "api/state", token)["gameday"]["started_at"], 60, "the console to see the start"
    )
    post(url + "api/extend", token, {"by": "1m"})
    game.wait(lambda: game.events("gameday", "extended"), 10, "the extension")
    started = game.events("gameday", "started")[0]
    # past the first max_duration (45 s): the extension holds the game open
    game.wait(
        lambda: (datetime.now(started.ts.tzinfo) - started.ts).total_seconds() > 55,
        90,
        "the first end to pass",
    )
    assert not game.events("gameday", "ended")
    post(url + "api/end", token, {"reason": "we have seen enough"})
    assert game.proc.wait(timeout=90) == 0, game.output()
    assert [e.get("reason") for e in game.events("gameday", "ended")] == ["facilitator"]
    injected_all_reverted(game)
    # the token is in the facilitator's terminal only: not in the run's journal, manifest or console log
    run = game.run
    for path in [run / "journal.jsonl", run / "manifest.json", run / "logs" / "console.log"]:
        assert token not in path.read_text(errors="replace"), path


def test_the_end_condition_ends_the_game_once_recovered_after_the_last_mitigation(
    tmp_path: Path, games: list[Game]
) -> None:
    game = Game(tmp_path, str(RECOVERS), "--team", str(SHORT_TEAM), "--quiet")
    games.append(game)
    assert game.proc.wait(timeout=240) == 0, game.output()
    ended = game.events("gameday", "ended")
    assert [e.get("reason") for e in ended] == ["end_condition"], game.output()
    last = max(e.ts for e in game.events("team", "action", result="ok"))
    waited = (ended[0].ts - last).total_seconds()
    assert 10 <= waited <= 30, waited
    started = game.events("gameday", "started")[0]
    assert (ended[0].ts - started.ts).total_seconds() < 100  # well before its 2 min max_duration
