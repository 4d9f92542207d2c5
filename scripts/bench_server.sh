#!/usr/bin/env bash
# Serving benchmarks with wrk on loopback (figures go to docs/benchmarks.md).
#   scripts/bench_server.sh [ITEMS] [USERS] [EVENTS]     default 100000 50000 1000000
#   SIMILAR_ONLY=1 scripts/bench_server.sh                similar items only, three runs per load
# Starts `aisle serve --demo` with a 64-factor iALS model on a fresh store, then measures:
# recommendations with a category filter, similar items, event batches of 1,000, and
# recommendations while models are trained and swapped in (non-2xx must be 0).
# STORE_URL=postgres://... runs the same on PostgreSQL (an empty database or schema, e.g.
# postgres://postgres@127.0.0.1:55432/aisle_test?schema=bench_1) instead of a fresh embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-100000}; USERS=${2:-50000}; EVENTS=${3:-1000000}
PORT=${PORT:-8090}; DUR=${DUR:-20s}; CONN=${CONN:-16}
BIN=${BIN:-target/release/aisle}
DIR=$(mktemp -d /tmp/aisle-bench.XXXX)
# iALS, as the issue-4 figures were measured (the default, auto, would pick by validation and
# then train its slow follow-up during the measurements).
export AISLE_TRAINING__INTERVAL_S=0 AISLE_LOG__LEVEL=warn AISLE_MODEL__NAME=${MODEL:-ials}
if [ -n "${STORE_URL:-}" ]; then STORE=(--store-url "$STORE_URL"); else STORE=(--data-dir "$DIR"); fi
$BIN serve --demo --demo-items "$ITEMS" --demo-users "$USERS" --demo-events "$EVENTS" --demo-categories 50 \
  "${STORE[@]}" --listen 127.0.0.1:$PORT 2> "$DIR/serve.log" &
PID=$!
# KEEP=1 keeps the store directory (printed at the end), e.g. to time a restart on it.
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; if [ -n "${KEEP:-}" ]; then echo "store kept: $DIR"; else rm -rf "$DIR"; fi' EXIT
until curl -sf localhost:$PORT/health/ready > /dev/null; do sleep 1; kill -0 $PID; done
echo "ready after $SECONDS s; server RSS $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}') at peak so far"
cat "$DIR/serve.log"
cats=$(curl -s "localhost:$PORT/v1/items?limit=1000" | python3 -c '
import json,sys,urllib.parse as u; d=json.load(sys.stdin)
print(",".join(sorted({"\"%s\"" % u.quote(i["categories"][-1], safe="") for i in d["items"]})))')
head="USERS=$USERS ITEMS=$ITEMS CATEGORIES={$cats}"
for s in recs similar events; do { echo "$head"; cat scripts/wrk/$s.lua; } > "$DIR/$s.lua"; done
echo "== warm-up"; wrk -t2 -c$CONN -d5s -s "$DIR/recs.lua" http://127.0.0.1:$PORT > /dev/null
echo "== GET recommendations (n=10, category filter)"; wrk -t2 -c$CONN -d$DUR --latency -s "$DIR/recs.lua" http://127.0.0.1:$PORT
if [ -n "${RECS_ONLY:-}" ]; then   # RECS_ONLY=1: recommendations and event batches only
  echo "== POST events, batches of 1000"; wrk -t2 -c4 -d$DUR --latency -s "$DIR/events.lua" http://127.0.0.1:$PORT
  exit 0
fi
if [ -n "${SIMILAR_ONLY:-}" ]; then   # SIMILAR_ONLY=1: similar items (and paced recommendations), three runs
  # Paced: each connection waits PACE_MS after every answer, so the rate is about
  # connections / (PACE_MS + latency) instead of as fast as the two shared cores allow.
  for s in similar recs; do { cat "$DIR/$s.lua"; echo "delay = function() return ${PACE_MS:-2} end"; } > "$DIR/$s-paced.lua"; done
  for r in 1 2 3; do
    echo "== GET similar items (n=10), paced, 8 connections, run $r"; wrk -t2 -c8 -d$DUR --latency -s "$DIR/similar-paced.lua" http://127.0.0.1:$PORT
    echo "== GET similar items (n=10), 2 connections, run $r"; wrk -t1 -c2 -d$DUR --latency -s "$DIR/similar.lua" http://127.0.0.1:$PORT
    echo "== GET similar items (n=10), run $r"; wrk -t2 -c$CONN -d$DUR --latency -s "$DIR/similar.lua" http://127.0.0.1:$PORT
    echo "== GET recommendations (n=10, category filter), paced, 12 connections, run $r"; wrk -t2 -c12 -d$DUR --latency -s "$DIR/recs-paced.lua" http://127.0.0.1:$PORT
  done
  grep -o '"similar_[a-z_0-9]*":[0-9.]*' <(curl -s localhost:$PORT/v1/models) || true
  echo "server-side time of the similar-items route (cumulative buckets, all runs):"
  curl -s localhost:$PORT/metrics | grep 'aisle_http_request_duration_seconds_bucket' | grep similar || true
  echo "server peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}'); store on disk: $(du -sh "$DIR" | cut -f1)"
  exit 0
fi
echo "== GET similar items (n=10), 2 connections"; wrk -t1 -c2 -d$DUR --latency -s "$DIR/similar.lua" http://127.0.0.1:$PORT
echo "== GET similar items (n=10)"; wrk -t2 -c$CONN -d$DUR --latency -s "$DIR/similar.lua" http://127.0.0.1:$PORT
echo "== POST events, batches of 1000"; wrk -t2 -c4 -d$DUR --latency -s "$DIR/events.lua" http://127.0.0.1:$PORT
echo "== GET recommendations while models are trained and swapped"
( sleep 2; for v in 1 2 3; do
    curl -s -XPOST localhost:$PORT/v1/admin/train -H 'content-type: application/json' -d '{"wait":true,"force":true}' \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  trained v%s in %.1f s" % (d["model"]["version"], d["seconds"]))'
    curl -s -XPOST localhost:$PORT/v1/admin/models/1/activate > /dev/null && echo "  activated v1"
  done ) &
SWAP=$!
wrk -t2 -c$CONN -d${SWAP_DUR:-60s} --latency -s "$DIR/recs.lua" http://127.0.0.1:$PORT
wait $SWAP
curl -s localhost:$PORT/v1/models | python3 -c 'import json,sys; d=json.load(sys.stdin); print("serving", d["serving_version"], "of", [m["version"] for m in d["models"]])'
