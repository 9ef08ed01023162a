#!/usr/bin/env bash
# Build the Ollama API emulator image (tests and lab only - it is NOT Ollama):
#   images/ollama-emulator/build.sh [BASE_IMAGE] [TAG]
#   BASE_IMAGE  default slm-fleet/debian:bookworm (images/base/build.sh makes it)
#   TAG         default slm-fleet/ollama-api-emulator:<__version__ of the emulator>
# Stdlib Python only: no pip, no network. Idempotent: when an image with this tag already carries
# the recipe hash of this script, the Dockerfile, the `ollama` command, the emulator sources and
# the base image id, nothing is built. DOCKER (default docker) is the client; FORCE=1 rebuilds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
servers=$(cd "$here/../../tests/servers" && pwd)
docker=${DOCKER:-docker}
sources=(ollama_api_emulator.py server_base.py seed_replies.py)
for f in "$servers"/ollama_emulator_*.py; do sources+=("$(basename "$f")"); done
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$servers/ollama_api_emulator.py")
base=${1:-slm-fleet/debian:bookworm}
tag=${2:-slm-fleet/ollama-api-emulator:$version}

base_id=$("$docker" image inspect --format '{{.Id}}' "$base" 2>/dev/null) || {
  echo "ollama-emulator: base image $base is missing (build it with images/base/build.sh)" >&2; exit 1; }
recipe=$( { echo "$base_id"; cat "$here/Dockerfile" "$here/ollama" "$here/build.sh";
            for f in "${sources[@]}"; do cat "$servers/$f"; done; } | sha256sum | cut -c1-16)
have=$("$docker" image inspect --format '{{index .Config.Labels "io.slm-fleet.recipe"}}' "$tag" 2>/dev/null || true)
if [ "${FORCE:-0}" != 1 ] && [ "$have" = "$recipe" ]; then
  echo "[images] $tag already built from this recipe ($recipe)"
  exit 0
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
mkdir "$context/servers"
cp "$here/Dockerfile" "$here/ollama" "$context/"
for f in "${sources[@]}"; do cp "$servers/$f" "$context/servers/"; done
"$docker" build --quiet --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" \
  --build-arg "RECIPE=$recipe" --tag "$tag" "$context" >/dev/null
echo "[images] built $tag (recipe $recipe)"
