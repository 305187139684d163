"""The consoles on a real local stack: the team joins, acks, declares, writes its timeline and flips a
real switch (the game applies it) and undoes it; pages come from Alertmanager's webhook de-duplicated;
the event streams carry each audience what it may see (the team never a fault); the facilitator's
moves are journal records; a console restarted on the same journal has the same state; `--listen`
opens the team console only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from crashlab.journal import Journal
from crashlab.ports import free_port
from crashlab.waits import wait_until_async
from gameday.state import GameDayState
from tests.helpers_gameday import (
    FACILITATOR,
    PAGER,
    SECRETS,
    ConsoleProcess,
    PagedStack,
    Running,
    call,
    console_running,
    join,
    paged_stack,
    webhook_message,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagedStack]:
    with paged_stack(tmp_path_factory.mktemp("gameday-stack")) as paged:
        yield paged


@pytest.fixture
async def running(tmp_path: Path, stack: PagedStack) -> AsyncIterator[Running]:
    async with console_running(
        tmp_path, stack=stack.stack, prometheus_url=stack.stack.urls["prometheus"]
    ) as r:
        yield r


async def healthz_switches(session: aiohttp.ClientSession, stack: PagedStack) -> dict[str, bool]:
    async with session.get(stack.stack.urls["game"] + "/healthz") as response:
        body: dict[str, Any] = await response.json()
        switches: dict[str, bool] = body["switches"]
        return switches


class EventReader:
    """An event stream, read into (event, data) pairs as they come."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.events: list[tuple[str, Any]] = []
        self._buffer = ""

    async def until(self, wanted: str, timeout_s: float = 10.0) -> Any:
        """The data of the first ``wanted`` event not consumed yet."""
        async with asyncio.timeout(timeout_s):
            while True:
                for i, (event, data) in enumerate(self.events):
                    if event == wanted:
                        del self.events[: i + 1]
                        return data
                chunk = await self.response.content.readany()
                assert chunk, "the stream ended"
                self._buffer += chunk.decode()
                while "\r\n\r\n" in self._buffer:
                    block, self._buffer = self._buffer.split("\r\n\r\n", 1)
                    fields = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
                    if "event" in fields:
                        self.events.append((fields["event"], json.loads(fields.get("data", "null"))))


async def test_the_team_plays_through_the_api(running: Running, stack: PagedStack) -> None:
    async with aiohttp.ClientSession() as s:
        ana = await join(s, running, "ana", "incident_commander")
        bo = await join(s, running, "bo", "on_call")
        status, body = await call(
            s, "POST", running.team + "/hooks/alertmanager", webhook_message(), headers=PAGER
        )
        assert status == 200 and body["repeats"] == 0
        (page_id,) = body["pages"]
        status, view = await call(s, "GET", running.team + "/api/state", token=bo)
        (page,) = view["pages"]
        assert page["ringing"] and page["runbook_url"] == "/runbooks/ErrorBudgetBurnPage.md"
        assert page["graph_url"].startswith("http://127.0.0.1:9090/graph")
        async with s.get(running.team + page["runbook_url"]) as response:
            assert response.status == 200 and "ErrorBudgetBurnPage" in await response.text()
        assert view["me"] == {"name": "bo", "role": "on_call"}
        assert "faults" not in view and view["switches"]["circuit_breaker"] is False

        assert (await call(s, "POST", f"{running.team}/api/pages/{page_id}/ack", token=bo))[0] == 200
        assert (
            await call(s, "POST", running.team + "/api/declare", {"severity": "SEV2", "ic": "ana"}, token=ana)
        )[0] == 200
        status, hyp = await call(
            s, "POST", running.team + "/api/notes", {"kind": "hypothesis", "text": "odds is slow"}, token=bo
        )
        assert status == 201
        drop = {"kind": "drop", "text": "odds p99 is fine", "ref": hyp["note_id"]}
        assert (await call(s, "POST", running.team + "/api/notes", drop, token=ana))[0] == 201
        assert (await call(s, "POST", running.team + "/api/notes", drop, token=ana))[0] == 409

        # a real flip: the running game applies it (its /healthz), then the undo restores it
        status, done = await call(
            s,
            "POST",
            running.team + "/api/actions",
            {"action": "flag", "params": {"circuit_breaker": True}},
            token=ana,
        )
        assert status == 200 and done["result"] == "ok", done
        assert done["before"] == {"circuit_breaker": False} and done["after"] == {"circuit_breaker": True}
        await wait_until_async(
            lambda: _switch(s, stack, "circuit_breaker", True), 5, "the game reports the flip"
        )
        status, undone = await call(
            s, "POST", f"{running.team}/api/actions/{done['action_id']}/undo", token=bo
        )
        assert status == 200 and undone["result"] == "ok" and undone["undo_of"] == done["action_id"]
        await wait_until_async(
            lambda: _switch(s, stack, "circuit_breaker", False), 5, "the game reports the undo"
        )
        assert (await call(s, "POST", f"{running.team}/api/actions/{done['action_id']}/undo", token=bo))[
            0
        ] == 409

        assert (
            await call(s, "POST", running.team + "/api/resolve", {"summary": "breaker fixed it"}, token=ana)
        )[0] == 200

    state = GameDayState.from_journal(running.run.journal_path)
    assert state.pages[page_id].acked_by == "bo"
    assert state.incident is not None and (state.incident.ic, state.incident.summary) == (
        "ana",
        "breaker fixed it",
    )
    assert state.notes[hyp["note_id"]].dropped_at is not None
    flips = [a for a in state.actions.values() if a.action in ("flag", "undo")]
    assert [(a.actor, a.action, a.result) for a in flips] == [("ana", "flag", "ok"), ("bo", "undo", "ok")]
    assert state.actions[done["action_id"]].undone_by == undone["action_id"]
    # every record a person caused names its actor
    assert all(entry.get("actor") for entry in state.timeline if entry["event"] != "page")


async def _switch(s: aiohttp.ClientSession, stack: PagedStack, name: str, value: bool) -> bool:
    return (await healthz_switches(s, stack))[name] is value


async def test_pages_are_de_duplicated_by_fingerprint_and_start(running: Running) -> None:
    async with aiohttp.ClientSession() as s:
        hook = running.team + "/hooks/alertmanager"
        first = await call(s, "POST", hook, webhook_message(), headers=PAGER)
        repeat = await call(s, "POST", hook, webhook_message(), headers=PAGER)
        resolved = await call(s, "POST", hook, webhook_message(status="resolved"), headers=PAGER)
        resolved_again = await call(s, "POST", hook, webhook_message(status="resolved"), headers=PAGER)
        again = await call(s, "POST", hook, webhook_message(starts_at="2026-12-02T21:40:00Z"), headers=PAGER)
    assert [len(r[1]["pages"]) for r in (first, repeat, resolved, resolved_again, again)] == [1, 0, 1, 0, 1]
    pages = running.records("team", "page")
    assert [(p["status"], p["page_id"].split("-")[1]) for p in pages] == [
        ("firing", "20261202T213000.123Z"),
        ("resolved", "20261202T213000.123Z"),
        ("firing", "20261202T214000.000Z"),
    ]
    assert pages[0]["starts_at"] == "2026-12-02T21:30:00.123Z" and pages[0]["receiver"] == "pager"


async def test_streams_carry_each_audience_what_it_may_see(running: Running, stack: PagedStack) -> None:
    runner = Journal(running.run.journal_path, source="runner")
    async with aiohttp.ClientSession() as s:
        ana = await join(s, running, "ana")
        async with (
            s.get(running.team + "/api/events", params={"token": ana}) as team_response,
            s.get(
                running.facilitator + "/api/events", params={"token": SECRETS.facilitator_token}
            ) as fac_response,
        ):
            team, fac = EventReader(team_response), EventReader(fac_response)
            first = await team.until("state")
            assert "faults" not in first and [m["name"] for m in first["members"]] == ["ana"]
            assert "next" in (await fac.until("state"))["faults"]
            runner.write(
                "fault",
                "injected",
                fault="odds-stall",
                fault_type="dependency.stall",
                target="odds",
                params={"ms": 8000},
                handle={"id": "x"},
            )
            await call(s, "POST", running.team + "/hooks/alertmanager", webhook_message(), headers=PAGER)
            page = await team.until("team.page")
            assert page["alert"] == "ErrorBudgetBurnPage" and page["status"] == "firing"
            state = await team.until("state")
            assert state["pages"][0]["ringing"] and "faults" not in state
            fault = await fac.until("fault.injected")
            assert fault["fault"] == "odds-stall" and "handle" not in fault
            assert (await fac.until("state"))["faults"]["active"][0]["name"] == "odds-stall"
            assert (await fac.until("sli", timeout_s=15))["values"].keys() >= {
                "availability",
                "p99_ms",
                "burn_rate",
            }
            assert not any(event.startswith("fault.") for event, _ in team.events)
            # the facilitator reveals: the team's state shows the faults from then on
            assert (await call(s, "POST", running.facilitator + "/api/reveal", headers=FACILITATOR))[0] == 200
            await team.until("gameday.revealed")
            revealed = await team.until("state")
            assert revealed["faults"]["active"][0]["fault_type"] == "dependency.stall"


async def test_the_facilitators_moves_are_journal_records(running: Running) -> None:
    Journal(running.run.journal_path, source="gameday").write(
        "gameday", "started", max_duration_s=600.0, team_url=running.sites.team_url
    )
    async with aiohttp.ClientSession() as s:
        ana = await join(s, running, "ana")
        status, _ = await call(
            s, "POST", running.facilitator + "/api/hint", {"text": "look at <odds>"}, headers=FACILITATOR
        )
        assert status == 201
        status, extended = await call(
            s, "POST", running.facilitator + "/api/extend", {"by": "5m"}, headers=FACILITATOR
        )
        assert status == 200 and extended["max_duration_s"] == 900.0
        status, view = await call(s, "GET", running.facilitator + "/api/state", headers=FACILITATOR)
        assert view["gameday"]["max_duration_s"] == 900.0 and 850 < view["gameday"]["remaining_s"] <= 900
        assert view["hints"][0]["text"] == "look at <odds>"
        status, _ = await call(
            s, "POST", running.facilitator + "/api/end", {"reason": "they fixed it"}, headers=FACILITATOR
        )
        assert status == 202
        assert (await call(s, "POST", running.facilitator + "/api/end", {}, headers=FACILITATOR))[0] == 409
        # the runner ends it: from then on the team cannot act, the facilitator can still reveal
        Journal(running.run.journal_path, source="gameday").write("gameday", "ended", reason="facilitator")
        await wait_until_async(lambda: _ended(running), 5, "the console sees the end")
        status, body = await call(
            s, "POST", running.team + "/api/notes", {"kind": "note", "text": "late"}, token=ana
        )
        assert status == 409 and "ended" in body["error"]
        assert (await call(s, "POST", running.facilitator + "/api/reveal", headers=FACILITATOR))[0] == 200
    records = [(r["event"], r.get("actor")) for r in running.records("gameday")]
    assert records == [
        ("started", None),
        ("extended", "facilitator"),
        ("end_requested", "facilitator"),
        ("ended", None),
        ("revealed", "facilitator"),
    ]
    (hint,) = running.records("team", "hint")
    assert hint["actor"] == "facilitator"


async def _ended(running: Running) -> bool:
    return running.console.hub.state.lifecycle.ended


async def test_a_restarted_console_has_the_same_state_and_tokens(tmp_path: Path) -> None:
    async with console_running(tmp_path) as first, aiohttp.ClientSession() as s:
        ana = await join(s, first, "ana", "scribe")
        await call(s, "POST", first.team + "/hooks/alertmanager", webhook_message(), headers=PAGER)
        await call(
            s, "POST", first.team + "/api/notes", {"kind": "note", "text": "before the crash"}, token=ana
        )
        status, before = await call(s, "GET", first.team + "/api/state", token=ana)
        run = first.run
    async with console_running(tmp_path, run=run) as second, aiohttp.ClientSession() as s:
        status, after = await call(s, "GET", second.team + "/api/state", token=ana)
        assert status == 200  # the member's token still opens the console
        for key in ("members", "pages", "timeline", "incident", "done"):
            assert after[key] == before[key], key
        # and the page is still a page: a repeat delivery is still a repeat
        status, body = await call(
            s, "POST", second.team + "/hooks/alertmanager", webhook_message(), headers=PAGER
        )
        assert body == {"pages": [], "repeats": 1}


async def test_listen_opens_the_team_console_only(tmp_path: Path) -> None:
    port = free_port()
    async with (
        console_running(tmp_path, listen="127.0.0.2", team_port=port) as running,
        aiohttp.ClientSession() as s,
    ):
        assert running.sites.team_url == f"http://127.0.0.2:{port}/"
        assert running.sites.pager_url == f"http://127.0.0.2:{port}/hooks/alertmanager"
        async with s.get(f"http://127.0.0.2:{port}/healthz") as response:
            assert response.status == 200
        fac_port = running.sites.facilitator_port
        async with s.get(f"http://127.0.0.1:{fac_port}/healthz") as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientConnectionError):
            async with s.get(f"http://127.0.0.2:{fac_port}/healthz"):
                pass


def test_the_console_process_prints_no_secret_and_stops_on_sigterm(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    process = ConsoleProcess(run, tmp_path, "--no-stack", "--listen", "127.0.0.3")
    ready = process.start()
    try:
        assert set(ready) == {"event", "pid", "team_url", "facilitator_url", "pager_url"}
        assert ready["team_url"].startswith("http://127.0.0.3:") and ready["facilitator_url"].startswith(
            "http://127.0.0.1:"
        )
        assert ready["pager_url"] == ready["team_url"] + "hooks/alertmanager"  # a loopback address
        out = (tmp_path / "console-1.out").read_text()
        for secret in SECRETS.env().values():
            assert secret not in out and secret not in process.stderr
    finally:
        assert process.stop() == 0


def test_a_console_started_by_hand_makes_up_its_secrets_and_says_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    process = ConsoleProcess(run, tmp_path, "--no-stack", env={name: "" for name in SECRETS.env()})
    ready = process.start()
    try:
        wanted = f"facilitator: {ready['facilitator_url']}#token="
        err = process.stderr
        assert wanted in err and "join code" in err
    finally:
        process.stop()


def test_a_run_directory_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gameday.console", "--run", str(tmp_path / "nowhere"), "--no-stack"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == f"console: error: {tmp_path / 'nowhere'}: no such run directory"


def test_pager_token_config_passes_amtool(tmp_path: Path) -> None:
    import subprocess

    from stack.alertmanager import config as am_config

    path = am_config.write_config(tmp_path, "fast", "http://127.0.0.1:8099/hooks/alertmanager", "pager-token")
    done = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    assert "credentials: pager-token" in path.read_text()


@pytest.mark.parametrize(
    ("listen", "hosts", "pager"),
    [
        ("127.0.0.1", ["127.0.0.1"], "127.0.0.1"),
        ("127.0.0.2", ["127.0.0.2"], "127.0.0.2"),
        ("0.0.0.0", ["0.0.0.0"], "127.0.0.1"),
        ("192.0.2.10", ["192.0.2.10", "127.0.0.1"], "127.0.0.1"),
        ("::1", ["::1"], "::1"),
    ],
)
def test_a_room_address_also_serves_loopback_for_the_pager(listen: str, hosts: list[str], pager: str) -> None:
    from gameday.console.serve import pager_host, team_hosts

    assert team_hosts(listen) == hosts and pager_host(listen) == pager


async def test_crashes_come_from_the_stacks_journal_too(tmp_path: Path) -> None:
    """A game day on a stack it did not start: the supervisor journals the crashes in the stack's run."""
    stack_journal = tmp_path / "stack-run" / "journal.jsonl"
    supervisor = Journal(stack_journal, source="supervisor")
    supervisor.write("process", "exited", service="game", pid=41, reason="panic", exit_code=2)
    async with console_running(tmp_path, also=[stack_journal]) as running, aiohttp.ClientSession() as s:
        ana = await join(s, running, "ana")
        supervisor.write("process", "exited", service="game", pid=42, reason="oom", exit_code=137)
        supervisor.write("process", "exited", service="prometheus", pid=43, reason="crash", exit_code=1)

        async def two_crashes() -> list[Any] | None:
            _, view = await call(s, "GET", running.team + "/api/state", token=ana)
            return view["crashes"] if len(view["crashes"]) == 2 else None

        crashes = await wait_until_async(two_crashes, 5, "both game crashes")
        assert [(c["service"], c["reason"]) for c in crashes] == [("game", "panic"), ("game", "oom")]
        assert running.journal().count(b'"process"') == 0  # the console wrote none of them
