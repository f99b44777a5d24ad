#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is needed, build with
# -Werror, run the unit tests (Criterion) and the integration tests (real
# redis-server, origin and edge processes, real ffmpeg/rtmpdump/GStreamer
# clients), a 10-second smoke run of each benchmark program, the unit and
# integration suites again under ASan+UBSan, then a bounded libFuzzer run of
# every parser.
#   SC_FUZZ_SECONDS=N   seconds per fuzz target (default 25: 20 targets, 0 skips)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./tests/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DSC_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --timeout 600 -j2 -L unit
ctest --test-dir build --output-on-failure --timeout 600 -L integration
./bench/smoke.sh build
./tests/run-sanitizers.sh

fuzz_seconds=${SC_FUZZ_SECONDS:-25}
if [ "$fuzz_seconds" -gt 0 ]; then
  CC=clang cmake -S . -B build-fuzz -DSC_FUZZ=ON -DSC_TESTS=OFF -DSC_WERROR=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
  "$root/tests/fuzz/run.sh" build-fuzz "$fuzz_seconds"
fi
echo "all tests passed"
