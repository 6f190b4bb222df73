#!/usr/bin/env bash
# Installs the browser tests' npm packages (npm ci from the committed package-lock.json) when
# node_modules is missing or was installed from another lock file. Run by CTest before the
# e2e tests (the e2e_npm_ci fixture); two builds' test runs may call it at once, so it
# holds a lock. playwright-core downloads no browser: the tests drive Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "e2e: node and npm are needed (scripts/install-deps.sh installs them)" >&2
  exit 1
fi
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "e2e: ${CHROMIUM_PATH:-/usr/bin/chromium} is missing (scripts/install-deps.sh installs chromium)" >&2
  exit 1
fi

exec 9<package-lock.json
flock 9
stamp=node_modules/.waitroom-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "e2e: npm ci (node_modules missing or stale)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
