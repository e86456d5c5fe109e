#!/usr/bin/env bash
# HTTP throughput and latency of `tooncrafter serve` (the API layer, not the model), measured with wrk:
#   poll   : GET /v2/requests/{id}/status of a PROCESSING job (what every SDK client does once a second)
#   submit : POST /v2/tooncrafter (validation, API key, credit charge, job insert into SQLite)
# Usage: bench/bench_serve.sh [BINARY]   (default $TC_BINARY, else build/release/tooncrafter)
# Knobs (environment): DURATION=10s RUNS=3 CONNECTIONS=64 THREADS=2 AUTH=1 (0 = --no-auth)
#
# Why the worker is parked: on a GPU box the worker's heavy lifting happens on the GPU and the HTTP threads
# have the CPU to themselves. On a CPU-only machine the demo model's worker would eat the same cores that
# serve HTTP, so the numbers would measure the model. Every request here therefore names its images by URL on
# a local "tarpit" that accepts connections and never answers: the worker claims the first job and sits in
# its image fetch (idle, until the 30 s fetch timeout, then the next such job), every later submit stays
# QUEUED. Each run gets a fresh server and data directory, killed and deleted afterwards (nothing keeps
# running, the queue of thousands of benchmark jobs is dropped with the directory). Loopback only.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-${TC_BINARY:-$root/build/release/tooncrafter}}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
AUTH=${AUTH:-1}
lua=$root/bench/wrk_serve.lua

[[ -x $bin ]] || { echo "no tooncrafter binary at $bin (build it, or pass its path)" >&2; exit 2; }
command -v wrk > /dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 2; }
command -v python3 > /dev/null || { echo "python3 is needed for the tarpit and JSON parsing" >&2; exit 2; }

work=$(mktemp -d /tmp/tc-bench-serve.XXXXXX)
server_pid=""
tarpit_pid=""
cleanup() {
  # Only the processes this script started, by pid.
  [[ -n $server_pid ]] && { kill -KILL "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null; } || true
  [[ -n $tarpit_pid ]] && { kill "$tarpit_pid" 2> /dev/null; wait "$tarpit_pid" 2> /dev/null; } || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The tarpit: accepts, reads, never answers; holds at most a few hundred sockets.
tarpit_port=$(free_port)
python3 - "$tarpit_port" > /dev/null 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c); held = held[-256:]
EOF
tarpit_pid=$!

body=$(printf '{"image_1":"http://127.0.0.1:%s/k1.png","image_2":"http://127.0.0.1:%s/k2.png","max_width":256,"max_height":256,"steps":2}' \
  "$tarpit_port" "$tarpit_port")

start_server() {  # $1 = data dir; sets server_pid, port, key_header
  local dir=$1
  mkdir -p "$dir"
  port=$(free_port)
  local auth_args=(--no-auth)
  key_header=()
  if [[ $AUTH == 1 ]]; then
    auth_args=()
    local key
    key=$("$bin" keys create --name bench --credits 1000000000 --data-dir "$dir")
    key_header=(-H "x-api-key: $key")
  fi
  "$bin" serve --model demo --host 127.0.0.1 --port "$port" --data-dir "$dir" "${auth_args[@]}" \
    --allow-private-fetch 127.0.0.1/32 --rate-limit 0 > "$dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/health" > /dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2> /dev/null || { cat "$dir/server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "server not ready" >&2
  exit 1
}

stop_server() {
  kill -KILL "$server_pid" 2> /dev/null || true
  wait "$server_pid" 2> /dev/null || true
  server_pid=""
}

field() { sed -E "s/.* $1=([^ ]+).*/\1/"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }  # user + system, all threads

run_wrk() {  # $1 = mode, $2 = url; prints the RESULT line plus the server's CPU time per request
  local t0 t1 line n
  t0=$(cpu_ticks)
  line=$(TC_BENCH_MODE=$1 TC_BENCH_BODY=$body wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    "${key_header[@]}" -s "$lua" "$2" | tee -a "$work/wrk.txt" | grep '^RESULT')
  t1=$(cpu_ticks)
  n=$(field requests <<< "$line")
  echo "$line server_cpu_us_per_req=$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / (n > 0 ? n : 1) ))"
}


echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $bin; wrk -t$THREADS -c$CONNECTIONS -d$DURATION; auth=$AUTH; runs=$RUNS"
: > "$work/poll.txt"
: > "$work/submit.txt"
for run in $(seq 1 "$RUNS"); do
  dir=$work/run$run
  start_server "$dir"
  # The job the polls read: claimed by the worker, which then waits on the tarpit (PROCESSING).
  resp=$(curl -fs "${key_header[@]}" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/v2/tooncrafter")
  status_url=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["status_url"])' <<< "$resp")
  for _ in $(seq 1 100); do
    curl -fs "${key_header[@]}" "$status_url" | grep -q '"PROCESSING"' && break
    sleep 0.1
  done
  echo "run $run poll:   $(run_wrk poll "$status_url" | tee -a "$work/poll.txt")"
  echo "run $run submit: $(run_wrk submit "http://127.0.0.1:$port/v2/tooncrafter" | tee -a "$work/submit.txt")"
  queued=$(curl -fs "http://127.0.0.1:$port/metrics" | sed -n 's/^tooncrafter_queue_depth //p')
  echo "run $run: $queued jobs queued by the submit load (dropped with the run's data dir)"
  stop_server
  rm -rf "$dir"
done

echo
echo "medians of $RUNS runs (wrk -t$THREADS -c$CONNECTIONS -d$DURATION):"
for mode in poll submit; do
  f=$work/$mode.txt
  printf '%-7s req/s %8s   p50 %7s ms   p90 %7s ms   p99 %7s ms   server CPU %s us/req   non-2xx %s   socket errors %s\n' \
    "$mode" "$(field rps < "$f" | median)" "$(field p50_ms < "$f" | median)" "$(field p90_ms < "$f" | median)" \
    "$(field p99_ms < "$f" | median)" "$(field server_cpu_us_per_req < "$f" | median)" \
    "$(field non2xx < "$f" | median)" "$(field sock_errors < "$f" | median)"
done
