#!/usr/bin/env bash
# Installs the Debian packages that waitroom needs to build, run and test, and only the
# missing ones, so that a second run costs a second of dpkg queries and no apt call.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git clang-format
  libboost-dev libssl-dev nlohmann-json3-dev libspdlog-dev libcli11-dev
  libtomlplusplus-dev libhiredis-dev libsqlite3-dev
  chromium
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  redis-server wrk curl ca-certificates
  nginx
)
# The gate's tests run an express + socket.io app (test/upstream); Debian's node only when
# there is no node already (this kind of machine ships node 20).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
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

# nginx is here for the gate's forward-auth test and benchmark, which start their own nginx
# on a free port with their own config. Where installing it started the system service (on
# port 80), stop and disable that: nothing of waitroom's uses it.
if printf '%s\n' "${missing[@]}" | grep -qx nginx; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
    $sudo systemctl disable --now nginx || true
  elif command -v service >/dev/null 2>&1; then
    $sudo service nginx stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && $sudo update-rc.d nginx disable >/dev/null 2>&1 || true
  fi
fi
