#!/usr/bin/env bash
# The test suite behind `make test` (and `make lint` with the argument `lint`).
# One progress line per stage with its duration; a summary at the end; non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
# Tests that would skip without a tool must run here: make test installs the tools.
export SLM_REQUIRE_CHROMIUM=1 SLM_REQUIRE_DOCKER=1
mkdir -p artifacts/logs
rm -f artifacts/logs/*.log  # counts are read from this run's logs only
stage_failures=0
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
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -qE '^(=+ )?([0-9]+ [a-z]+, )*[0-9]+ (failed|error)' ||
      stage_failures=$((stage_failures + 1))
    summary+=("$(printf '%-34s FAILED %6ss' "$name" "$secs")")
    finish 1
  fi
}

# Test counts from the pytest summary lines of every stage's log (pytest stages and molecule's
# testinfra verify); a stage that failed without such a line (lint, a molecule step) counts as one
# failure, so the closing line never reports a failed run as all passed.
count_tests() {
  local passed=0 failed=0 skipped=0 log line n word
  for log in artifacts/logs/*.log; do
    [ -f "$log" ] || continue
    while read -r line; do
      for word in passed failed error skipped; do  # "error" also counts "errors"
        n=$(grep -oE "[0-9]+ $word" <<<"$line" | grep -oE '^[0-9]+' || true)
        [ -n "$n" ] || continue
        case $word in
          passed) passed=$((passed + n)) ;;
          skipped) skipped=$((skipped + n)) ;;
          *) failed=$((failed + n)) ;;
        esac
      done
    done < <(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(=+ )?[0-9]+ (passed|failed|error|errors|skipped)[^=]* in [0-9.]+s')
  done
  failed=$((failed + stage_failures))
  echo "$passed passed, $failed failed, $skipped skipped"
}

finish() {
  echo "[test] ---- summary ($(( $(date +%s) - started )) s in all) ----"
  printf '[test] %s\n' "${summary[@]}"
  echo "tests: $(count_tests)"
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
