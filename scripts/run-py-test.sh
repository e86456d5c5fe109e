#!/usr/bin/env bash
# Runs one tests/python suite with the test venv's interpreter (ctest's py.* tests). Exit 77 = skipped.
set -u
venv=${TC_TEST_VENV:?}
if [[ -f "$venv/UNAVAILABLE" || ! -x "$venv/bin/python" ]]; then
  echo "skipped: the Python test venv is unavailable: $(cat "$venv/UNAVAILABLE" 2>/dev/null || echo "no $venv")"
  exit 77
fi
exec "$venv/bin/python" "$@"
