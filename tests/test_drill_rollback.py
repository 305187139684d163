"""Rollback on every exit path of a real ``crashlab drill`` subprocess: guardrail abort, SIGINT and
SIGTERM mid-fault, a failing expectation; after a SIGKILL, ``crashlab chaos revert --all`` (or the
next drill) finds the leftovers in the journal and removes them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from crashlab.journal import Journal
from crashlab.waits import wait_until
from stack.local.state import read_state
from tests.helpers_drill import DrillEnv, admin_faults, drill_env, journal_events, services, wait_for

LONG = """
name: {name}
description: faults that outlast the test unless something reverts them
target: {{runtime: local, profile: hardened}}
load: {{users: 2, spawn_rate: 2, duration: 70s, think_time: {{min: 100ms, max: 300ms}}}}
timeline:
  - {{name: errs, at: 0s, duration: 60s, fault: {{type: service.errors, rate: 0.2}}}}
  - {{name: slow, at: 0s, duration: 60s, fault: {{type: dependency.latency, ms: 20}}}}
  - {{name: pause, at: 500ms, duration: 60s, fault: {{type: process.pause, service: odds}}}}
  - {{name: hog, at: 0s, duration: 60s, fault: {{type: stress.cpu, workers: 1, load_percent: 5}}}}
"""

GUARDED = """
name: guarded
description: a guardrail stops the drill when the game answers errors
target: {runtime: local, profile: hardened}
load: {users: 3, spawn_rate: 3, duration: 40s, think_time: {min: 50ms, max: 100ms}}
timeline:
  - {name: errs, at: 1s, duration: 35s, fault: {type: service.errors, rate: 1.0, status: 500}}
guardrails:
  - name: too-many-errors
    promql: 'sum(rate(rps_http_requests_total{route="/play",status="500"}[3s]))'
    abort_when: {above: 0.5}
    for: 1s
expectations:
  crashes: 0
"""

FAILING = """
name: failing
description: an expectation that cannot hold
target: {runtime: local, profile: hardened}
load: {users: 2, spawn_rate: 2, duration: 5s}
timeline:
  - {name: kill, at: 1s, fault: {type: process.kill, service: game}}
expectations:
  crashes: 0
  max_p99_ms: 100000
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillEnv]:
    with drill_env(tmp_path_factory.mktemp("rollback")) as running:
        yield running


def stop(proc: subprocess.Popen[str]) -> None:
    """A drill still running after a failed assertion: SIGTERM (it reverts), then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def injected_all(env: DrillEnv, name: str, count: int, proc: subprocess.Popen[str]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(
            f"the drill ended early ({proc.returncode}): {(env.root / 'drill.out').read_text()}"
        )
    runs = [p for p in env.runs.glob(f"*-{name}-*") if p.is_dir()]
    return bool(runs) and len(journal_events(max(runs), "fault", "injected")) >= count


def handles(run: Path) -> dict[str, dict[str, Any]]:
    return {e.get("fault"): e.get("handle") for e in journal_events(run, "fault", "injected")}


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_STOPPED)
    except psutil.NoSuchProcess:
        return False


def assert_nothing_injected(env: DrillEnv, run: Path) -> None:
    assert env.faults() == {"game": [], "odds": []}
    found = handles(run)
    assert running(found["pause"]["pid"])  # odds continued
    assert not running(found["hog"]["pid"])  # stress-ng gone
    load = journal_events(run, "load", "started")
    assert load and not running(load[0].get("pid"))  # no Locust left behind


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_fault_reverts_everything_and_exits_2(env: DrillEnv, sig: signal.Signals) -> None:
    env.healthy()
    name = f"sig-{sig.name.lower()}"
    proc = env.start("drill", str(env.scenario(name, LONG.format(name=name))), "--quiet")
    try:
        wait_for(lambda: injected_all(env, name, 4, proc), 40, "4 faults injected")
        run = env.latest_run(name)
        assert len(env.faults("game")["game"]) == 1  # really injected before the signal (odds is paused)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 2
    finally:
        stop(proc)
    assert_nothing_injected(env, run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "aborted" and manifest["reason"] == f"interrupted by {sig.name}"
    assert {e.get("fault") for e in journal_events(run, "fault", "reverted")} == {
        "errs",
        "slow",
        "pause",
        "hog",
    }
    assert journal_events(run, "run", "aborted")


def test_a_live_drill_owns_its_faults_and_its_stack(env: DrillEnv) -> None:
    """Another drill, ``chaos revert --all`` and every drill's leftover cleanup touch only faults whose
    owner is gone; a second drill on a busy stack is refused in one line naming the owner."""
    env.healthy()
    proc = env.start("drill", str(env.scenario("owner", LONG.format(name="owner"))), "--quiet")
    try:
        wait_for(lambda: injected_all(env, "owner", 4, proc), 40, "4 faults injected")
        run = env.latest_run("owner")
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["owner"]["pid"] == proc.pid and manifest["owner"]["run_id"] == run.name
        done = env.run("chaos", "revert", "--all")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"pid {proc.pid}" in done.stdout and run.name in done.stdout, done.stdout
        assert "reverted" not in done.stdout
        runs_before = sorted(env.runs.iterdir())
        second = env.run("drill", str(env.scenario("second", LONG.format(name="second"))), "--quiet")
        assert second.returncode == 2, second.stdout + second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("crashlab: error: the local stack is busy"), lines
        assert f"pid {proc.pid}" in lines[0] and run.name in lines[0]
        assert sorted(env.runs.iterdir()) == runs_before  # refused before it made a run directory
        # the owner's faults are still in place, and nobody but the owner journaled a revert
        assert len(env.faults("game")["game"]) == 1 and not running(handles(run)["pause"]["pid"])
        assert not [e for e in journal_events(run, "fault") if e.source != "runner"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 2
    finally:
        stop(proc)
    assert_nothing_injected(env, run)
    assert {e.get("fault") for e in journal_events(run, "fault", "reverted")} == {
        "errs",
        "slow",
        "pause",
        "hog",
    }


def test_sigkill_leaves_leftovers_that_chaos_revert_all_removes(env: DrillEnv) -> None:
    env.healthy()
    proc = env.start("drill", str(env.scenario("killed", LONG.format(name="killed"))), "--quiet")
    try:
        wait_for(lambda: injected_all(env, "killed", 4, proc), 40, "4 faults injected")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        stop(proc)
    run = env.latest_run("killed")
    found = handles(run)
    assert len(env.faults("game")["game"]) == 1 and not running(
        found["pause"]["pid"]
    )  # the leftovers are real
    done = env.run("chaos", "revert", "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(line.split(": ")[1].split(" ")[0] for line in done.stdout.splitlines()) == [
        "errs",
        "hog",
        "pause",
        "slow",
    ]
    wait_for(lambda: not running(journal_events(run, "load", "started")[0].get("pid")), 10, "Locust to end")
    assert_nothing_injected(env, run)
    again = env.run("chaos", "revert", "--all")
    assert again.returncode == 0 and "no leftover faults" in again.stdout
    # the killed run never ended: the cleanup that found its owner gone says so
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "incomplete", manifest.get("verdict")
    assert f"pid {manifest['owner']['pid']}" in manifest["reason"]


def test_sigkill_leftovers_are_removed_by_the_next_drill(env: DrillEnv) -> None:
    env.healthy()
    proc = env.start("drill", str(env.scenario("killed2", LONG.format(name="killed2"))), "--quiet")
    try:
        wait_for(lambda: injected_all(env, "killed2", 4, proc), 40, "4 faults injected")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        stop(proc)
    run = env.latest_run("killed2")
    assert len(env.faults("game")["game"]) == 1
    # the next drill cleans up before it starts (a dry run never touches anything)
    done = env.run("drill", str(env.scenario("failing", FAILING)), "--quiet")
    assert "leftover errs (service.errors)" in done.stdout, done.stdout
    assert_nothing_injected(env, run)


def test_guardrail_aborts_reverts_and_exits_2(env: DrillEnv) -> None:
    env.healthy()
    started = time.monotonic()
    done = env.run("drill", str(env.scenario("guarded", GUARDED)), "--quiet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert time.monotonic() - started < 35  # stopped well before the 40 s load ended
    run = env.latest_run("guarded")
    tripped = journal_events(run, "guardrail", "tripped")
    assert [e.get("guardrail") for e in tripped] == ["too-many-errors"] and tripped[0].get("value") > 0.5
    assert env.faults() == {"game": [], "odds": []}
    assert [e.get("fault") for e in journal_events(run, "fault", "reverted")] == ["errs"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["verdict"] == "aborted" and "guardrail too-many-errors tripped" in manifest["reason"]
    assert manifest["window"]["start"] < manifest["window"]["end"]
    assert "verdict aborted" in done.stdout


def test_failing_expectation_exits_1_naming_it(env: DrillEnv) -> None:
    env.healthy()
    done = env.run("drill", str(env.scenario("failing", FAILING)), "--quiet")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "failed: crashes (expected 0, measured 1)" in done.stdout
    run = env.latest_run("failing")
    events = {e.get("expectation"): e.event for e in journal_events(run, "expectation")}
    assert events == {"crashes": "failed", "max_p99_ms": "met"}
    assert json.loads((run / "manifest.json").read_text())["verdict"] == "failed"


def test_invalid_drill_file_exits_2_with_where(env: DrillEnv) -> None:
    bad = env.scenario(
        "bad", "name: bad\ndescription: x\ntimeline:\n  - {name: a, fault: {type: service.nope}}\n"
    )
    runs_before = sorted(env.runs.iterdir())
    done = env.run("drill", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"crashlab: error: {bad}:4: timeline[0].fault.type: unknown fault type 'service.nope'; "
        "did you mean 'service.errors'?"
    ]
    assert done.stdout == ""
    # refused before anything ran: no run directory, nothing injected, the shared stack untouched
    assert sorted(env.runs.iterdir()) == runs_before
    assert env.faults() == {"game": [], "odds": []}
    assert {p.name: p.healthy for p in env.stack.status()}["game"]


def test_sigint_while_the_drill_brings_its_stack_up_still_takes_it_down(tmp_path: Path) -> None:
    own = DrillEnv(tmp_path, stack=None)
    path = own.scenario("early", LONG.format(name="early"))
    proc = own.start("drill", str(path), "--quiet")
    try:
        # the state file names the supervisor (before that, it holds the launcher's claim)
        state = wait_until(lambda: read_state(tmp_path / "state" / "stack.json"), 30, "the drill's stack")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 2
    finally:
        stop(proc)
    assert not (tmp_path / "state" / "stack.json").exists()
    assert not running(state.supervisor_pid)
    run = own.latest_run("early")
    assert json.loads((run / "manifest.json").read_text())["verdict"] == "aborted"
    assert journal_events(run, "stack", "down")
    assert not journal_events(run, "fault", "injected")


def test_a_leftover_of_another_stack_never_gets_this_stacks_token(env: DrillEnv, tmp_path: Path) -> None:
    """A killed drill's fault on a stack that is not the running local one (another runtime's, or one
    already gone) is never reverted with the local stack's admin token: the cleanup matches each
    leftover to the running stack that serves it, and leaves the rest to their TTL, saying so."""
    env.healthy()
    with services(tmp_path) as other:
        fault = admin_create(other.urls["game"], other.token, {"type": "errors", "params": {}, "ttl_s": 600})
        run = env.runs / "20260101T000000Z-elsewhere-0000"
        journal = Journal(run / "journal.jsonl", source="runner")
        journal.write("run", "started", scenario="elsewhere", run_id=run.name)
        handle = {"kind": "admin", "service": "game", "url": other.urls["game"], "id": fault["id"]}
        journal.write(
            "fault", "injected", fault="far", fault_type="service.errors", target="game",
            params={}, ttl_s=600, handle=handle,
        )  # fmt: skip
        done = env.run("chaos", "revert", "--all")
        assert done.returncode == 0, done.stdout + done.stderr
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("far") or ": far" in ln)
        assert other.urls["game"] in line and "TTL" in line, line
        log = (tmp_path / "game.jsonl").read_text()
        assert '"status":401' not in log.replace(" ", "")  # the local token was never sent there
        assert [f["id"] for f in admin_faults(other.urls["game"], other.token)] == [fault["id"]]


def admin_create(url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url + "/admin/faults",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        created: dict[str, Any] = json.loads(resp.read())
        return created


def test_down_leaves_a_stack_a_running_drill_holds(env: DrillEnv) -> None:
    """`crashlab down` refuses (exit 2, one line naming the drill) while a drill holds the stack's
    lease; the drill and its faults carry on; it ends by itself and reverts as usual."""
    env.healthy()
    proc = env.start("drill", str(env.scenario("held", LONG.format(name="held"))), "--quiet")
    try:
        wait_for(lambda: injected_all(env, "held", 4, proc), 40, "4 faults injected")
        done = env.run("down")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "in use by" in done.stderr and f"pid {proc.pid}" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert proc.poll() is None
        assert len(env.faults("game")["game"]) == 1  # the stack and the drill's fault are still there
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        stop(proc)
    assert env.faults() == {"game": [], "odds": []}
