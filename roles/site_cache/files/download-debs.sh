#!/usr/bin/env bash
# Runs on the control node: download the .deb files a site cache host lacks, so that the host installs
# them with no internet. apt's own resolver decides what is missing: it runs against the target's dpkg
# status file (fetched from the host), for the target's release and architecture, with private apt
# state (nothing on the control node's own apt configuration changes).
#
# usage: download-debs.sh OUT_DIR SUITE ARCH TARGET_DPKG_STATUS MIRROR_URI SECURITY_URI KEYRING PACKAGE...
#   MIRROR_URI / SECURITY_URI: "" = read from the control node's apt sources (the first non-security URI, and the
#   security one), the same rule as scripts/mirror-uri.sh of the project. Prints the path of a tar archive of
#   the chosen .deb files, then their names, one per line.
set -euo pipefail
out=$1 suite=$2 arch=$3 status=$4 mirror=$5 security=$6 keyring=$7
shift 7
sources=/etc/apt/sources.list.d/debian.sources
if [ -z "$mirror" ] && [ -f "$sources" ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$sources")
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '/^deb / && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
fi
if [ -z "$security" ] && [ -f "$sources" ]; then
  security=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$sources")
fi
[ -n "$mirror" ] || { echo "no Debian mirror URI: set site_cache_apt_mirror (control node has none in $sources or /etc/apt/sources.list)" >&2; exit 2; }
[ -r "$keyring" ] || { echo "keyring $keyring is not readable on the control node: install debian-archive-keyring or set site_cache_apt_keyring" >&2; exit 2; }

state="$out/.apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/preferences.d" "$out"
{
  printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' "$mirror" "$suite" "$suite" "$keyring"
  if [ -n "$security" ]; then
    printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' "$security" "$suite" "$keyring"
  fi
} > "$state/etc/site-cache.sources"
opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$state/etc" -o "Dir::Etc::Preferences=/dev/null"
      -o "Dir::Etc::PreferencesParts=$state/etc/preferences.d" -o "Dir::State::Lists=$state/lists"
      -o "Dir::State::status=$status" -o "Dir::State::extended_states=$state/extended_states"
      -o "Dir::Cache=$state/cache" -o "Dir::Cache::archives=$state/cache/archives"
      -o "APT::Architecture=$arch" -o "APT::Architectures=$arch" -o "APT::Install-Recommends=false"
      -o "Debug::NoLocking=true" -o "APT::Sandbox::User=root")
apt-get "${opts[@]}" -qq update
apt-get "${opts[@]}" -qq -y --download-only install "$@" >/dev/null
find "$state/cache/archives" -maxdepth 1 -name '*.deb' -exec mv -f {} "$out/" \;
# One archive of exactly what this resolution chose (one transfer to the host instead of one per file; a
# stale .deb from an earlier run is never included). Prints the archive's path, then the file names.
mapfile -t names < <(apt-get "${opts[@]}" -qq -y --print-uris install "$@" | awk '{gsub("\047", "", $2); print $2}')
bundle="$out/bundle-$(basename "$status").tar"
tar -C "$out" -cf "$bundle" "${names[@]}"
printf '%s\n' "$bundle" "${names[@]}"
