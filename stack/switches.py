"""Switch delivery: every runtime gives its services the same flag file, built here once.

The effective switches are ``service.profile.load_profile`` of the stack's profile, the
``CRASHLAB_SWITCH_*`` variables (of the environment and of ``StackConfig.env``) and
``StackConfig.switches`` (a drill's ``target.switches``, ``crashlab up --switch``). They are written
as flagd flag definitions to ``runs/<id>/flags/flags.json`` (``service.flagfile``); the local runtime
passes the file's path to the services, the Docker runtime bind-mounts its folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service import flagfile
from service.profile import SWITCH_ENV_PREFIX, Profile, load_profile
from stack.runtime import StackConfig


def write_flag_file(config: StackConfig) -> Path:
    """Write the stack's flag file for ``config``; returns its path."""
    path = config.run_dir.flag_file.absolute()
    rebuild_flag_file(path, config.profile, config.switches, {**os.environ, **config.env})
    return path


def rebuild_flag_file(
    path: Path, profile: str, switches: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Profile:
    """(Re)write the flag file ``path`` from ``profile`` and switch overrides (the one merge,
    ``load_profile``; ``env``: the ``CRASHLAB_SWITCH_*`` variables, default the process's); returns the
    effective profile. A game day's ``deploy`` rebuilds a running stack's file with it."""
    effective = load_profile(profile, env=os.environ if env is None else env, overrides=switches)
    flagfile.write(path, effective)
    return effective


def service_env(config: StackConfig) -> dict[str, str]:
    """The services' extra environment: ``StackConfig.env`` without the switch variables (those are
    in the flag file already)."""
    return {k: v for k, v in config.env.items() if not k.startswith(SWITCH_ENV_PREFIX)}
