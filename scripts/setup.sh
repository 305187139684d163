#!/usr/bin/env bash
# Installs everything crashlab needs: a Python venv with the project, and every system package that
# the suite and the drills use (crashlab/system-packages.txt: prometheus, alertmanager, nftables,
# iptables, iproute2, stress-ng, chromium, chromium-driver). As root with apt-get it installs them;
# otherwise it says what to install by hand. `crashlab doctor` checks the result.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
python="${PYTHON:-python3}"

need_pkgs=()
while read -r binary package _; do
  case "$binary" in ''|'#'*) continue ;; esac
  if ! command -v "$binary" >/dev/null 2>&1 && [[ " ${need_pkgs[*]-} " != *" $package "* ]]; then
    need_pkgs+=("$package")
  fi
done < crashlab/system-packages.txt

if ((${#need_pkgs[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "crashlab setup: installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq
    # policy-rc.d stops the packages' own daemons (Debian's prometheus starts one on :9090 where
    # an init system runs); crashlab runs its own on free ports.
    policy=/usr/sbin/policy-rc.d
    had_policy=0; [ -e "$policy" ] && had_policy=1
    if [ "$had_policy" = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    [ "$had_policy" = 1 ] || rm -f "$policy"
  elif command -v apt-get >/dev/null 2>&1; then
    echo "crashlab setup: not root; install these by hand: sudo apt-get install ${need_pkgs[*]}" >&2
  elif command -v brew >/dev/null 2>&1; then
    echo "crashlab setup: install by hand: brew install prometheus alertmanager stress-ng (network faults need Linux)" >&2
  else
    echo "crashlab setup: install by hand: ${need_pkgs[*]} (or use the Docker runtime: make up)" >&2
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "crashlab setup: creating $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "crashlab setup: ready ($("$venv/bin/python" --version)); \`$venv/bin/crashlab doctor\` checks the system packages"
