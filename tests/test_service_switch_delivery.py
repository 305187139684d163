"""One way for switches: the profile plus overrides, merged by ``service.profile.load_profile``, written
once as the stack's flag file; the local runtime passes its path, the Docker runtime mounts its folder,
so every setting of a drill's ``target.switches`` reaches the service in both (Docker at the compose
level here; the containers themselves are the Docker tests' business)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.runner.stacks import stack_config as drill_stack_config
from chaos.scenario.validate import load_scenario
from crashlab.rundir import RunDir
from service.errors import ServiceError
from service.flags import read_profile
from service.profile import load_profile
from stack.docker.engine import COMPOSE_CI_FILE, COMPOSE_FILE
from stack.docker.launch import service_inputs
from stack.runtime import StackConfig
from stack.switches import write_flag_file
from tests.helpers_docker import compose_config

ROOT = Path(__file__).resolve().parent.parent
FLAGS_MOUNT = "/etc/crashlab/flags"


def five_crash(tmp_path: Path, **env: str) -> StackConfig:
    scenario = load_scenario(ROOT / "scenarios" / "five-crash.yaml")
    config = drill_stack_config(scenario.target, RunDir.create("t", tmp_path / "runs"))
    config.env.update(env)
    return config


def test_the_one_merge_takes_bools_mappings_and_environment() -> None:
    profile = load_profile(
        "naive",
        env={"CRASHLAB_SWITCH_RETRY_MAX_ATTEMPTS": "5", "CRASHLAB_SWITCH_ROUND_BUFFER_KB": "32"},
        overrides={"retry": True, "pooled_client": {"pool_exhausted_at": 150}, "round_buffer_kb": 16},
    )
    assert profile.retry.enabled and profile.retry.max_attempts == 5
    assert not profile.pooled_client.enabled and profile.pooled_client.pool_exhausted_at == 150
    assert profile.round_buffer_kb == 16  # overrides come after the environment
    with pytest.raises(ServiceError, match=r"^switches\.retyr: unknown switch"):
        load_profile("naive", env={}, overrides={"retyr": True})
    with pytest.raises(ServiceError, match=r"^switches\.retry: expected true or false"):
        load_profile("naive", env={}, overrides={"retry": "yes"})


def test_every_setting_of_the_drill_reaches_the_flag_file(tmp_path: Path) -> None:
    config = five_crash(tmp_path, CRASHLAB_SWITCH_RETRY_NAIVE_INTERVAL_MS="150")
    path = write_flag_file(config)
    assert path == config.run_dir.flag_file.absolute()
    got = read_profile(path)  # as the service reads it: through OpenFeature
    expected = load_profile(
        "naive", env={"CRASHLAB_SWITCH_RETRY_NAIVE_INTERVAL_MS": "150"}, overrides=config.switches
    )
    assert got == expected
    assert got.pooled_client.pool_exhausted_at == 150 and not got.pooled_client.enabled
    assert got.retry.naive_interval_ms == 150


@pytest.mark.parametrize("ci", [False, True], ids=["full", "ci"])
def test_the_containers_mount_the_same_flag_file(tmp_path: Path, ci: bool) -> None:
    config = five_crash(tmp_path, CRASHLAB_SWITCH_CIRCUIT_BREAKER="true", CRASHLAB_SEED_NOTE="x")
    inputs = service_inputs(config)
    flags_dir = Path(inputs["CRASHLAB_FLAGS_DIR"])
    assert flags_dir == config.run_dir.flag_file.parent.resolve()
    profile = read_profile(flags_dir / "flags.json")
    assert profile.pooled_client.pool_exhausted_at == 150  # not the naive default 300
    assert profile.circuit_breaker.enabled
    # switch variables travel in the flag file only; the rest of StackConfig.env in the env file
    env_file = Path(inputs["CRASHLAB_SERVICE_ENV_FILE"]).read_text()
    assert env_file == "CRASHLAB_SEED_NOTE=x\n"

    files = (COMPOSE_FILE, COMPOSE_CI_FILE) if ci else (COMPOSE_FILE,)
    services = compose_config(*files, env=inputs)["services"]
    for name in ("game", "odds"):
        mounts = {v["target"]: v for v in services[name]["volumes"]}
        assert mounts[FLAGS_MOUNT]["type"] == "bind"
        assert Path(mounts[FLAGS_MOUNT]["source"]) == flags_dir
        assert services[name]["environment"]["CRASHLAB_FLAG_FILE"] == f"{FLAGS_MOUNT}/flags.json"


def test_compose_by_hand_keeps_the_flags_in_a_volume() -> None:
    services = compose_config(COMPOSE_FILE)["services"]
    mounts = {v["target"]: v for v in services["game"]["volumes"]}
    assert mounts[FLAGS_MOUNT]["type"] == "volume"
    assert services["game"]["environment"]["CRASHLAB_PROFILE"] == "hardened"  # seeds the file
