#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/deps.txt (and scripts/deps-fuzz.txt with --fuzz).
# Runs apt-get only when something is missing, so repeated runs are fast.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lists=("$here/deps.txt")
[[ "${1:-}" == "--fuzz" ]] && lists+=("$here/deps-fuzz.txt")
missing=()
for f in "${lists[@]}"; do
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="${pkg// /}"
    [[ -z "$pkg" ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$f"
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
