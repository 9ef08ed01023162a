#!/usr/bin/env bash
# A ~2 MB image with a static busybox from Debian's busybox-static package, imported without
# a registry. Tests load it into nested engines (docker save/load) and run it.
set -euo pipefail
IMAGE=slm-fleet/busybox:test
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "[images] $IMAGE already present"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download busybox-static >/dev/null 2>&1) \
  || { apt-get update -qq && (cd "$work" && apt-get download busybox-static >/dev/null); }
dpkg -x "$work"/busybox-static_*.deb "$work/x"
mkdir -p "$work/root/bin"
cp "$work/x/bin/busybox" "$work/root/bin/busybox"
for applet in sh true false echo cat ls sleep; do ln -s busybox "$work/root/bin/$applet"; done
tar -C "$work/root" -c . | docker import -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
echo "[images] built $IMAGE"
