#!/usr/bin/env bash
# Restarts `aisle serve` on a store kept by `KEEP=1 scripts/bench_server.sh` and measures the time
# to ready, then three rounds of recommendations (n=10, category filter) paced and at full speed
# (figures go to docs/benchmarks.md, "Big shops").
#   BIN=target/release/aisle D=/tmp/aisle-bench.XXXX [PACE_MS=6] [CONN=16] scripts/bench_restart.sh LABEL
# Other AISLE_* variables pass through (e.g. AISLE_CACHE__QUANTIZED_MIN_ITEMS=100000000: the exact scan).
set -uo pipefail
PORT=8091
export AISLE_TRAINING__INTERVAL_S=0 AISLE_LOG__LEVEL=warn AISLE_MODEL__NAME=ials
t0=$(date +%s.%N)
$BIN serve --data-dir "$D" --listen 127.0.0.1:$PORT 2> /tmp/restart-serve.log &
PID=$!
until curl -sf localhost:$PORT/health/ready > /dev/null; do sleep 0.2; kill -0 $PID || exit 1; done
t1=$(date +%s.%N)
echo "== $1: ready after $(python3 -c "print(round($t1 - $t0, 1))") s; RSS $(grep VmRSS /proc/$PID/status | awk '{print $2}') kB"
{ cat "$D/recs.lua"; echo "delay = function() return ${PACE_MS:-6} end"; } > /tmp/recs-paced.lua
wrk -t2 -c16 -d5s -s "$D/recs.lua" http://127.0.0.1:$PORT > /dev/null
for r in 1 2 3; do
  echo "-- paced ${CONN:-16} conns ${PACE_MS:-6} ms, run $r"; wrk -t2 -c${CONN:-16} -d20s --latency -s /tmp/recs-paced.lua http://127.0.0.1:$PORT | grep -E "99%|50%|Requests/sec|Non-2xx"
  echo "-- full speed -t2 -c16, run $r"; wrk -t2 -c16 -d20s --latency -s "$D/recs.lua" http://127.0.0.1:$PORT | grep -E "99%|50%|Requests/sec|Non-2xx"
done
echo "peak RSS $(grep VmHWM /proc/$PID/status | awk '{print $2}') kB"
curl -s localhost:$PORT/metrics | grep -E 'aisle_http_request_duration_seconds_bucket.*recommendations' | head -20
kill $PID; wait $PID
