#!/usr/bin/env bash
# Install the external collections into ./collections without Ansible Galaxy, and link this
# repository in as edgeai.slm_fleet so that the FQCN resolves from a plain clone.
#
# The collections come from the pinned `ansible` release wheel on PyPI (the community package
# bundles them). Users with Galaxy access can use requirements.yml instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ANSIBLE_BUNDLE_VERSION=${ANSIBLE_BUNDLE_VERSION:-12.3.0}
# community.docker declares community.library_inventory_filtering_v1 as a dependency.
WANT=(community/docker community/library_inventory_filtering_v1 ansible/posix community/general)
dest=collections/ansible_collections
stamp=collections/.installed-$ANSIBLE_BUNDLE_VERSION
PIP=${PIP:-.venv/bin/pip}

mkdir -p "$dest/edgeai"
# The symlink is relative so that the clone can move.
[ -L "$dest/edgeai/slm_fleet" ] || ln -sfn ../../.. "$dest/edgeai/slm_fleet"

if [ -f "$stamp" ]; then
  echo "[collections] ansible $ANSIBLE_BUNDLE_VERSION collections already installed"
  exit 0
fi
wheels=.cache/wheels
mkdir -p "$wheels"
shopt -s nullglob
found=("$wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl)
if [ ${#found[@]} -eq 0 ]; then
  echo "[collections] downloading ansible==$ANSIBLE_BUNDLE_VERSION (the community bundle wheel)"
  "$PIP" download --quiet --no-deps --dest "$wheels" "ansible==$ANSIBLE_BUNDLE_VERSION"
  found=("$wheels"/ansible-"$ANSIBLE_BUNDLE_VERSION"-*.whl)
fi
[ ${#found[@]} -gt 0 ] || { echo "[collections] no ansible-$ANSIBLE_BUNDLE_VERSION wheel in $wheels after download" >&2; exit 1; }
whl=${found[0]}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Python's zipfile rather than unzip(1), which a fresh machine may lack.
python3 - "$whl" "$tmp" "${WANT[@]}" <<'PY'
import sys, zipfile
whl, out, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
prefixes = tuple(f"ansible_collections/{c}/" for c in wanted)
with zipfile.ZipFile(whl) as z:
    z.extractall(out, [n for n in z.namelist() if n.startswith(prefixes)])
PY
for c in "${WANT[@]}"; do
  rm -rf "${dest:?}/$c"
  mkdir -p "$dest/${c%/*}"
  mv "$tmp/ansible_collections/$c" "$dest/$c"
done
rm -f collections/.installed-*
touch "$stamp"
echo "[collections] installed ${WANT[*]} from ansible $ANSIBLE_BUNDLE_VERSION"
