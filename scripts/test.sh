#!/usr/bin/env bash
# The test suite behind `make test` (and `make lint` with the argument `lint`).
# One progress line per stage with its duration; a summary at the end; non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
# Tests that would skip without a tool must run here: make test installs the tools.
export SLM_REQUIRE_CHROMIUM=1 SLM_REQUIRE_DOCKER=1
mkdir -p artifacts/logs
rm -f artifacts/logs/*.log artifacts/logs/stages.txt  # counts are read from this run's logs only
only=${1:-all}
[ "$only" = all ] && export SLM_REQUIRE_SHELLCHECK=1
started=$(date +%s)

# run_logged NAME COMMAND... : run quietly, log to artifacts/logs/NAME.log, print one line when it
# starts and one when it ends, record "NAME ok|FAILED SECONDS" in artifacts/logs/stages.txt.
# Safe to call from parallel lanes (each line is one short append).
run_logged() {
  local name=$1; shift
  local log="artifacts/logs/$name.log" t0 t1 rc secs
  printf '[test] %-34s ...\n' "$name"
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  if [ $rc -eq 0 ]; then
    printf '[test] %-34s ok    %7ss\n' "$name" "$secs"
    printf '%-34s ok    %7ss\n' "$name" "$secs" >>artifacts/logs/stages.txt
  else
    printf '[test] %-34s FAILED %6ss (log: %s)\n' "$name" "$secs" "$log"
    tail -n 60 "$log" | sed 's/^/    | /'
    printf '%-34s FAILED %6ss\n' "$name" "$secs" >>artifacts/logs/stages.txt
  fi
  return $rc
}

stage() {  # stage NAME COMMAND... : run_logged, and stop the suite when it fails
  run_logged "$@" || finish 1
}

# molecule_lane SCENARIO... : the scenarios one after the other; all run, fails if any failed.
# shellcheck disable=SC2317  # called from the lanes run in the background
molecule_lane() {
  local rc=0 name
  for name in "$@"; do
    run_logged "molecule-$name" molecule test -s "$name" || rc=1
  done
  return "$rc"
}

# Test counts from the pytest summary lines of every stage's log (pytest stages and molecule's
# testinfra verify); a stage that failed without such a line (lint, a molecule step) counts as one
# failure, so the closing line never reports a failed run as all passed.
# plain LOG: the log without colours and without the frame molecule draws around ansible's output.
plain() {
  sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[[:space:]]*│[[:space:]]*//' "$1"
}

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
    done < <(plain "$log" | grep -E '^(=+ )?[0-9]+ (passed|failed|error|errors|skipped)[^=]* in [0-9.]+s')
  done
  # A stage that failed without a pytest summary line (lint, a molecule step) counts as one failure.
  while read -r name verdict _; do
    [ "$verdict" = FAILED ] || continue
    plain "artifacts/logs/$name.log" | grep -qE '^(=+ )?([0-9]+ [a-z]+, )*[0-9]+ (failed|error)' ||
      failed=$((failed + 1))
  done < <(cat artifacts/logs/stages.txt 2>/dev/null)
  echo "$passed passed, $failed failed, $skipped skipped"
}

finish() {
  echo "[test] ---- summary ($(( $(date +%s) - started )) s in all) ----"
  sed 's/^/[test] /' artifacts/logs/stages.txt
  # The standing fault suite's figure (tests/integration/test_faults_survived.py).
  grep -h '^faults survived: ' artifacts/logs/pytest-integration*.log 2>/dev/null | sed 's/^/[test] /'
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
  # The example site as operators type it from the repository root (edge -> inventories/edge).
  ansible-inventory -i edge --graph slm_fleet || return 1
}

stage yamllint yamllint -s .
stage ansible-lint ansible-lint --strict  # warnings fail too: the production profile must pass, not just "min"
stage syntax-check syntax_check
stage ansible-test-sanity scripts/ansible-test-sanity.sh
[ "$only" = lint ] && finish 0

# Everything else runs in five lanes at once. Most of their time is spent waiting on package
# installs, image loads and engines starting, so five lanes share 2 cores, and the unit and engine
# tests no longer hold everything else up for ~10 minutes. The lanes are packed to end together, from
# minutes measured with five lanes on 2 cores (molecule: default 31, engine_ollama 27, engine_vllm
# 23, engine_onnx 22, container_runtime 6, preflight 2; pytest: unit 8, engine 14, the EE 2;
# integration: the site cache and -vvv 15, the pull agent 5, the fault suite and the short modules
# 48, the rollouts 57), and the two molecule scenarios that load the 4 GB vLLM image into a nested engine run at
# different times (default first in its lane, engine_vllm after ~25 min).
# A lane goes on after a failure, so one run reports every failure. A new molecule scenario joins
# the third lane and a new integration module the fifth: nothing is ever skipped.
# test_ee_site.py (site.yml inside the execution environment, ~25 min) runs with `make test-ee`; its
# documented subset, test_ee_preflight.py, runs once the third lane has built the EE.
it=tests/integration
integration_rollouts=("$it/test_site_rollout.py" "$it/test_site_refuses_undersized_host.py"
                      "$it/test_slm_release_bad_manifest.py")
integration_cache=("$it/test_site_cache.py" "$it/test_site_secrets_at_vvv.py" "$it/test_pull_agent.py")
integration_rest=(--ignore="$it/test_ee_site.py" --ignore="$it/test_ee_preflight.py")
for module in "${integration_rollouts[@]}" "${integration_cache[@]}"; do
  integration_rest+=("--ignore=$module")
done
molecule_first=(default)
molecule_first_after_cache=(container_runtime)
molecule_second=(engine_ollama engine_onnx)
molecule_third=(engine_vllm preflight)
for scenario in ${MOLECULE_SCENARIOS:-extensions/molecule/*/molecule.yml}; do
  name=$(basename "$(dirname "$scenario")")
  case " ${molecule_first[*]} ${molecule_first_after_cache[*]} ${molecule_second[*]} ${molecule_third[*]} " in
    *" $name "*) ;;
    *) molecule_third+=("$name") ;;
  esac
done
if [ -n "${MOLECULE_SCENARIOS:-}" ]; then  # only the scenarios asked for
  keep() { local n; for n in "$@"; do [[ " $MOLECULE_SCENARIOS " == *"/$n/"* ]] && printf '%s\n' "$n"; done; }
  mapfile -t molecule_first < <(keep "${molecule_first[@]}")
  mapfile -t molecule_first_after_cache < <(keep "${molecule_first_after_cache[@]}")
  mapfile -t molecule_second < <(keep "${molecule_second[@]}")
  mapfile -t molecule_third < <(keep "${molecule_third[@]}")
fi

# The five lanes. Each goes on after a failure (so one run reports every failure) and fails if any
# of its stages failed.
# shellcheck disable=SC2317  # these run in the background below
lane_default_cache_runtime() {
  local rc=0
  molecule_lane "${molecule_first[@]}" || rc=1
  run_logged pytest-integration-cache pytest -q --durations=0 "${integration_cache[@]}" || rc=1
  molecule_lane "${molecule_first_after_cache[@]}" || rc=1
  return "$rc"
}
# shellcheck disable=SC2317
lane_engines() {
  molecule_lane "${molecule_second[@]}"
}
# shellcheck disable=SC2317
lane_python_ee_then_molecule() {
  local rc=0
  run_logged pytest-unit pytest -q --durations=15 tests/unit || rc=1
  run_logged pytest-engine pytest -q --durations=15 tests/engine || rc=1
  if run_logged ee-build scripts/build-ee.sh; then
    run_logged pytest-ee pytest -q "$it/test_ee_preflight.py" || rc=1
  else
    rc=1
  fi
  molecule_lane "${molecule_third[@]}" || rc=1
  return "$rc"
}
# shellcheck disable=SC2317
lane_rollouts() {
  run_logged pytest-integration-rollouts pytest -q --durations=0 "${integration_rollouts[@]}"
}
# shellcheck disable=SC2317
lane_integration() {
  run_logged pytest-integration pytest -q --durations=0 "$it" "${integration_rest[@]}"
}

pids=()
for run in lane_default_cache_runtime lane_engines lane_python_ee_then_molecule lane_rollouts lane_integration; do
  "$run" & pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do
  wait "$pid" || rc=1
done
finish "$rc"
