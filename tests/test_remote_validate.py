"""What ``crashlab validate`` and the CLI say about the ``remote`` runtime without a stack: the example
validates, the token file is read from the drill file's folder, ``crashlab up --runtime remote``
explains itself, and the runtime declares only what HTTP gives. The refusals (missing URLs, a literal
token, the families that need local control) are corpus files: tests/data/bad-scenarios/remote-*.yaml."""

from __future__ import annotations

from pathlib import Path

from chaos.runner.stacks import stack_config
from chaos.scenario import load_scenario, validate_files
from crashlab.rundir import RunDir
from stack import registry
from stack.capabilities import Capability
from tests.helpers_scenario import ROOT, run_cli

EXAMPLE = ROOT / "scenarios" / "remote" / "odds-latency-on-the-cluster.yaml"


def test_the_remote_example_validates_and_names_its_urls() -> None:
    assert validate_files([EXAMPLE]) == []
    target = load_scenario(EXAMPLE).target
    assert target.runtime == "remote" and target.urls is not None
    assert target.urls.model_dump() == {
        "game": "http://127.0.0.1:18080",
        "odds": "http://127.0.0.1:18081",
        "prometheus": "http://127.0.0.1:19090",
        "alertmanager": "http://127.0.0.1:19093",
    }


def test_the_token_file_is_read_from_the_drill_files_folder(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "  # admin_token_file: ~/.config/crashlab/cluster-token", "  admin_token_file: secrets/token"
    )
    drill = tmp_path / "drills" / "remote.yaml"
    drill.parent.mkdir()
    drill.write_text(text, encoding="utf-8")
    scenario = load_scenario(drill)
    config = stack_config(scenario.target, RunDir.create("x", tmp_path / "runs"))
    assert config.admin_token_file == tmp_path / "drills" / "secrets" / "token"
    assert config.urls["odds"] == "http://127.0.0.1:18081" and config.runtime == "remote"


def test_the_remote_runtime_has_only_what_http_gives() -> None:
    remote = registry.get("remote")
    assert remote.connects and not any(rt.connects for rt in registry.RUNTIMES if rt is not remote)
    assert remote.capabilities == {Capability.ALERTMANAGER}
    assert remote.attach() is None  # crashlab runs nothing of a remote stack


def test_crashlab_up_cannot_start_a_remote_stack(tmp_path: Path) -> None:
    done = run_cli(
        "up",
        "--runtime",
        "remote",
        env={"CRASHLAB_STATE_DIR": str(tmp_path), "CRASHLAB_RUNS_DIR": str(tmp_path)},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "crashlab: error: remote runtime: nothing to bring up: it connects to a stack running elsewhere; "
        "name its URLs in a drill's target.urls (game, odds, prometheus, alertmanager) and run the drill"
    ], done.stderr
    assert not list(tmp_path.iterdir())  # no run directory left behind


def test_status_and_down_leave_a_remote_stack_alone(tmp_path: Path) -> None:
    env = {"CRASHLAB_STATE_DIR": str(tmp_path), "CRASHLAB_RUNS_DIR": str(tmp_path)}
    status = run_cli("status", "--runtime", "remote", env=env)
    assert status.returncode == 2
    assert "the remote runtime runs nothing here" in status.stderr, status.stderr
    down = run_cli("down", "--runtime", "remote", env=env)
    assert (down.returncode, down.stdout.strip()) == (0, "crashlab: no remote stack is running")
