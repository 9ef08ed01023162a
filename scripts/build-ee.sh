#!/usr/bin/env bash
# Build the execution environment image for AWX / Automation Platform / ansible-runner:
#   scripts/build-ee.sh            (make ee)
# from execution-environment.yml with ansible-builder (schema 3), locally: no registry, no Galaxy.
# Environment:
#   EE_BASE_IMAGE  base image (default slm-fleet/debian:bookworm, made by images/base/build.sh)
#   EE_TAG         image name (default slm-fleet/ee:<collection version from galaxy.yml>)
#   CA_BUNDLE      CA bundle of a TLS-inspecting proxy, trusted by pip in the build and by the EE at run
#                  time (default /etc/ssl/certs/ca-certificates.crt when it exists; "none": the base
#                  image's own bundle)
#   DOCKER         Docker client with BuildKit built in (default /usr/bin/docker, Debian's 20.10)
#   EE_MIN_FREE_GB free disk needed under Docker's root dir before building (default 4)
#   FORCE=1        rebuild even when the image is up to date
# Idempotent: the image carries a label with a hash of its recipe (the EE definition, ee/*, this
# script, the collection's files, the `ansible` wheel, the CA bundle, the base image id and the
# builder version). When an image with that tag and label exists, nothing is built.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[ee] %s\n' "$*"; }
die() { printf '[ee] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=images/recipe.sh
. images/recipe.sh
ANSIBLE_BUNDLE_VERSION=$(sed -n 's/^ *- ARG ANSIBLE_BUNDLE_VERSION=\(.*\)$/\1/p' execution-environment.yml)
[ -n "$ANSIBLE_BUNDLE_VERSION" ] || die "execution-environment.yml has no ANSIBLE_BUNDLE_VERSION build arg"
version=$(sed -n 's/^version: *//p' galaxy.yml)
base=${EE_BASE_IMAGE:-slm-fleet/debian:bookworm}
tag=${EE_TAG:-slm-fleet/ee:$version}
docker=${DOCKER:-/usr/bin/docker}
min_free_gb=${EE_MIN_FREE_GB:-4}
ca=${CA_BUNDLE-}
if [ -z "$ca" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  ca=/etc/ssl/certs/ca-certificates.crt
fi
[ "$ca" = none ] && ca=
work=.cache/ee
tools=$work/tools
inputs=$work/inputs

[ -x "$docker" ] || die "Docker client $docker not found; set DOCKER to a client with BuildKit built in (Debian's docker.io provides /usr/bin/docker)"
docker_root=$("$docker" info --format '{{.DockerRootDir}}' 2>/dev/null) || die "cannot reach the Docker engine with $docker"
base_id=$("$docker" image inspect --format '{{.Id}}' "$base" 2>/dev/null) \
  || die "base image $base not found; build it first (images/base/build.sh) or set EE_BASE_IMAGE to a local Debian 12 image with python3-venv"
if [ -n "$ca" ] && [ ! -s "$ca" ]; then
  die "CA_BUNDLE=$ca is not a non-empty file; give the proxy's CA bundle, or CA_BUNDLE=none for the base image's own"
fi
command -v ansible-galaxy >/dev/null || die "ansible-galaxy not on PATH; run make venv (the Makefile puts .venv/bin first)"

# The builder and runner, in their own pinned virtualenv (re-created when requirements-ee.txt changes).
want_tools=$(sha256sum requirements-ee.txt | cut -d' ' -f1)
if [ "$(cat "$tools/.installed" 2>/dev/null)" != "$want_tools" ]; then
  log "installing ansible-builder and ansible-runner into $tools"
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet -r requirements-ee.txt
  echo "$want_tools" >"$tools/.installed"
fi

# The inputs: the collection tarball, the `ansible` wheel its dependencies come from, the CA bundle.
rm -rf "$inputs"
mkdir -p "$inputs"
ansible-galaxy collection build --force --output-path "$inputs" . >/dev/null
mv "$inputs/edgeai-slm_fleet-$version.tar.gz" "$inputs/edgeai-slm_fleet.tar.gz"
wheels=.cache/wheels
shopt -s nullglob
found=("$wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-py3-none-any.whl)
if [ ${#found[@]} -eq 0 ]; then
  log "downloading ansible==$ANSIBLE_BUNDLE_VERSION (the community bundle wheel)"
  mkdir -p "$wheels"
  "$tools/bin/pip" download --quiet --no-deps --dest "$wheels" "ansible==$ANSIBLE_BUNDLE_VERSION"
  found=("$wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-py3-none-any.whl)
fi
[ ${#found[@]} -gt 0 ] || die "no ansible-$ANSIBLE_BUNDLE_VERSION wheel in $wheels after download"
ln "${found[0]}" "$inputs/" 2>/dev/null || cp "${found[0]}" "$inputs/"
if [ -n "$ca" ]; then cp "$ca" "$inputs/ca-bundle.crt"; else : >"$inputs/ca-bundle.crt"; fi

# The recipe: the collection by its file checksums (FILES.json, MANIFEST.json), not the tarball's
# timestamps, so that an unchanged tree gives the same hash.
collection_sum=$(python3 - "$inputs/edgeai-slm_fleet.tar.gz" <<'PY'
import hashlib, sys, tarfile
with tarfile.open(sys.argv[1]) as tar:
    data = b"".join(tar.extractfile(name).read() for name in ("MANIFEST.json", "FILES.json"))
print(hashlib.sha256(data).hexdigest())
PY
)
recipe=$(
  {
    printf 'base=%s\ncollection=%s\n' "$base_id" "$collection_sum"
    sha256sum "$inputs"/ansible-*.whl "$inputs/ca-bundle.crt" | cut -d' ' -f1
    cat execution-environment.yml ee/* scripts/build-ee.sh requirements-ee.txt
  } | sha256sum | cut -d' ' -f1
)
recipe_up_to_date "$tag" "$recipe" && exit 0

require_free_gb "$docker_root" "$min_free_gb" "image ~0.5 GB plus build stages" EE_MIN_FREE_GB

# ansible-builder runs `docker build` with the first `docker` on PATH: put the BuildKit client there.
# (The generated Containerfile has no `# syntax=` line, so BuildKit pulls no frontend image.)
bin=$(mktemp -d "${TMPDIR:-/tmp}/ee-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
ln -s "$docker" "$bin/docker"
old_id=$("$docker" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
started=$(date +%s)
PATH="$bin:$PATH" DOCKER_BUILDKIT=1 BUILDKIT_PROGRESS=plain "$tools/bin/ansible-builder" build \
  --file execution-environment.yml --context "$work/context" --container-runtime docker --tag "$tag" \
  --build-arg "EE_BASE_IMAGE=$base" --build-arg "EE_RECIPE=$recipe" --build-arg "EE_VERSION=$version" \
  --verbosity 3
secs=$(( $(date +%s) - started ))
size=$("$docker" image inspect --format '{{.Size}}' "$tag")
new_id=$("$docker" image inspect --format '{{.Id}}' "$tag")
# The image this build replaced, now untagged: removed unless a container still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ] \
  && [ -z "$("$docker" image inspect --format '{{join .RepoTags ""}}' "$old_id" 2>/dev/null)" ]; then
  "$docker" image rm "$old_id" >/dev/null 2>&1 && log "removed the replaced image ${old_id:7:12}"
fi
log "built $tag in $secs s: $(( size / 1000000 )) MB, recipe ${recipe:0:12}"
