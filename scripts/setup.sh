#!/usr/bin/env bash
# Installs everything crashlab needs: a Python venv with the project, and the system packages
# (prometheus + promtool; stress-ng and iproute2 for resource and network faults; chromium for
# the report's browser test). Where it cannot install system packages, it says what to do.
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"

need_pkgs=()
command -v prometheus >/dev/null 2>&1 || need_pkgs+=(prometheus)
command -v stress-ng >/dev/null 2>&1 || need_pkgs+=(stress-ng)
command -v tc >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)

if ((${#need_pkgs[@]})); then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "crashlab setup: installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    # Debian's package starts a system Prometheus on :9090; crashlab runs its own on free ports.
    if [[ " ${need_pkgs[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    fi
  elif command -v apt-get >/dev/null 2>&1; then
    echo "crashlab setup: not root; install these by hand: sudo apt-get install ${need_pkgs[*]}" >&2
  elif command -v brew >/dev/null 2>&1; then
    echo "crashlab setup: install by hand: brew install prometheus stress-ng (network faults need Linux)" >&2
  else
    echo "crashlab setup: install Prometheus 2.42+ (prometheus and promtool on PATH) by hand," >&2
    echo "  or use the Docker runtime (make up). Also useful: stress-ng, iproute2 (tc), chromium." >&2
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "crashlab setup: creating $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "crashlab setup: ready ($("$venv/bin/python" --version), prometheus: $(command -v prometheus || echo missing))"
