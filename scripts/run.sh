#!/usr/bin/env bash
# The main command of the README: installs dependencies, builds the release preset and runs `tooncrafter`
# with the given arguments (default: `serve` on embedded defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target tooncrafter
if (($# == 0)); then set -- serve; fi
exec build/release/tooncrafter "$@"
