#!/usr/bin/env bash
# The test command (README: `npm test`): set-up, then every test tier, then one summary line.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p out/test
phase() { echo "== phase $1: $2 s"; }

t=$SECONDS
bash scripts/setup.sh || { echo "setup failed"; exit 1; }
phase setup $((SECONDS - t))

lint_rc=0
if [ $# -eq 0 ]; then
  t=$SECONDS
  bash scripts/with-env.sh bash -c 'eslint . && prettier --check . --log-level warn' || lint_rc=1
  phase lint $((SECONDS - t))
fi

# Pure tests run in parallel; integration tests start ROS graphs and count messages, so
# they run one file at a time to keep two cores from starving their timers.
vitest_rc=0
t=$SECONDS
if [ $# -gt 0 ]; then
  bash scripts/with-env.sh vitest run --reporter=default --reporter=json --outputFile.json=out/test/vitest-unit.json "$@" || vitest_rc=1
  rm -f out/test/vitest-integration.json
else
  bash scripts/with-env.sh vitest run --reporter=default --reporter=json --outputFile.json=out/test/vitest-unit.json \
    --exclude 'tests/integration/**' || vitest_rc=1
  phase vitest-unit $((SECONDS - t))
  t=$SECONDS
  bash scripts/with-env.sh vitest run --reporter=default --reporter=json --outputFile.json=out/test/vitest-integration.json \
    --no-file-parallelism tests/integration || vitest_rc=1
  phase vitest-integration $((SECONDS - t))
fi

t=$SECONDS
py_dirs=()
for d in sim/tests models/tools/tests; do [ -d "$d" ] && py_dirs+=("$d"); done
pytest_rc=0
if [ ${#py_dirs[@]} -gt 0 ] && [ $# -eq 0 ]; then
  bash scripts/with-env.sh bash -c 'exec "$BLM_PYTHON" -m pytest -q -p no:cacheprovider --junitxml=out/test/pytest.xml "$@"' _ "${py_dirs[@]}"
  pytest_rc=$?
fi
phase pytest $((SECONDS - t))

node scripts/test-summary.mjs out/test/vitest-unit.json out/test/vitest-integration.json out/test/pytest.xml
[ $lint_rc -eq 0 ] || echo "lint failed (eslint/prettier above)"
[ $lint_rc -eq 0 ] && [ $vitest_rc -eq 0 ] && [ $pytest_rc -eq 0 ]
