#!/usr/bin/env bash
# Installs the Debian packages that waitroom needs to build, run and test, and only the
# missing ones, so that a second run costs a second of dpkg queries and no apt call.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git clang-format
  libboost-dev libssl-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libtomlplusplus-dev libhiredis-dev libsqlite3-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  redis-server wrk curl ca-certificates
  chromium
)
# The browser tests (test/e2e) run on node; the machine's own node is used when there is one
# (Debian 12's nodejs 18 is older than the node 20 that playwright-core 1.65 asks for; this
# project's machines come with node 20).
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "waitroom: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "waitroom: run as root (or install sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
