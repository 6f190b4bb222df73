#!/usr/bin/env bash
# The Redis store's benchmarks (issue 6, DESIGN.md §7), as one Markdown section on stdout:
# joins of new ids and status polls over HTTP with `--store redis`, and in the same run, on
# the same redis-server, the ceilings: redis-benchmark running a two-command Lua script
# (SET + GET, the figure DESIGN.md quotes), and the engine's own join function called
# directly, alone and in batches of 16 as waitroom sends them under load. Each HTTP run also
# reports the CPU time per request of waitroom and of Redis (utime + stime from /proc, which
# does not count the kernel's network softirq work) and the time inside the engine's calls
# per request (INFO commandstats): what 2 cores must carry per join. The redis-server is started here, on a
# free loopback port in a temporary directory, with no persistence, and stopped on exit.
# Bounded: each wrk run lasts SECONDS, each redis-benchmark run a fixed request count.
#
# Usage: bench/redis.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-${BENCH_SECONDS:-10}}
work=$(mktemp -d)
server_pid=""
redis_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A port nothing listens on (bash's /dev/tcp fails to connect to a free one).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

start_server() {
  "$build/waitroom" serve --host 127.0.0.1 --port 0 --data-dir "$work/data" --log-level warn \
    --store redis --redis-url "redis://127.0.0.1:$redis_port" "$@" \
    >"$work/stdout" 2>"$work/stderr" &
  server_pid=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's|^waitroom listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/stdout")
    if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  echo "server did not start:" >&2
  cat "$work/stderr" >&2
  exit 1
}
stop_server() {
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  redis-cli -p "$redis_port" flushall >/dev/null
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Prints wrk's RESULT fields, then cpu_waitroom_us, cpu_redis_us and engine_us per request.
run_wrk() { # threads connections url [request-script]
  cat bench/wrk/report.lua ${4:-} >"$work/script.lua"
  redis-cli -p "$redis_port" config resetstat >/dev/null
  local server0 redis0 server1 redis1 result requests engine_usec
  server0=$(cpu_ticks "$server_pid")
  redis0=$(cpu_ticks "$redis_pid")
  result=$(wrk -t"$1" -c"$2" -d"${seconds}s" --latency -s "$work/script.lua" "$3" |
    sed -n 's/^RESULT //p')
  server1=$(cpu_ticks "$server_pid")
  redis1=$(cpu_ticks "$redis_pid")
  requests=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
  engine_usec=$(redis-cli -p "$redis_port" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_fcall:.*,usec=\([0-9]*\),.*/\1/p')
  awk -v r="$result" -v n="$requests" -v s=$((server1 - server0)) -v d=$((redis1 - redis0)) \
    -v e="${engine_usec:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      printf "%s cpu_waitroom_us=%.1f cpu_redis_us=%.1f engine_us=%.1f\n", r,
        s / hz / n * 1e6, d / hz / n * 1e6, e / n }'
}

# redis-benchmark's last summary line: "name: 94339.62 requests per second, p50=0.335 msec".
redis_bench() {
  redis-benchmark -p "$redis_port" -q "$@" 2>&1 | tr '\r' '\n' | grep 'requests per second' |
    tail -1 | sed 's/.*: \([0-9.]*\) requests per second, p50=\([0-9.]*\) msec/\1 \2/'
}

echo "## Redis store (issue 6)"
echo
echo "One redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on loopback, no persistence, started by"
echo "\`bench/redis.sh\`; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "The ceilings first, on the same Redis in the same run (redis-benchmark, 64 connections):"
echo
echo "| what | pipeline | requests/s | p50 ms |"
echo "|---|---|---|---|"
sha=$(redis-cli -p "$redis_port" script load "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])")
for pipeline in 1 16; do
  read -r rps p50 < <(redis_bench -n 400000 -c 64 -P "$pipeline" evalsha "$sha" 1 bench:key value)
  echo "| two-command Lua script (SET + GET), EVALSHA | $pipeline | $rps | $p50 |"
done
# The engine's join as one HTTP join calls it (FCALL, a new id each time, no credentials);
# the library is loaded by the first server start below, so start one now.
start_server --max-active-users 50
curl -fsS -X POST "http://127.0.0.1:$port/queue/join/warm-up" >/dev/null
stop_server
start_server --max-active-users 50
curl -fsS -X POST "http://127.0.0.1:$port/queue/join/warm-up" >/dev/null
function=$(redis-cli -p "$redis_port" function list | grep -o 'waitroom_[0-9a-f]*' | head -1)
now_ms=$(($(date +%s) * 1000))
for pipeline in 1 16; do
  read -r rps p50 < <(redis_bench -n 200000 -c 64 -P "$pipeline" -r 100000000 fcall "$function" 0 \
    waitroom: queue_status: join "$now_ms" bench-__rand_int__ '')
  echo "| the engine's join (FCALL $function join, new ids) | $pipeline | $rps | $p50 |"
done
# A batch of 16 joins in one call, as the store sends the joins that wait behind the call in
# flight: the figure counts calls, so joins/s is 16 times it.
batch=(batch 16)
for i in $(seq 1 16); do batch+=(4 join "$now_ms" "batch$i-__rand_int__" ''); done
read -r rps p50 < <(redis_bench -n 20000 -c 8 -P 1 -r 100000000 fcall "$function" 0 waitroom: \
  queue_status: "${batch[@]}")
echo "| the engine's join in batches of 16 (joins/s = 16 x calls/s) | 1 | $(awk -v r="$rps" 'BEGIN { printf "%.0f", r * 16 }') | $p50 |"
read -r rps p50 < <(redis_bench -n 200000 -c 64 -P 16 fcall "$function" 0 waitroom: \
  queue_status: poll "$now_ms" warm-up)
echo "| the engine's status poll (FCALL ... poll) | 16 | $rps | $p50 |"
stop_server
echo
echo "Then waitroom over HTTP with \`--store redis\` (wrk on the same machine, -c64, ${seconds} s):"
echo "one engine call in flight, the operations that arrive meanwhile leave as the next batch."
echo "CPU µs per request: waitroom's and Redis's utime + stime over the run (not the kernel's"
echo "network softirq work), and the time inside the engine's calls (INFO commandstats)."
echo
echo "| what | server threads | wrk | requests/s | p50 ms | p99 ms | errors | waitroom µs | Redis µs | engine µs |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for threads in 1 2; do
  start_server --threads "$threads" --max-active-users 50
  r=$(run_wrk 1 64 "http://127.0.0.1:$port" bench/wrk/join.lua)
  eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
  echo "| POST /queue/join (new ids) | $threads | -t1 -c64 | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors | $r_cpu_waitroom_us | $r_cpu_redis_us | $r_engine_us |"
  curl -fsS -X POST "http://127.0.0.1:$port/queue/join/bench-status" >/dev/null
  r=$(run_wrk 1 64 "http://127.0.0.1:$port/queue/status/bench-status")
  eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
  echo "| GET /queue/status | $threads | -t1 -c64 | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors | $r_cpu_waitroom_us | $r_cpu_redis_us | $r_engine_us |"
  stop_server
done
echo
echo "Commands: \`redis-benchmark -p PORT -q -n 400000 -c 64 -P {1,16} evalsha SHA 1 bench:key value\`;"
echo "\`redis-benchmark ... fcall FUNCTION 0 waitroom: queue_status: join NOW bench-__rand_int__ ''\` (and"
echo "\`batch 16\` followed by 16 \`4 join NOW ID ''\`, and \`poll NOW warm-up\`);"
echo "\`$build/waitroom serve --store redis --redis-url redis://127.0.0.1:PORT --threads N\`, then"
echo "\`wrk -t1 -c64 -d${seconds}s -s (report.lua + join.lua) http://127.0.0.1:PORT\` and"
echo "\`wrk -t1 -c64 -d${seconds}s -s report.lua http://127.0.0.1:PORT/queue/status/bench-status\`."
