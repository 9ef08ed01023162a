#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection (ansible-test needs the tree under
# ansible_collections/<namespace>/<name>/, and follows the physical path, not our symlink).
# Every test that applies to this collection except pslint (no PowerShell here). shellcheck comes
# from Debian's package: `make test` installs it (and requires it); `make lint` skips that one test,
# saying so, when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/edgeai/slm_fleet"
mkdir -p "$dest"
# The files of the working tree that git would commit (tracked or new, not ignored).
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' \
  | tar -cf - -T - | tar -xf - -C "$dest"
# ansible-test bootstraps pip in its per-test venvs with a get-pip script from
# ci-files.testing.ansible.com, which these machines cannot reach (PyPI they can). Its own error
# message says to save the script in its cache: we save an equivalent that bootstraps the pip
# bundled with Python (ensurepip) and then installs the pinned pip ansible-test asks for, from PyPI.
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" \
  "$repo"/.venv/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n1 | tr . _)
shim="$HOME/.ansible/test/cache/get_pip_${pip_version}.py"
if [ ! -s "$shim" ]; then
  mkdir -p "$(dirname "$shim")"
  cat >"$shim" <<'PY'
"""Stand-in for get-pip.py (see scripts/ansible-test-sanity.sh): ensurepip, then pip install ARGS.

get-pip's own options (--no-setuptools, --no-wheel) are not pip's: they are dropped.
"""
import subprocess
import sys

# In child processes: ensurepip.bootstrap() in-process sets PIP_CONFIG_FILE=/dev/null for the
# rest of the process, which would hide the system pip.conf (its CA bundle) from the install.
if subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"]):
    sys.exit("ensurepip failed in %s" % sys.prefix)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
fi
cd "$dest"
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
args=(--skip-test pslint)
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "${SLM_REQUIRE_SHELLCHECK:-0}" = 1 ]; then
    echo "[sanity] shellcheck is missing: run scripts/ensure-test-tools.sh as root (apt-get install shellcheck)" >&2
    exit 1
  fi
  echo "[sanity] shellcheck not installed: skipping that test (make test installs it)"
  args+=(--skip-test shellcheck)
fi
"$repo/.venv/bin/ansible-test" sanity --python "$("$repo/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" "${args[@]}"
