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

# lane SCENARIO... : molecule scenarios one after the other; stops at the first that fails.
# shellcheck disable=SC2317  # run in the background below
lane() {
  local name
  for name in "$@"; do
    run_logged "molecule-$name" molecule test -s "$name" || return 1
  done
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
  grep -h '^faults survived: ' artifacts/logs/pytest-integration-*.log 2>/dev/null | sed 's/^/[test] /'
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

# Everything else runs in five lanes at once: two lanes of molecule scenarios, the integration tests
# (real systemd hosts) split over two lanes, and the unit and engine tests followed by the execution
# environment and the short scenarios. Most of the lanes' time is spent waiting on package installs,
# image loads and engines starting, so five lanes share 2 cores, and the unit and engine tests no
# longer hold everything else up for ~10 minutes. Minutes measured on 2 cores (under load):
#   molecule: default 21-29, engine_vllm 19, engine_ollama 19-24, engine_onnx 16-23, container_runtime 5-6,
#   preflight 2; unit 4, engine 6-12; integration: the rollouts ~25, the fault suite ~15, the pull agent ~11.
# Scenarios are placed so that the lanes end together and so that the two scenarios that load the 4 GB
# vLLM image into a nested engine never do it at the same time. A scenario not in this table joins the
# third lane, and an integration module not named for the first integration lane runs in the second:
# nothing new is ever skipped.
declare -A lane_of=([default]=0 [engine_vllm]=0 [engine_ollama]=1 [engine_onnx]=1 [container_runtime]=2 [preflight]=2)
lanes=("" "" "")
for scenario in ${MOLECULE_SCENARIOS:-extensions/molecule/*/molecule.yml}; do
  name=$(basename "$(dirname "$scenario")")
  lanes[${lane_of[$name]:-2}]+=" $name"
done
integration_a=(tests/integration/test_site_rollout.py tests/integration/test_site_cache.py
               tests/integration/test_site_secrets_at_vvv.py tests/integration/test_slm_release_bad_manifest.py)
# test_ee_site.py (site.yml inside the execution environment, ~25 min) runs with `make test-ee`; its
# documented subset, test_ee_preflight.py, runs after the EE is built in the third lane.
not_b=(--ignore=tests/integration/test_ee_site.py --ignore=tests/integration/test_ee_preflight.py)
for module in "${integration_a[@]}"; do
  not_b+=("--ignore=$module")
done

# shellcheck disable=SC2317  # run in the background below
python_ee_then() {  # python_ee_then SCENARIO... : unit and engine tests, the EE and its job, then those scenarios
  run_logged pytest-unit pytest -q --durations=15 tests/unit || return 1
  run_logged pytest-engine pytest -q --durations=15 tests/engine || return 1
  run_logged ee-build scripts/build-ee.sh || return 1
  run_logged pytest-ee pytest -q tests/integration/test_ee_preflight.py || return 1
  lane "$@"
}

run_logged pytest-integration-a pytest -q --durations=0 "${integration_a[@]}" & pids=($!)
run_logged pytest-integration-b pytest -q --durations=0 tests/integration "${not_b[@]}" & pids+=($!)
# shellcheck disable=SC2086  # word splitting of the scenario lists is wanted
lane ${lanes[0]} & pids+=($!)
# shellcheck disable=SC2086
lane ${lanes[1]} & pids+=($!)
# shellcheck disable=SC2086
python_ee_then ${lanes[2]} & pids+=($!)
rc=0
for pid in "${pids[@]}"; do
  wait "$pid" || rc=1
done
finish "$rc"
