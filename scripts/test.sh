#!/usr/bin/env bash
# The whole test suite: bootstrap, lint, unit tests, every Molecule
# scenario. Prints each stage's wall time and ends with one summary line,
# "summary: N passed, N failed, N skipped" (tests and stages; a skip is
# counted and its reason printed, never silent).
#   bash scripts/test.sh                      # everything (what CI runs)
#   CARIBIX_SCENARIOS="base" bash scripts/test.sh   # only these scenarios
#   CARIBIX_SCENARIOS=none bash scripts/test.sh     # lint + unit only
#   CARIBIX_SKIP_UNIT=1 ...                         # skip lint + unit (CI's per-scenario jobs)
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export ANSIBLE_CONFIG="$repo/ansible.cfg"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1
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

# Molecule: leftover containers and networks of earlier runs go first.
if [ "${CARIBIX_SCENARIOS:-all}" != none ]; then
  docker ps -aq --filter label=owner=molecule | xargs -r docker rm -f >/dev/null
  docker network ls -q --filter label=owner=molecule | xargs -r docker network rm >/dev/null 2>&1 || true
  if [ "${CARIBIX_SCENARIOS:-all}" = all ]; then
    scenarios=$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml | cut -d/ -f2 | sort)
  else
    scenarios=$CARIBIX_SCENARIOS
  fi
  for scenario in $scenarios; do
    log="artifacts/molecule-$scenario.log"
    run_stage "molecule: $scenario" bash -c "molecule test -s '$scenario' > '$log' 2>&1; rc=\$?; tail -n 40 '$log'; exit \$rc"
    # The verify step's own pytest summary: its skips count too.
    verify_skipped=$(grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|deselected).* in [0-9.]+s' "$log" | grep -oE '[0-9]+ skipped' | awk '{n += $1} END {print n + 0}')
    skipped=$((skipped + ${verify_skipped:-0}))
  done
fi

printf '\n===== wall time per stage =====\n'
printf '%s\n' "${timings[@]}"
printf '%-34s %5ss\n' "total" $((SECONDS - suite_start))
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[*]}"
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
