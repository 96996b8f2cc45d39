#!/usr/bin/env bash
# The whole test suite: bootstrap, lint, unit tests, every Molecule
# scenario. Prints each stage's wall time and ends with one summary line,
# "summary: N passed, N failed, N skipped" (tests and stages; a skip is
# counted and its reason printed, never silent).
#   bash scripts/test.sh                      # everything (what CI runs)
#   CARIBIX_SCENARIOS="base" bash scripts/test.sh   # only these scenarios
#   CARIBIX_SCENARIOS=none bash scripts/test.sh     # lint + unit only
#   CARIBIX_SKIP_UNIT=1 ...                         # skip lint + unit (CI's per-scenario jobs)
#   CARIBIX_SERIAL=1 ...                            # one stage at a time (no lab lane beside)
# Two lanes run side by side: the island-lab scenarios (molecule/lab_*,
# which share scripts/lab.sh's state and run one after the other) in the
# background, and lint, unit tests and the per-role scenarios in front.
# Measured on the 2-core machine (docs/performance.md, "The suite's
# time"): each stage takes about 1.5x its time alone; the whole suite took
# 35 min on 7 Dec 2026 (81 min one stage at a time on 1 Dec). The lab
# lane's output goes to artifacts/lane-lab.log and is printed at the end.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export ANSIBLE_CONFIG="$repo/ansible.cfg"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
# CARIBIX_MITOGEN=1 runs the island labs' own Ansible runs (scripts/lab.sh)
# with mitogen: faster, but it breaks the member-change command's
# wait_for_connection, so it is off by default (docs/performance.md).
mkdir -p artifacts

passed=0
failed=0
skipped=0
failures=()
timings=()

# run_stage NAME COMMAND...: run, time, count; output goes to the console.
run_stage() {
  local name=$1; shift
  local start=$SECONDS
  printf '\n===== %s =====\n' "$name"
  if "$@"; then
    passed=$((passed + 1)); timings+=("$(printf '%-34s %5ss  ok' "$name" $((SECONDS - start)))")
  else
    failed=$((failed + 1)); failures+=("$name")
    timings+=("$(printf '%-34s %5ss  FAILED' "$name" $((SECONDS - start)))")
  fi
}

# run_scenario NAME: `molecule test -s NAME` as a stage, its log in
# artifacts/; the verify step's own pytest skips count too. Prints one
# result line "NAME SECONDS ok|FAILED SKIPPED" on fd 3 (the lanes' record).
run_scenario() {
  local scenario=$1 log="artifacts/molecule-$1.log" start=$SECONDS status=ok
  printf '\n===== molecule: %s =====\n' "$scenario"
  molecule test -s "$scenario" >"$log" 2>&1 || status=FAILED
  tail -n 40 "$log"
  local verify_skipped
  verify_skipped=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|deselected).* in [0-9.]+s' "$log" | grep -oE '[0-9]+ skipped' | awk '{n += $1} END {print n + 0}')
  printf '%s %s %s %s\n' "$scenario" $((SECONDS - start)) "$status" "${verify_skipped:-0}" >&3
}

# record_scenarios FILE: add run_scenario's result lines to the counts.
record_scenarios() {
  local scenario took status verify_skipped
  while read -r scenario took status verify_skipped; do
    timings+=("$(printf '%-34s %5ss  %s' "molecule: $scenario" "$took" "$status")")
    skipped=$((skipped + verify_skipped))
    if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("molecule: $scenario"); fi
  done <"$1"
}

suite_start=$SECONDS
run_stage bootstrap bash scripts/bootstrap.sh || true
if [ ! -x .venv/bin/ansible ]; then
  echo "bootstrap failed: no .venv; nothing else can run" >&2
  echo "summary: 0 passed, 1 failed, 0 skipped"
  exit 1
fi
# shellcheck disable=SC1091
source .venv/bin/activate
# shellcheck source=scripts/clock.sh
source scripts/clock.sh

# Molecule: leftover containers and networks of earlier runs go first.
lab_scenarios=""
role_scenarios=""
lab_lane_pid=""
if [ "${CARIBIX_SCENARIOS:-all}" != none ]; then
  docker ps -aq --filter label=owner=molecule | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter label=owner=molecule | xargs -r docker network rm >/dev/null 2>&1 || true
  if [ "${CARIBIX_SCENARIOS:-all}" = all ]; then
    scenarios=$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml | cut -d/ -f2 | sort)
  else
    scenarios=$CARIBIX_SCENARIOS
  fi
  # The labs alone fill their lane (7 Dec 2026: 35 min with the cut-off
  # island, against 32 for lint, unit tests and the role scenarios,
  # route_server among them).
  for scenario in $scenarios; do
    case $scenario in
      lab_*) lab_scenarios="$lab_scenarios $scenario" ;;
      *) role_scenarios="$role_scenarios $scenario" ;;
    esac
  done
  : >artifacts/lane-lab.results
  if [ -n "$lab_scenarios" ] && [ -z "${CARIBIX_SERIAL:-}" ]; then
    # lab_new_site last: it writes inventories/martinique, which the unit
    # tests (long finished by then) would otherwise see as an island.
    lab_scenarios=$(printf '%s\n' $lab_scenarios | sort | grep -v '^lab_new_site$'; printf '%s\n' $lab_scenarios | grep '^lab_new_site$' || true)
    lab_scenarios=$(echo $lab_scenarios)
    echo "lab lane (in the background, artifacts/lane-lab.log):" $lab_scenarios
    (
      for scenario in $lab_scenarios; do run_scenario "$scenario"; done
    ) >artifacts/lane-lab.log 2>&1 3>>artifacts/lane-lab.results &
    lab_lane_pid=$!
    trap 'kill -- -"$lab_lane_pid" 2>/dev/null || kill "$lab_lane_pid" 2>/dev/null' INT TERM
  else
    role_scenarios="$role_scenarios $lab_scenarios"
  fi
fi

if [ -z "${CARIBIX_SKIP_UNIT:-}" ]; then
run_stage "lint: yamllint" yamllint -s .
run_stage "lint: ansible-lint" ansible-lint -q
run_stage "lint: actionlint" actionlint .github/workflows/ci.yml

unit_start=$SECONDS
printf '\n===== unit tests =====\n'
# tests/unit only: tests/browser drives a browser against a deployed
# looking glass and runs in molecule/looking_glass's verify step.
pytest -q -p no:cacheprovider -rs tests/unit 2>&1 | tee artifacts/pytest.log
unit_rc=${PIPESTATUS[0]}
unit_line=$(grep -E '^[=]* ?[0-9]+ (passed|failed|skipped)' artifacts/pytest.log | tail -1)
unit_passed=$(grep -oE '[0-9]+ passed' <<<"$unit_line" | grep -oE '[0-9]+' || echo 0)
unit_skipped=$(grep -oE '[0-9]+ skipped' <<<"$unit_line" | grep -oE '[0-9]+' || echo 0)
unit_failed=0
for n in $(grep -oE '[0-9]+ (failed|errors?)' <<<"$unit_line" | grep -oE '[0-9]+'); do unit_failed=$((unit_failed + n)); done
passed=$((passed + ${unit_passed:-0})); failed=$((failed + ${unit_failed:-0})); skipped=$((skipped + ${unit_skipped:-0}))
if [ "$unit_rc" -ne 0 ] && [ "${unit_failed:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
[ "$unit_rc" -ne 0 ] && failures+=("unit tests")
timings+=("$(printf '%-34s %5ss  %s' "unit tests (${unit_passed:-0} passed, ${unit_skipped:-0} skipped)" $((SECONDS - unit_start)) "$([ "$unit_rc" -eq 0 ] && echo ok || echo FAILED)")")

# The AWX execution environment: built and tested only when its inputs
# differ from the ones last verified (images/ee/inputs.sha256) or with
# CARIBIX_EE=1 (docs/awx.md); a skip is counted as a skip.
run_stage "execution environment" bash -c 'bash scripts/ee.sh ci 2>&1 | tee artifacts/ee.log; exit ${PIPESTATUS[0]}'
if grep -q '^ee: skipped' artifacts/ee.log; then passed=$((passed - 1)); skipped=$((skipped + 1)); fi
fi

if [ "${CARIBIX_SCENARIOS:-all}" != none ]; then
  : >artifacts/lane-roles.results
  for scenario in $role_scenarios; do run_scenario "$scenario" 3>>artifacts/lane-roles.results; done
  record_scenarios artifacts/lane-roles.results
  if [ -n "$lab_lane_pid" ]; then
    printf '\n===== waiting for the lab lane: %s =====\n' "$(echo $lab_scenarios)"
    wait "$lab_lane_pid"
    cat artifacts/lane-lab.log
    record_scenarios artifacts/lane-lab.results
    missing=$(comm -23 <(printf '%s\n' $lab_scenarios | sort) <(cut -d' ' -f1 artifacts/lane-lab.results | sort))
    for scenario in $missing; do failed=$((failed + 1)); failures+=("molecule: $scenario (no result)"); done
  fi
fi

printf '\n===== wall time per stage =====\n'
printf '%s\n' "${timings[@]}"
printf '%-34s %5ss\n' "total" $((SECONDS - suite_start))
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
