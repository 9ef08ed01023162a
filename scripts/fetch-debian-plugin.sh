#!/usr/bin/env bash
# Fetch a Docker CLI plugin binary from a pinned Debian 13 (trixie) package and keep it under
# .cache/artifacts/<binary>-<version>-<arch>, verified against its pinned sha256.
#
# Debian 12 ships no Compose v2 and no buildx; trixie's packages hold static binaries that work
# with the 20.10 engine. Usage: fetch-debian-plugin.sh docker-compose|docker-buildx
# Prints the path of the binary. Idempotent: a verified binary already in the cache is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

# package  version  sha256 of the binary (amd64)
declare -A VERSION=([docker-compose]=2.26.1-4 [docker-buildx]=0.13.1+ds1-3)
declare -A SHA256=(
  [docker-compose]=c0ef2e286ba1c45bf1868b70a1c71d30a802bb3996888f2f986c3166f9e45f57
  [docker-buildx]=b336dab261394bbb1f8a63f6c46085234892fe1fc299e2e203ea91a102d441bf
)
pkg=${1:?usage: $0 docker-compose|docker-buildx}
[ -n "${VERSION[$pkg]:-}" ] || { echo "unknown plugin package '$pkg' (allowed: ${!VERSION[*]})" >&2; exit 2; }
arch=$(dpkg --print-architecture)
out=.cache/artifacts/$pkg-${VERSION[$pkg]}-$arch
want=${SHA256[$pkg]}
[ "$arch" = amd64 ] || want=""   # only the amd64 checksums are pinned here

verify() { [ -z "$want" ] || [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$want" ]; }

if [ -x "$out" ] && verify "$out"; then echo "$out"; exit 0; fi

mirror=$(scripts/mirror-uri.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" .cache/artifacts
printf 'deb %s trixie main\n' "$mirror" >"$work/trixie.list"
opts=(-o "Dir::Etc::SourceList=$work/trixie.list" -o "Dir::Etc::SourceParts=-"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" update -qq >&2
if ! (cd "$work" && apt-get "${opts[@]}" download "$pkg=${VERSION[$pkg]}" >&2); then
  echo "cannot download $pkg=${VERSION[$pkg]} from $mirror (trixie); if Debian replaced that version," \
       "update VERSION and SHA256 in $0 and the lab's container_runtime_compose_* variables" >&2
  exit 1
fi
dpkg -x "$work"/"${pkg}"_*.deb "$work/x"

install -m 0755 "$work/x/usr/libexec/docker/cli-plugins/$pkg" "$out.tmp"
if ! verify "$out.tmp"; then
  echo "sha256 of $pkg ${VERSION[$pkg]} is $(sha256sum "$out.tmp" | cut -d' ' -f1), expected $want" >&2
  rm -f "$out.tmp"; exit 1
fi
mv "$out.tmp" "$out"
echo "$out"
