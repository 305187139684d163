"""The team console in a real browser (Debian's chromium + chromedriver, driven by selenium) on a real
local stack: a member joins, a page fired into the stack's Alertmanager rings (webhook -> journal ->
event stream -> DOM), the member acks it, writes a note with markup in it (shown as text), and flips a
switch that the running game applies. The console process is killed and started again: the page, still
open, reconnects and shows the same game day, rebuilt from the journal. The facilitator's page takes its
token from the URL's fragment, drops it from the address bar and shows the faults."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from crashlab.journal import Journal, read_journal
from crashlab.ports import free_port
from tests.helpers_gameday import SECRETS, ConsoleProcess, paged_stack, post_alert, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MARKUP = '<img src=x onerror="window.pwned=1"><b>odds</b> & co'
PAGE_LABELS = {"alertname": "ErrorBudgetBurnPage", "severity": "page", "slo": "player-availability"}
PAGE_ANNOTATIONS = {
    "summary": "the players' error budget burns",
    "runbook_url": "file:///crashlab/docs/runbooks/ErrorBudgetBurnPage.md",
    "graph_url": "http://127.0.0.1:9090/graph?g0.expr=up",
}


def browser(profile: Path) -> WebDriver:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[WebDriver]:
    d = browser(tmp_path / "chromium-profile")
    try:
        yield d
    finally:
        d.quit()


def game_switches(game_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(game_url + "/healthz", timeout=5) as resp:
        switches: dict[str, Any] = json.loads(resp.read())["switches"]
        return switches


def text_of(d: WebDriver, css: str) -> str:
    found = d.find_elements(By.CSS_SELECTOR, css)
    return " ".join(e.text for e in found)


def test_a_member_joins_acks_a_real_page_and_flips_a_real_switch(driver: WebDriver, tmp_path: Path) -> None:
    with paged_stack(tmp_path) as paged:
        stack = paged.stack
        env = {"CRASHLAB_STATE_DIR": str(paged.state_dir)}
        # fixed ports, as the runner passes them: a restarted console is where the browsers look for it
        ports = ["--team-port", str(paged.team_port), "--facilitator-port", str(free_port())]
        console = ConsoleProcess(stack.run_dir.path, tmp_path, "--runtime", "local", *ports, env=env)
        ready = console.start()
        try:
            team_url = ready["team_url"]
            d = driver
            d.get(team_url)
            wait_for(lambda: d.find_element(By.ID, "join").is_displayed(), 15, "the join form")
            form = d.find_element(By.ID, "join-form")
            form.find_element(By.NAME, "name").send_keys("ana")
            Select(form.find_element(By.NAME, "role")).select_by_value("incident_commander")
            form.find_element(By.NAME, "code").send_keys(SECRETS.join_code.lower())  # case does not matter
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(lambda: d.find_element(By.ID, "console").is_displayed(), 15, "the console after joining")
            wait_for(lambda: text_of(d, "#link") == "live", 15, "the event stream")
            assert "ana" in text_of(d, "#who")

            # a page through the real pipeline: Alertmanager routes it to the pager webhook
            fired = time.monotonic()
            post_alert(stack.alertmanager_url(), PAGE_LABELS, PAGE_ANNOTATIONS)
            wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#pages .page.ring"), 30, "the page ringing")
            rang = time.monotonic() - fired
            assert d.find_element(By.ID, "ringer").is_displayed()
            assert "ringing" in (d.find_element(By.TAG_NAME, "body").get_attribute("class") or "")
            assert "ErrorBudgetBurnPage" in text_of(d, "#ringer-text")
            # audibly too: joining was a click, so the browser lets the pager beep (every 2 s until acked)
            body = d.find_element(By.TAG_NAME, "body")
            wait_for(lambda: int(body.get_attribute("data-beeps") or 0) >= 2, 10, "the pager beeping")
            assert body.get_attribute("data-sound") == "running"
            runbook = d.find_element(By.CSS_SELECTOR, "#pages .links a")
            assert (runbook.get_attribute("href") or "").endswith("/runbooks/ErrorBudgetBurnPage.md")
            (page,) = [
                e for e in read_journal(stack.run_dir.journal_path) if e.type == "team" and e.event == "page"
            ]
            assert page.get("receiver") == "pager" and page.get("labels")["slo"] == "player-availability"

            clicked = time.monotonic()
            d.find_element(By.CSS_SELECTOR, "#pages button.ack").click()
            wait_for(lambda: "acked by ana" in text_of(d, "#pages"), 15, "the ack shown")
            acked = time.monotonic() - clicked
            assert not d.find_element(By.ID, "ringer").is_displayed()

            # markup typed into a note is text on the page
            note = d.find_element(By.ID, "note-form")
            Select(note.find_element(By.NAME, "kind")).select_by_value("hypothesis")
            note.find_element(By.NAME, "text").send_keys(MARKUP)
            note.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for(lambda: MARKUP in text_of(d, "#timeline"), 15, "the note on the timeline")
            assert d.find_elements(By.CSS_SELECTOR, "#timeline img, #timeline b, #hypotheses img") == []
            assert d.execute_script("return window.pwned === undefined")
            assert MARKUP not in d.page_source  # in the DOM as escaped text only
            assert "&lt;img src=x" in d.page_source

            # a real flip: the running game reports the switch on /healthz
            assert game_switches(stack.urls["game"])["circuit_breaker"] is False
            d.find_element(By.CSS_SELECTOR, '#switches button.flip[data-switch="circuit_breaker"]').click()
            wait_for(
                lambda: game_switches(stack.urls["game"])["circuit_breaker"] is True,
                10,
                "the game applies it",
            )
            wait_for(
                lambda: d.find_elements(
                    By.CSS_SELECTOR, '#switches .switch.on[data-switch="circuit_breaker"]'
                ),
                10,
                "the switch shown on",
            )
            flips = [
                e
                for e in read_journal(stack.run_dir.journal_path)
                if e.type == "team" and e.event == "action"
            ]
            assert [(e.get("actor"), e.get("action"), e.get("params"), e.get("result")) for e in flips] == [
                ("ana", "flag", {"circuit_breaker": True}, "ok")
            ]

            # the console crashes and comes back: the open page reconnects to the same game day
            console.kill()
            wait_for(lambda: text_of(d, "#link") == "reconnecting", 15, "the page notices")
            assert console.start() == {**ready, "pid": console.ready["pid"]}
            wait_for(lambda: text_of(d, "#link") == "live", 30, "the page reconnected")
            Journal(stack.run_dir.journal_path, source="gameday").write(
                "team", "hint", actor="facilitator", text="after"
            )
            wait_for(
                lambda: "hint from the facilitator: after" in text_of(d, "#timeline"),
                15,
                "news after the restart",
            )
            assert "acked by ana" in text_of(d, "#pages") and MARKUP in text_of(d, "#timeline")
            assert d.find_element(By.ID, "console").is_displayed()  # the member's token still opens it
            # nothing failed but what the kill cut (the stream) or what needed the console while it was down
            killed = ("ERR_CONNECTION_REFUSED", "ERR_INCOMPLETE_CHUNKED_ENCODING")
            errors = [
                e
                for e in d.get_log("browser")
                if e["level"] == "SEVERE" and not any(k in e["message"] for k in killed)
            ]
            assert errors == [], errors

            # the facilitator's page: the token from the fragment, then gone from the address bar
            Journal(stack.run_dir.journal_path, source="runner").write(
                "fault",
                "injected",
                fault="odds-stall",
                fault_type="dependency.stall",
                target="odds",
                params={},
            )
            d.get(f"{ready['facilitator_url']}#token={SECRETS.facilitator_token}")
            wait_for(
                lambda: "odds-stall" in text_of(d, "#faults-active"), 15, "the facilitator sees the fault"
            )
            assert "#token" not in d.current_url and SECRETS.facilitator_token not in d.current_url
            assert "acked by ana" in text_of(d, "#pages")
            print(
                f"\nalert posted to Alertmanager -> ringing in the browser {rang:.2f} s;"
                f" ack click -> shown {acked:.2f} s"
            )
        finally:
            console.stop()
