#!/usr/bin/env bash
# Scale test (DESIGN.md §7): COUNT concurrently open event streams (waiting users) against
# one waitroom process, its memory per stream, and the time to push an admission to the
# right stream while all are open. Both processes get a raised descriptor limit (ulimit -n,
# as root); the load tester spreads its sockets over 127.0.0.2-127.0.0.N so that the
# ephemeral ports (about 28,000 per source address) do not run out. Bounded: the load
# tester stops itself after SCALE_SECONDS, and the server is killed on exit.
#
# Usage: bench/scale.sh [BUILD_DIR] [COUNT] [JSON_OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
count=${2:-${SCALE_STREAMS:-20000}}
json=${3:-}
seconds=${SCALE_SECONDS:-300}
# One source address per 20,000 streams, at least 2 (the loopback net is all local).
addresses=$(((count + 19999) / 20000 + 1))
last=$((1 + addresses))
fds=$((count + 10000))
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

ulimit -n "$fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Without CAP_SYS_RESOURCE (a container) the hard limit cannot be raised: each of the two
# processes then holds at most that many sockets, so say so and measure what fits.
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ $((count + 1000)) -gt "$limit" ]; then
  echo "note: descriptor limit $limit (hard limit, not raisable here) < $count streams + 1000;" \
    "measuring $((limit - 1000)) streams instead"
  count=$((limit - 1000))
fi
# One slot, held by the load tester's first user; every stream after it waits. Long
# sessions and drafts so that nothing expires during the run; no presence timeout (each
# waiting user is present through its stream anyway).
"$build/waitroom" serve --host 127.0.0.1 --port 0 --ephemeral --log-level warn \
  --max-active-users 1 --session-duration 1h --draft-duration 1h --presence-timeout 0 \
  >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|^waitroom listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/stdout")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start:" >&2; cat "$work/stderr" >&2; exit 1; }

"$build/waitroom" load-test streams --url "http://127.0.0.1:$port" --count "$count" \
  --source-addresses "127.0.0.2-127.0.0.$last" --server-pid "$server_pid" --samples 50 \
  --duration "$seconds" ${json:+--json "$json"} --progress-interval 10
