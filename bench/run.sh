#!/usr/bin/env bash
# `make bench`: the engine's micro-benchmarks (Google Benchmark) and HTTP benchmarks of
# the real binary on loopback (wrk), written to docs/BENCHMARKS.md with the machine, the
# commands and the date. Every run is bounded: BENCH_SECONDS per wrk run (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${BENCH_SECONDS:-10}
out=docs/BENCHMARKS.md
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Starts the server on a free loopback port with the given flags; sets $port.
start_server() {
  "$build/waitroom" serve --host 127.0.0.1 --port 0 --data-dir "$work/data" \
    --log-level warn "$@" >"$work/stdout" 2>"$work/stderr" &
  server_pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's|^waitroom listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/stdout")
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "server did not start:" >&2; cat "$work/stderr" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=""; rm -rf "$work/data"; }

# wrk with one script that generates requests (optional) and prints the RESULT line.
run_wrk() {  # threads connections url [request-script]
  cat bench/wrk/report.lua ${4:-} >"$work/script.lua"
  wrk -t"$1" -c"$2" -d"${seconds}s" --latency -s "$work/script.lua" "$3" | tee -a "$work/wrk.log" |
    sed -n 's/^RESULT //p'
}

{
  echo "# Benchmarks"
  echo
  echo "Produced by \`make bench\` (bench/run.sh) on $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)."
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs),"
  echo "$(free -g | awk '/Mem:/ {print $2}') GiB, $(lsb_release -ds 2>/dev/null || echo Debian)."
  echo "Targets are DESIGN.md §7. Each HTTP figure is one wrk run of ${seconds} s on loopback;"
  echo "wrk and the server share the 2 cores. This page is overwritten by each run; the targets,"
  echo "which are met and what bounds the others are in [PERFORMANCE.md](PERFORMANCE.md)."
  echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "## Engine (in process, one core)"
  echo
  echo '```'
  if [ -x "$build/bench/engine_bench" ]; then
    "$build/bench/engine_bench" --benchmark_min_time=0.5 2>&1 | grep -v '^\*\*\*'
  else
    echo "engine_bench not built"
  fi
  echo '```'
  echo
  echo "## HTTP, embedded store"
  echo
  echo "| what | server threads | wrk | requests/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|---|"
  for threads in 1 2; do
    start_server --threads "$threads"
    curl -fsS -X POST "http://127.0.0.1:$port/queue/join/bench-status" >/dev/null
    for wrk_threads in 1 2; do
      r=$(run_wrk "$wrk_threads" 64 "http://127.0.0.1:$port/queue/status/bench-status")
      eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
      echo "| GET /queue/status | $threads | -t$wrk_threads -c64 | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors |"
    done
    r=$(run_wrk 1 64 "http://127.0.0.1:$port" bench/wrk/join.lua)
    eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
    echo "| POST /queue/join (new ids) | $threads | -t1 -c64 | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors |"
    stop_server
  done
  echo
  echo "Commands: \`$build/waitroom serve --threads N\`, then"
  echo "\`wrk -tT -c64 -d${seconds}s --latency -s bench/wrk/report.lua http://127.0.0.1:PORT/queue/status/bench-status\`"
  echo "and \`wrk -t1 -c64 -d${seconds}s -s (report.lua + join.lua) http://127.0.0.1:PORT\`."
  echo
  echo "## Durability (embedded store, issue 4)"
  echo
  echo "Joins of new ids over HTTP with the journal (group commit, one fdatasync per batch) and"
  echo "with \`--ephemeral\` (nothing on disk). The data directory is under $work (the disk of /tmp)."
  echo
  echo "| store | server threads | wrk | joins/s | p50 ms | p99 ms | errors |"
  echo "|---|---|---|---|---|---|---|"
  for mode in durable ephemeral; do
    flags=()
    [ "$mode" = ephemeral ] && flags=(--ephemeral)
    start_server --threads 2 "${flags[@]}"
    r=$(run_wrk 1 64 "http://127.0.0.1:$port" bench/wrk/join.lua)
    eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
    echo "| $mode | 2 | -t1 -c64 | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors |"
    if [ "$mode" = durable ]; then
      kill "$server_pid"; wait "$server_pid" || true; server_pid=""
      joined_bytes=$(du -sb "$work/data" | cut -f1)
      echo "| (on disk after that run: $joined_bytes bytes in the data directory) | | | | | | |"
      rm -rf "$work/data"
    else
      stop_server
    fi
  done
  echo
  echo "Restart with 1,000,000 queued users (snapshot + a journal tail of 150,000 commits),"
  echo "bytes on disk per user, and group commit with 256 concurrent committers"
  echo "(\`$build/bench/durability_bench\`; target: restart < 2 s, DESIGN.md §7):"
  echo
  echo '```'
  if [ -x "$build/bench/durability_bench" ]; then
    "$build/bench/durability_bench" --dir "$work/durability" 2>&1
    rm -rf "$work/durability"
  else
    echo "durability_bench not built"
  fi
  echo '```'
  echo
  echo "## The gate (issue 3)"
  echo
  echo "Added latency of \`waitroom serve --upstream\` (1 server thread) against direct access"
  echo "to the same upstream, in the same run (\`bench/gate.sh $build\`; target: < 1 ms at p50 and"
  echo "a token within 10 ms, DESIGN.md §7): wrk on a 1 KiB file from nginx, directly and"
  echo "through the gate with an admitted user's cookie; then the delay of streamed SSE tokens."
  echo
  bench/gate.sh "$build" 2>/dev/null || echo "(bench/gate.sh failed)"
  echo
  # The Redis store: its own redis-server, the ceilings and the HTTP figures (issue 6).
  bench/redis.sh "$build" "$seconds" || echo "(bench/redis.sh failed)"
  echo
  echo "## Load test (simulated users, issue 5)"
  echo
  echo "\`waitroom load-test load\` against the server (2 threads, 20 slots, 10 s drafts and"
  echo "20 s sessions): people who join in batches, keep their event stream open, confirm after"
  echo "a reaction time (10% never do), stay, heartbeat, then leave (80%) or let the session end."
  echo
  start_server --threads 2 --ephemeral --max-active-users 20 --draft-duration 10s \
    --session-duration 20s
  load_args=(load --users "${LOAD_USERS:-400}" --batch-size 40 --delay 1s --reaction-time 0.2..2
    --stay 1..6 --heartbeat-interval 2 --no-confirm-ratio 0.1 --leave-ratio 0.8
    --duration "${LOAD_SECONDS:-120}" --seed 1 --progress-interval 30)
  echo '```'
  echo "\$ waitroom load-test ${load_args[*]} --url http://127.0.0.1:PORT"
  "$build/waitroom" load-test "${load_args[@]}" --url "http://127.0.0.1:$port" 2>/dev/null || true
  echo '```'
  stop_server
  echo
  echo "## Open event streams at scale (issue 5)"
  echo
  echo "\`bench/scale.sh $build ${SCALE_STREAMS:-20000}\` (SCALE_STREAMS=100000 for the DESIGN.md §7"
  echo "figure): that many waiting users, each with an open SSE stream, spread over several"
  echo "127.0.0.x source addresses; server memory per stream from its VmRSS; then the slot is"
  echo "freed 50 times and the admission timed to the right stream while all stay open."
  echo
  echo '```'
  bench/scale.sh "$build" "${SCALE_STREAMS:-20000}" 2>/dev/null || true
  echo '```'
} >"$work/report.md"
mv "$work/report.md" "$out"
cat "$out"
