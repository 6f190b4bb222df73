#!/usr/bin/env bash
# The gate's overhead (DESIGN.md §7: < 1 ms added at p50; a token within 10 ms), measured
# in one run against the same upstream, directly and through waitroom:
# - requests: nginx serving a small file (a fast, stable upstream), wrk directly and
#   through `waitroom serve --upstream` with an admitted user's cookie, at one connection
#   (pure latency) and at 32;
# - tokens: the node test app streaming SSE tokens stamped with their send time
#   (bench/token_delay.js), read directly and through the gate.
# Prints Markdown. Usage: bench/gate.sh [BUILD]; BENCH_SECONDS per wrk run (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${BENCH_SECONDS:-10}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
run_wrk() {  # connections url [header]
  cat bench/wrk/report.lua >"$work/script.lua"
  local header=()
  [ -n "${3:-}" ] && header=(-H "$3")
  wrk -t1 -c"$1" -d"${seconds}s" --latency -s "$work/script.lua" "${header[@]}" "$2" |
    sed -n 's/^RESULT //p'
}

nginx=/usr/sbin/nginx
[ -x "$nginx" ] || nginx=$(command -v nginx || true)
if [ -z "$nginx" ]; then echo "nginx is not installed: no gate benchmark"; exit 0; fi

# nginx serving a 1 KiB file, one worker, in the foreground with its own files.
mkdir -p "$work/nginx/html"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/nginx/html/file.txt"
nginx_port=$(free_port)
cat >"$work/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server { listen 127.0.0.1:$nginx_port; root $work/nginx/html; }
}
CONF
"$nginx" -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
pids+=($!)
wait_port "$nginx_port"

start_gate() {  # upstream_url -> sets gate_port and cookie
  : >"$work/gate.out"
  "$build/waitroom" serve --host 127.0.0.1 --port 0 --ephemeral --threads 1 --log-level warn \
    --upstream "$1" >"$work/gate.out" 2>"$work/gate.err" &
  gate_pid=$!
  pids+=($gate_pid)
  for _ in $(seq 1 100); do
    gate_port=$(sed -n 's|^waitroom listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/gate.out")
    [ -n "$gate_port" ] && break
    sleep 0.05
  done
  local ticket
  ticket=$(curl -fsS -X POST "http://127.0.0.1:$gate_port/_waitroom/queue/join/bench-user" |
    sed 's/.*"ticket":"\([^"]*\)".*/\1/')
  cookie="waitroom_ticket=$ticket"
  curl -fsS -X POST -b "$cookie" "http://127.0.0.1:$gate_port/_waitroom/queue/confirm/bench-user" >/dev/null
}

start_gate "http://127.0.0.1:$nginx_port"
echo "| path | wrk | requests/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|"
for connections in 1 32; do
  for path in direct gate; do
    if [ "$path" = direct ]; then
      r=$(run_wrk "$connections" "http://127.0.0.1:$nginx_port/file.txt")
    else
      r=$(run_wrk "$connections" "http://127.0.0.1:$gate_port/file.txt" "Cookie: $cookie")
    fi
    eval "$(echo "$r" | tr ' ' '\n' | sed 's/^/r_/')"
    echo "| $path (nginx, 1 KiB file) | -t1 -c$connections | $r_rps | $r_p50_ms | $r_p99_ms | $r_errors |"
  done
done
kill "$gate_pid"; wait "$gate_pid" 2>/dev/null || true

echo
scripts/npm-ci.sh test/upstream >/dev/null
: >"$work/app.out"
node test/upstream/server.js >"$work/app.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 1 100); do
  app_port=$(sed -n 's|^upstream listening on http://127.0.0.1:\([0-9]*\)$|\1|p' "$work/app.out")
  [ -n "$app_port" ] && break
  sleep 0.05
done
start_gate "http://127.0.0.1:$app_port"
echo "Streamed tokens (200 SSE tokens 20 ms apart, delay from the app's send time to arrival):"
echo
echo '```'
NODE_PATH=test/upstream/node_modules node bench/token_delay.js "http://127.0.0.1:$app_port" \
  "http://127.0.0.1:$gate_port" "$cookie" 200 20
echo '```'
