#!/usr/bin/env bash
# The test suite behind `make test` (and `make lint` with the argument `lint`).
# One progress line per stage with its duration; a summary at the end; non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
# Tests that would skip without a tool must run here: make test installs the tools.
export SLM_REQUIRE_CHROMIUM=1
mkdir -p artifacts/logs
only=${1:-all}
[ "$only" = all ] && export SLM_REQUIRE_SHELLCHECK=1
summary=()
started=$(date +%s)

stage() {  # stage NAME COMMAND... : run quietly, log to artifacts/logs/NAME.log, print one line
  local name=$1; shift
  local log="artifacts/logs/$name.log" t0 t1 rc
  printf '[test] %-34s ...\n' "$name"
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  if [ $rc -eq 0 ]; then
    printf '[test] %-34s ok    %7ss\n' "$name" "$secs"
    summary+=("$(printf '%-34s ok    %7ss' "$name" "$secs")")
  else
    printf '[test] %-34s FAILED %6ss (log: %s)\n' "$name" "$secs" "$log"
    tail -n 60 "$log" | sed 's/^/    | /'
    summary+=("$(printf '%-34s FAILED %6ss' "$name" "$secs")")
    finish 1
  fi
}

finish() {
  echo "[test] ---- summary ($(( $(date +%s) - started )) s in all) ----"
  printf '[test] %s\n' "${summary[@]}"
  exit "$1"
}

# shellcheck disable=SC2317  # called through stage()
syntax_check() {
  local pb
  for pb in site.yml playbooks/*.yml lab/*.yml tests/integration/playbooks/*.yml; do
    ansible-playbook --syntax-check -i inventories/lab "$pb" || return 1
  done
  # Every shipped inventory must parse and put its hosts under slm_fleet.
  local inv
  for inv in inventories/*/; do
    ansible-inventory -i "$inv" --graph slm_fleet || return 1
  done
}

stage yamllint yamllint -s .
stage ansible-lint ansible-lint --strict  # warnings fail too: the production profile must pass, not just "min"
stage syntax-check syntax_check
stage ansible-test-sanity scripts/ansible-test-sanity.sh
[ "$only" = lint ] && finish 0

stage pytest-unit pytest -q tests/unit
stage pytest-engine pytest -q tests/engine
stage pytest-integration pytest -q tests/integration
for scenario in extensions/molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  stage "molecule-$name" molecule test -s "$name"
done
finish 0
