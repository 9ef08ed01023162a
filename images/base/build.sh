#!/usr/bin/env bash
# Build the project's Debian 12 base image, `slm-fleet/debian:bookworm`.
#
# Pulled from a registry when one answers (debian:bookworm-slim + python3), otherwise built
# offline with debootstrap from the machine's own apt mirror (~45 s). Idempotent: an image
# that already exists is kept unless FORCE=1.
set -euo pipefail
log() { printf '[base-image] %s\n' "$*"; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }

IMAGE=${SLM_BASE_IMAGE:-slm-fleet/debian:bookworm}
UPSTREAM=${SLM_UPSTREAM_BASE:-debian:bookworm-slim}
PACKAGES=python3,python3-venv,ca-certificates
here=$(cd "$(dirname "$0")" && pwd)

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE already present"; exit 0
fi

if timeout 60 docker pull -q "$UPSTREAM" >/dev/null 2>&1; then
  log "registry reachable: building $IMAGE from $UPSTREAM"
  docker build -q -t "$IMAGE" --build-arg "BASE=$UPSTREAM" --build-arg "PACKAGES=${PACKAGES//,/ }" \
    -f "$here/Dockerfile.pulled" "$here" >/dev/null
  exit 0
fi

log "no registry reachable: building $IMAGE with debootstrap"
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
mirror=$("$here/../../scripts/mirror-uri.sh")
# Free space check: the rootfs is ~250 MB, the image as much again.
avail_mb=$(df -Pm "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}')
[ "$avail_mb" -ge 1024 ] || die "need 1024 MB free in ${TMPDIR:-/tmp} for debootstrap, have ${avail_mb} MB"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
rm -f "$root.log"
# Smaller image: no apt lists or caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
