"""Switch delivery: every runtime gives its services the same flag file, built here once.

The effective switches are ``service.profile.load_profile`` of the stack's profile, the
``CRASHLAB_SWITCH_*`` variables (of the environment and of ``StackConfig.env``) and
``StackConfig.switches`` (a drill's ``target.switches``, ``crashlab up --switch``). They are written
as flagd flag definitions to ``runs/<id>/flags/flags.json`` (``service.flagfile``); the local runtime
passes the file's path to the services, the Docker runtime bind-mounts its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from service import flagfile
from service.profile import SWITCH_ENV_PREFIX, load_profile
from stack.runtime import StackConfig


def write_flag_file(config: StackConfig) -> Path:
    """Write the stack's flag file for ``config``; returns its path."""
    env = {**os.environ, **config.env}
    profile = load_profile(config.profile, env=env, overrides=config.switches)
    return flagfile.write(config.run_dir.flag_file.absolute(), profile)


def service_env(config: StackConfig) -> dict[str, str]:
    """The services' extra environment: ``StackConfig.env`` without the switch variables (those are
    in the flag file already)."""
    return {k: v for k, v in config.env.items() if not k.startswith(SWITCH_ENV_PREFIX)}
