#!/usr/bin/env bash
# Build the front proxy image locally (no registry needed): images/slm-proxy/build.sh [BASE_IMAGE] [TAG]
#   BASE_IMAGE  default slm-fleet/debian:bookworm (images/base/build.sh builds it)
#   TAG         default slm-fleet/slm-proxy:<PROXY_VERSION below>; roles/slm_release pins the same tag
# Environment:
#   CA_BUNDLE   CA bundle of a TLS-inspecting proxy, given to apt as the BuildKit secret `cabundle`
#               (default /etc/ssl/certs/ca-certificates.crt when that file exists)
#   DOCKER      Docker client with BuildKit built in (default /usr/bin/docker, Debian's 20.10)
#   FORCE=1     rebuild even when the image is up to date
# Idempotent: the image carries a label with a hash of its recipe (this script, the Dockerfile and
# the base image id); when an image with that tag and label exists, nothing is built. ~20 s, ~75 MB
# on top of the base image.
set -euo pipefail

PROXY_VERSION=0.1.0

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=images/recipe.sh
. "$here/../recipe.sh"
base=${1:-slm-fleet/debian:bookworm}
tag=${2:-slm-fleet/slm-proxy:$PROXY_VERSION}
docker=${DOCKER:-/usr/bin/docker}
ca=${CA_BUNDLE-}
if [ -z "$ca" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  ca=/etc/ssl/certs/ca-certificates.crt
fi

log() { printf '[slm-proxy] %s\n' "$*"; }
die() { printf '[slm-proxy] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$docker" ] || die "Docker client $docker not found; set DOCKER to a client with BuildKit built in (Debian's docker.io provides /usr/bin/docker)"
base_id=$("$docker" image inspect --format '{{.Id}}' "$base" 2>/dev/null) \
  || die "base image $base not found; build it first (images/base/build.sh) or pass another BASE_IMAGE"
if [ -n "$ca" ] && [ ! -s "$ca" ]; then
  die "CA_BUNDLE=$ca is not a non-empty file; give the proxy's CA bundle or set CA_BUNDLE to an existing file"
fi

recipe=$( { printf 'base=%s\n' "$base_id"; cat "$here/Dockerfile" "$here/build.sh"; } | sha256sum | cut -d' ' -f1)
recipe_up_to_date "$tag" "$recipe" && exit 0

context=$(mktemp -d "${TMPDIR:-/tmp}/slm-proxy-context.XXXXXX")
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$context/Dockerfile"
args=(build --quiet --tag "$tag" --build-arg "BASE_IMAGE=$base" --build-arg "RECIPE=$recipe")
mirror=$("$repo/scripts/mirror-uri.sh" 2>/dev/null || true)
if [ -n "$mirror" ]; then
  args+=(--build-arg "APT_MIRROR=$mirror")
fi
if [ -n "$ca" ]; then
  args+=(--secret "id=cabundle,src=$ca")
fi
started=$(date +%s)
# No `# syntax=` line in the Dockerfile: BuildKit would try to pull a frontend image.
DOCKER_BUILDKIT=1 "$docker" "${args[@]}" "$context" >/dev/null
nginx=$("$docker" run --rm --entrypoint /usr/sbin/nginx "$tag" -v 2>&1 | sed -n 's|.*nginx/||p')
log "built $tag in $(( $(date +%s) - started )) s (nginx $nginx, recipe ${recipe:0:12})"
