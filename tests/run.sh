#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is needed, build with
# -Werror, run the unit tests (Criterion) and the integration tests (real
# origin processes, real ffmpeg/rtmpdump/GStreamer clients), then a bounded
# libFuzzer smoke run of every parser under ASan/UBSan.
#   SC_FUZZ_SECONDS=N   seconds per fuzz target (default 20, 0 skips)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./tests/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -DSC_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure --timeout 600 -j2 -L unit
ctest --test-dir build --output-on-failure --timeout 600 -L integration

fuzz_seconds=${SC_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" -gt 0 ]; then
  CC=clang cmake -S . -B build-fuzz -DSC_FUZZ=ON -DSC_TESTS=OFF -DSC_WERROR=ON >/dev/null
  cmake --build build-fuzz -j"$jobs"
  "$root/tests/fuzz/run.sh" build-fuzz "$fuzz_seconds"
fi
echo "all tests passed"
