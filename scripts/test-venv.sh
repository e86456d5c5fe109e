#!/usr/bin/env bash
# Creates (or refreshes) the Python venv of the test tooling: tests/python/requirements.txt from PyPI.
# Usage: test-venv.sh VENV_DIR. When PyPI cannot be reached the venv is marked unavailable (VENV_DIR/UNAVAILABLE
# holds pip's last lines) and the Python suites report skipped, not passed. Exits 0 either way.
set -uo pipefail
venv=$1
req="$(cd "$(dirname "$0")/.." && pwd)/tests/python/requirements.txt"
stamp="$venv/requirements.stamp"
if [[ -x "$venv/bin/python" && -f "$stamp" ]] && cmp -s "$req" "$stamp"; then
  exit 0  # up to date
fi
rm -f "$venv/UNAVAILABLE"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  mkdir -p "$venv"; echo "python3 -m venv failed (is python3-venv installed?)" > "$venv/UNAVAILABLE"; exit 0
fi
if ! log=$("$venv/bin/pip" install --disable-pip-version-check -q -r "$req" 2>&1); then
  printf 'pip install failed:\n%s\n' "$(tail -5 <<<"$log")" > "$venv/UNAVAILABLE"; exit 0
fi
cp "$req" "$stamp"
