#!/usr/bin/env bash
# Installs the npm packages of a folder from its committed package-lock.json, only when
# node_modules is missing or older than the lock file (npm ci writes
# node_modules/.package-lock.json), so that a second run costs nothing and no network.
# Usage: scripts/npm-ci.sh DIR
set -euo pipefail
dir=${1:?usage: scripts/npm-ci.sh DIR}
cd "$dir"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm-ci: npm is missing (scripts/install-deps.sh installs nodejs and npm)" >&2
  exit 1
fi
echo "npm-ci: installing the npm packages of $dir"
npm ci --no-audit --no-fund --loglevel=error
