#!/usr/bin/env bash
# Print the Debian mirror URI this machine's apt uses (never hard-code a mirror host).
set -euo pipefail
uri=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '/^deb / && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "no Debian mirror URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2; exit 1; }
printf '%s\n' "$uri"
