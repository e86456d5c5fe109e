#!/usr/bin/env bash
# Prints the distribution packages that own the shared libraries a binary links directly (its DT_NEEDED
# entries), one per line: the Dockerfile's build stage runs it so the runtime stage installs exactly the
# runtime libraries of the build it ships, under whatever names the base distribution gives them (Debian and
# Ubuntu name runtime libs by soname, e.g. libavformat59 vs libavformat60), with no list kept by hand.
# Libraries of the CUDA toolkit (/usr/local/cuda*: provided by the nvidia/cuda runtime base image) and of the
# driver (libcuda, libnvidia-*: mounted by the NVIDIA container runtime) are left out. Any other library that
# does not resolve, or that no package owns, is an error: the image must not ship half its dependencies.
# Usage: runtime-packages.sh BINARY
set -euo pipefail
bin=${1:?usage: runtime-packages.sh BINARY}
[[ -x "$bin" ]] || { echo "runtime-packages: $bin is not an executable" >&2; exit 2; }

# soname -> resolved path, from the dynamic loader's view (ldd lists the transitive closure; we keep only the
# direct DT_NEEDED names: their packages pull in the rest through their own dependencies).
declare -A path_of=()
while read -r name arrow path _; do
  [[ "$arrow" == "=>" ]] && path_of[$name]=$path
done < <(ldd "$bin")

status=0
pkgs=()
while read -r soname; do
  path=${path_of[$soname]:-not}
  case "$soname" in
    libcuda.so*|libnvidia-*) continue ;;  # driver: comes from the host through the container runtime
  esac
  if [[ "$path" == not ]]; then
    echo "runtime-packages: $soname does not resolve" >&2; status=1; continue
  fi
  case "$path" in
    /usr/local/cuda*) continue ;;  # toolkit library: part of the nvidia/cuda runtime image
  esac
  # dpkg knows a file under the name its package ships it; with merged /usr that may be /usr/lib/... while the
  # loader reports /lib/..., or the versioned file behind the soname link: try each spelling.
  real=$(readlink -f "$path")
  owner=""
  for p in "$path" "/usr$path" "$real" "/usr$real" "${real#/usr}"; do
    owner=$(dpkg-query -S "$p" 2>/dev/null | head -n1 | cut -d: -f1) && [[ -n "$owner" ]] && break
  done
  if [[ -z "$owner" ]]; then
    echo "runtime-packages: no package owns $path ($soname)" >&2; status=1; continue
  fi
  case "$owner" in
    cuda-*|libcublas*|libcudart*) continue ;;  # toolkit packages installed outside /usr/local/cuda
  esac
  pkgs+=("$owner")
done < <(objdump -p "$bin" | awk '$1 == "NEEDED" { print $2 }')

((status == 0)) || exit "$status"
printf '%s\n' "${pkgs[@]}" | sort -u
