#!/usr/bin/env bash
# The unit and integration suites under ASan+UBSan (-DSC_SANITIZE=ON), in
# build-asan. Sanitizer reports fail the run two ways: the test binaries and
# the servers the integration tests start abort on the first error
# (abort_on_error / halt_on_error), and since a server's exit status is not
# always checked by the tests, every log the tests leave (SC_KEEP_LOGS=1, all
# under a private TMPDIR) is scanned afterwards for a report.
#   SC_ASAN_BUILD_DIR=DIR   build directory (default build-asan)
#   SC_ASAN_UNIT_ONLY=1     skip the integration suite
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SC_ASAN_BUILD_DIR:-build-asan}
jobs=$(nproc)

cmake -S . -B "$build" -DSC_SANITIZE=ON -DSC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$jobs"

# Leaks are checked at exit; every report aborts so the process exits non-zero.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

logs=$(mktemp -d "${TMPDIR:-/tmp}/sc-asan-logs.XXXXXX")
export TMPDIR=$logs SC_KEEP_LOGS=1
# Instrumented servers are slower: give each integration file more time.
export SC_TEST_FILE_TIMEOUT=${SC_TEST_FILE_TIMEOUT:-280}

status=0
ctest --test-dir "$build" --output-on-failure --timeout 900 -j2 -L unit 2>&1 | tee "$logs/ctest-unit.log" || status=1
if [ "${SC_ASAN_UNIT_ONLY:-0}" != 1 ]; then
  # test_deploy_files checks the release binaries' linked libraries against
  # the Dockerfile (libasan is not one of them): nothing a sanitizer adds.
  ctest --test-dir "$build" --output-on-failure --timeout 600 -L integration -E '^integration/test_deploy_files$' 2>&1 |
    tee "$logs/ctest-integration.log" || status=1
fi

pattern='ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer|runtime error:'
findings=$(grep -rlaE "$pattern" "$logs" 2>/dev/null || true)
if [ -n "$findings" ]; then
  echo "sanitizer reports found in:"
  for f in $findings; do
    echo "----- $f"
    grep -aE -A25 "$pattern" "$f" | head -60
  done
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitizer run FAILED (logs kept in $logs)"
  exit 1
fi
rm -rf "$logs"
echo "sanitizer run passed"
