#!/usr/bin/env bash
# Build the slm-engine image: engine/build-image.sh [BASE_IMAGE] [TAG]
#   BASE_IMAGE  default python:3.11-slim; the lab passes slm-fleet/debian:bookworm
#   TAG         default slm-fleet/slm-engine:<package version>
# Environment: CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt) is passed to pip as a build
# secret when the file exists; DOCKER (default docker) is the client to use.
# Idempotent: unchanged inputs hit the build cache and give the same image id.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$here/src/slm_engine/__init__.py")
base=${1:-python:3.11-slim}
tag=${2:-slm-fleet/slm-engine:$version}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
docker=${DOCKER:-docker}
need_mib=2048

root=$("$docker" info --format '{{.DockerRootDir}}' 2>/dev/null) || {
  echo "build-image: cannot reach the Docker engine with '$docker'" >&2; exit 1; }
# The engine's storage is only visible here when the engine runs on this machine: a client that talks
# to it through a mounted socket (an execution environment) or DOCKER_HOST cannot measure it.
if [ -d "$root" ]; then
  free_mib=$(df -Pm "$root" | awk 'NR==2 {print $4}')
  if [ "$free_mib" -lt "$need_mib" ]; then
    echo "build-image: only ${free_mib} MiB free in $root, need ${need_mib} MiB" >&2
    exit 1
  fi
else
  echo "build-image: the engine's data root $root is not on this machine (remote engine or mounted socket): free space not checked" >&2
fi

args=(build --build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version" --tag "$tag")
if [ -s "$ca" ]; then
  args+=(--secret "id=cabundle,src=$ca")
fi
# No `# syntax=` line in the Dockerfile: BuildKit would try to pull a frontend image.
DOCKER_BUILDKIT=1 "$docker" "${args[@]}" "$here"
size=$("$docker" image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag $(( size / 1024 / 1024 )) MiB ($("$docker" image inspect --format '{{.Id}}' "$tag"))"
