#!/usr/bin/env bash
# Runs every fuzz_* driver in BUILD_DIR for SECONDS each on a copy of its seed
# corpus (tests/fuzz/corpus/<module>/); fails on the first crash and keeps the
# crashing input in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); module=${name#fuzz_}
  corpus="$build/fuzz-corpus/$module"
  mkdir -p "$corpus"
  [ -d "$root/tests/fuzz/corpus/$module" ] && cp -n "$root/tests/fuzz/corpus/$module"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$name-" "$corpus" >"$build/fuzz-artifacts/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -n 40 "$build/fuzz-artifacts/$name.log"; status=1
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$build/fuzz-artifacts/$name.log" | tail -n 2 || true
  fi
done
exit $status
