#!/usr/bin/env bash
# Installs GRETA's build and test dependencies from Debian's packages.
# Idempotent: does nothing (and prints nothing) when everything is present.
set -euo pipefail

packages=(meson ninja-build g++ pkg-config python3 libcatch2-dev libboost1.81-dev
          libsentencepiece-dev nlohmann-json3-dev libcli11-dev
          clang-19 llvm-19 libclang-rt-19-dev libamdhip64-dev rocm-device-libs)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# Catch2 v3 and clang-19 come from bookworm-backports.
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/greta-backports.list >/dev/null
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq -t bookworm-backports "${missing[@]}" >/dev/null
