#!/usr/bin/env bash
# Make sure a Docker engine with the Compose v2 plugin runs on this machine.
#
# Idempotent: does nothing when `docker compose version` already answers against a
# running engine. Otherwise (as root) installs Debian's docker.io, takes the Compose v2
# and buildx plugins from Debian 13's packages (Debian 12 ships only Compose v1), and
# starts dockerd in the background when no init system manages it.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*"; }
die() { printf '[ensure-docker] ERROR: %s\n' "$*" >&2; exit 1; }

PLUGIN_DIR=/usr/libexec/docker/cli-plugins
# Debian's own client (20.10) has BuildKit built in; the first docker on PATH may not.
DOCKER=${DOCKER:-docker}

engine_up() { "$DOCKER" info >/dev/null 2>&1; }
compose_ok() { "$DOCKER" compose version --short 2>/dev/null | grep -Eq "^v?2\."; }

if engine_up && compose_ok && [ -x "$PLUGIN_DIR/docker-buildx" ]; then
  log "engine and Compose v2 already running: $("$DOCKER" compose version --short)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "Docker engine or Compose v2 plugin missing and this is not root. Run 'sudo make ...' once, or install docker.io and the compose plugin yourself."

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

# Compose v2 / buildx: static binaries from pinned Debian 13 packages (Debian 12 has neither).
for pkg in docker-compose docker-buildx; do
  if ! { [ -x "$PLUGIN_DIR/$pkg" ] && "$PLUGIN_DIR/$pkg" version >/dev/null 2>&1; }; then
    log "installing the $pkg plugin from Debian 13's package"
    src=$("$(dirname "$0")/fetch-debian-plugin.sh" "$pkg")
    install -D -m 0755 "$src" "$PLUGIN_DIR/$pkg"
  fi
done

if ! engine_up; then
  if [ -d /run/systemd/system ]; then
    systemctl enable --now docker
  else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || die "dockerd did not come up within 60 s; see /var/log/dockerd.log"
fi
compose_ok || die "docker compose does not report v2 after installing the plugin"
log "engine $("$DOCKER" version --format '{{.Server.Version}}'), compose $("$DOCKER" compose version --short)"
