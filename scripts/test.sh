#!/usr/bin/env bash
# The test command of the README (and of CI): installs dependencies, builds the release preset (CUDA too when
# nvcc is present: compile and link only), runs every CPU suite, then builds and runs the same suites under
# ASan+UBSan. Ends with one summary line "total: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc)
log_dir=build/test-logs
mkdir -p "$log_dir"

run_preset() {
  local preset=$1
  shift
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs" --output-junit "$PWD/$log_dir/$preset.xml" "$@" || true
}

run_preset release
# Under ASan: every C++ suite (the server's in-process HTTP suites included), not the black-box Python suites
# (label "python"): they drive the release binary above, and a sanitised demo model would take most of CI's time.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 run_preset asan -LE python

python3 scripts/summarize_junit.py "$log_dir/release.xml" "$log_dir/asan.xml"
