#!/usr/bin/env bash
# Soak test: a long mixed load on `aisle serve --demo` with the server's RSS sampled.
#   scripts/soak.sh                       10 minutes after a 120 s warm-up that includes a training,
#                                         demo shop 3,000 items / 2,000 users / 200,000 events,
#                                         embedded store
#   DURATION=3m WARMUP=30s scripts/soak.sh
# Steps: build release; start `aisle serve --demo` on a fresh data dir; warm up with the same
# mix; run wrk (scripts/wrk/soak.lua) for DURATION with a mix of
#   GET /v1/users/{u}/recommendations (plain, and with category / in_stock filters),
#   GET /v1/items/{i}/similar, GET /v1/popular, POST /v1/recommendations (session items),
#   POST /v1/events (batches of EVENT_BATCH random events with unique event ids);
# trigger one POST /v1/admin/train {"wait": false} halfway; sample VmRSS (and RssAnon, RssFile,
# threads, store file sizes and, with SCRAPE_METRICS=1, the /metrics gauges) every SAMPLE_S
# seconds into OUT/rss.csv. Prints total requests, non-2xx by status, latency p50/p99, RSS at
# warm-up end / end / max, growth after warm-up in % and the slope (MB/min) over the last
# 3 minutes. Exit 1 on any non-2xx response or socket error, or RSS growth over MAX_GROWTH_PCT.
#
# Settings (environment):
#   DURATION=10m WARMUP=120s SAMPLE_S=10     durations take s or m suffixes (or plain seconds)
#   ITEMS=3000 USERS=2000 EVENTS=200000 CATEGORIES=20   demo shop size
#   PORT=8097 THREADS=2 CONN=8               wrk settings
#   MIX=recs=30,recs_filtered=15,similar=20,popular=10,session=10,events=15   weights; 0 = off
#   EVENT_BATCH=20                           events per POST /v1/events
#   SCRAPE_METRICS=1                         GET /metrics at every sample (as Prometheus would);
#                                            0 = only at warm-up end and at the end
#   TRAIN_HALFWAY=1                          0 = no training during the run
#   TRAIN_WARMUP=1                           a training {"wait": true} a third into the warm-up
#                                            (the warm-up ends when it has finished); 0 = none
#   MAX_GROWTH_PCT=10  BUILD=1 (0 = use target/release/aisle as is)  OUT=dir (default: mktemp)
#   Any AISLE_* variable (config) and MALLOC_ARENA_MAX etc. reach the server unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

secs() { # 90 | 90s | 10m -> seconds
  case "$1" in
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
DURATION_S=$(secs "${DURATION:-10m}"); WARMUP_S=$(secs "${WARMUP:-120s}"); SAMPLE_S=$(secs "${SAMPLE_S:-10}")
ITEMS=${ITEMS:-3000}; USERS=${USERS:-2000}; EVENTS=${EVENTS:-200000}; CATEGORIES=${CATEGORIES:-20}
PORT=${PORT:-8097}; THREADS=${THREADS:-2}; CONN=${CONN:-8}
MIX=${MIX:-recs=30,recs_filtered=15,similar=20,popular=10,session=10,events=15}
EVENT_BATCH=${EVENT_BATCH:-20}; SCRAPE_METRICS=${SCRAPE_METRICS:-1}; TRAIN_HALFWAY=${TRAIN_HALFWAY:-1}
TRAIN_WARMUP=${TRAIN_WARMUP:-1}
MAX_GROWTH_PCT=${MAX_GROWTH_PCT:-10}
BIN=target/release/aisle
URL=http://127.0.0.1:$PORT
export AISLE_LOG__LEVEL=${AISLE_LOG__LEVEL:-warn}
export AISLE_TRAINING__INTERVAL_S=${AISLE_TRAINING__INTERVAL_S:-0}   # only the halfway training runs

if [ "${BUILD:-1}" = 1 ]; then
  echo "== cargo build --release -p aisle-cli"
  cargo build --release -p aisle-cli 2>&1 | tail -n 2
fi
command -v wrk > /dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/aisle-soak.XXXX)}
mkdir -p "$OUT"; rm -rf "$OUT/data"; : > "$OUT/serve.log"
CSV=$OUT/rss.csv
echo "== output in $OUT"

PID=; SAMPLER=; TRAINER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null
  [ -n "$TRAINER" ] && kill "$TRAINER" 2> /dev/null
  if [ -n "$PID" ] && kill -0 "$PID" 2> /dev/null; then kill "$PID"; wait "$PID" 2> /dev/null; fi
  rm -rf "$OUT/data"   # the store (hundreds of MB after a long soak); logs and CSV stay
}
trap cleanup EXIT

"$BIN" serve --demo --demo-items "$ITEMS" --demo-users "$USERS" --demo-events "$EVENTS" \
  --demo-categories "$CATEGORIES" --data-dir "$OUT/data" --listen "127.0.0.1:$PORT" >> "$OUT/serve.log" 2>&1 &
PID=$!
STARTED=$(date +%s)
until curl -sf "$URL/health/ready" > /dev/null; do
  kill -0 "$PID" 2> /dev/null || { echo "the server exited:"; cat "$OUT/serve.log"; exit 1; }
  sleep 1
done
echo "== ready after $(( $(date +%s) - STARTED )) s (pid $PID)"
grep -v '^\s*$' "$OUT/serve.log" | tail -n 6 | sed 's/^/   /'

# The catalog's categories, URL-encoded (GET) and as JSON strings (POST).
curl -s "$URL/v1/items?limit=1000" | python3 -c '
import json, sys, urllib.parse as u
d = json.load(sys.stdin)
cats = sorted({i["categories"][-1] for i in d["items"] if i.get("categories")})
print("CATEGORIES = {%s}" % ",".join("\"%s\"" % u.quote(c, safe="") for c in cats))
print("CATEGORIES_JSON = {%s}" % ",".join("[[%s]]" % json.dumps(c) for c in cats))' > "$OUT/soak.lua"
{
  echo "USERS = $USERS; ITEMS = $ITEMS; EVENT_BATCH = $EVENT_BATCH; RUN_TAG = \"$(date +%s)$$\""
  echo "MIX = {$MIX}"
  cat scripts/wrk/soak.lua
} >> "$OUT/soak.lua"

# One sample: CSV row of the server's memory, store files and (optionally) metrics gauges.
T0=0   # epoch seconds of the warm-up's end; samples before it have negative t
echo "epoch_s,phase,rss_mb,rss_anon_mb,rss_file_mb,rss_shmem_mb,hwm_mb,threads,db_mb,wal_mb,http_requests,history_cached_users,events,users" > "$CSV"
sample() { # phase scrape(0|1)
  local st now t rss anon file shm hwm thr db wal m req cached ev us
  st=$(cat "/proc/$PID/status" 2> /dev/null) || return 0
  t=$(date +%s.%N | cut -c1-12)
  kb() { awk -v k="$1:" '$1 == k { printf "%.1f", $2 / 1024 }' <<< "$st"; }
  rss=$(kb VmRSS); anon=$(kb RssAnon); file=$(kb RssFile); shm=$(kb RssShmem); hwm=$(kb VmHWM)
  thr=$(awk '$1 == "Threads:" { print $2 }' <<< "$st")
  db=$(du -m "$OUT/data/aisle.db" 2> /dev/null | cut -f1); wal=$(du -m "$OUT/data/aisle.db-wal" 2> /dev/null | cut -f1)
  req=; cached=; ev=; us=
  if [ "$2" = 1 ] && m=$(curl -s --max-time 5 "$URL/metrics"); then
    req=$(awk '/^aisle_http_requests_total/ { s += $NF } END { printf "%d", s }' <<< "$m")
    g() { awk -v k="$1" '$1 == k { printf "%d", $2 }' <<< "$m"; }
    cached=$(g aisle_history_cached_users); ev=$(g aisle_events); us=$(g aisle_users)
  fi
  echo "$t,$1,$rss,$anon,$file,$shm,$hwm,$thr,${db:-},${wal:-},$req,$cached,$ev,$us" >> "$CSV"
}
sampler() {
  while kill -0 "$PID" 2> /dev/null; do
    local phase=run; [ -f "$OUT/t0" ] || phase=warmup
    sample "$phase" "$SCRAPE_METRICS"
    sleep "$SAMPLE_S"
  done
}
# glibc's own account of the heap (printed on the server's stderr, after a marker line); with
# "trim", malloc_trim(0) then gives free memory back to the OS: what it releases was free inside
# the allocator, not held by aisle. MALLOC_DIAG=0 turns this off (it needs gdb).
malloc_diag() { # label [trim]
  [ "${MALLOC_DIAG:-1}" = 1 ] && command -v gdb > /dev/null || return 0
  echo "== malloc_stats $1" >> "$OUT/serve.log"
  local cmds=(-ex 'call (void) malloc_stats()')
  [ "${2:-}" = trim ] && cmds+=(-ex 'call (int) malloc_trim(0)')
  timeout 60 gdb -p "$PID" -batch "${cmds[@]}" >> "$OUT/gdb.log" 2>&1 || true
}
sample start 1
sampler & SAMPLER=$!

wrk_run() { # seconds output phase
  wrk -t"$THREADS" -c"$CONN" -d"$1"s --timeout 10s --latency -s "$OUT/soak.lua" "$URL" -- "$3" > "$2" 2>&1 || true
}
echo "== warm-up: ${WARMUP_S} s of the mix ($MIX, $EVENT_BATCH events per batch), $THREADS threads x $CONN connections"
WARMUP_TRAINER=
if [ "$TRAIN_WARMUP" = 1 ]; then
  # The first training after start-up fills what stays allocated afterwards (≈ 70 MB of live heap
  # on this shop, and glibc keeps the snapshot's freed pages); later trainings do not add to it.
  # The warm-up therefore includes one, and growth is measured from a state that has trained.
  ( sleep $(( WARMUP_S / 3 ))
    curl -s -o "$OUT/train-warmup.json" -w '%{http_code}\n' -XPOST "$URL/v1/admin/train" \
      -H 'content-type: application/json' -d '{"wait": true}' > "$OUT/train-warmup.status" ) &
  WARMUP_TRAINER=$!
fi
wrk_run "$WARMUP_S" "$OUT/wrk-warmup.txt" warmup
[ -n "$WARMUP_TRAINER" ] && { wait "$WARMUP_TRAINER" 2> /dev/null || true; }
date +%s.%N > "$OUT/t0"
sample warmup_end 1
malloc_diag warmup_end

if [ "$TRAIN_HALFWAY" = 1 ]; then
  ( sleep $(( DURATION_S / 2 ))
    sample train_start 1
    malloc_diag before_training
    code=$(curl -s -o "$OUT/train.json" -w '%{http_code}' -XPOST "$URL/v1/admin/train" \
      -H 'content-type: application/json' -d '{"wait": false}')
    echo "$(date +%s) $code" > "$OUT/train.status" ) &
  TRAINER=$!
fi
echo "== soak: ${DURATION_S} s (RSS every ${SAMPLE_S} s into $CSV)"
wrk_run "$DURATION_S" "$OUT/wrk.txt" run
kill "$SAMPLER" 2> /dev/null; wait "$SAMPLER" 2> /dev/null || true; SAMPLER=
[ -n "$TRAINER" ] && { wait "$TRAINER" 2> /dev/null || true; TRAINER=; }
sample end 1
malloc_diag end trim
sleep 1
[ "${MALLOC_DIAG:-1}" = 1 ] && command -v gdb > /dev/null && sample trimmed 0
ALIVE=1; kill -0 "$PID" 2> /dev/null || ALIVE=0
curl -s "$URL/v1/models" > "$OUT/models.json" || true
curl -s "$URL/metrics" > "$OUT/metrics-end.txt" || true

echo "== results"
FAIL=0
report_wrk() { # file label -> prints and returns non-2xx+socket errors via $BAD
  local f=$1
  BAD=0
  grep -q '^REQUESTS' "$f" || { echo "   wrk did not finish:"; sed 's/^/   /' "$f"; BAD=1; return; }
  local req; req=$(awk '$1 == "REQUESTS" { print $2 }' "$f")
  local sec; sec=$(awk '$1 == "SECONDS" { print $2 }' "$f")
  echo "   $2: $req requests in $sec s ($(awk -v r="$req" -v s="$sec" 'BEGIN { printf "%.0f", r / s }') req/s)"
  echo "   statuses: $(awk '$1 == "STATUS" { printf "%s=%s ", $2, $3 }' "$f")"
  local non2xx; non2xx=$(awk '$1 == "STATUS" && ($2 < 200 || $2 > 299) { n += $3 } END { print n + 0 }' "$f")
  echo "   non-2xx: $non2xx $(awk '$1 == "STATUS" && ($2 < 200 || $2 > 299) { printf "(%s: %s) ", $2, $3 }' "$f")"
  echo "   $(grep '^SOCKET_ERRORS' "$f")"
  echo "   latency ms: $(awk '$1 == "LATENCY_MS" { printf "%s=%s ", $2, $3 }' "$f")"
  local sock; sock=$(awk '$1 == "SOCKET_ERRORS" { for (i = 2; i <= NF; i++) { split($i, a, "="); n += a[2] } } END { print n + 0 }' "$f")
  BAD=$(( non2xx + sock ))
}
report_wrk "$OUT/wrk-warmup.txt" "warm-up"; [ "$BAD" = 0 ] || FAIL=1
report_wrk "$OUT/wrk.txt" "soak"; [ "$BAD" = 0 ] || FAIL=1
if [ "$TRAIN_WARMUP" = 1 ]; then
  echo "   warm-up training: HTTP $(cat "$OUT/train-warmup.status" 2> /dev/null || echo none) $(head -c 200 "$OUT/train-warmup.json" 2> /dev/null)"
fi
if [ "$TRAIN_HALFWAY" = 1 ]; then
  echo "   halfway training: HTTP $(cut -d' ' -f2 "$OUT/train.status" 2> /dev/null || echo none) $(head -c 200 "$OUT/train.json" 2> /dev/null)"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("   serving model v%s of %s" % (d["serving_version"], [m["version"] for m in d["models"]]))' "$OUT/models.json" || true
fi
[ "$ALIVE" = 1 ] || { echo "   the server is not running any more"; FAIL=1; }
python3 - "$CSV" "$MAX_GROWTH_PCT" "$DURATION_S" << 'EOF' || FAIL=1
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
limit, dur = float(sys.argv[2]), float(sys.argv[3])
f = lambda r, k: float(r[k]) if r[k] else None
base = next(r for r in rows if r["phase"] == "warmup_end")
for r in rows: r["t_s"] = "%.1f" % (float(r["epoch_s"]) - float(base["epoch_s"]))
end = next(r for r in rows if r["phase"] == "end")
run = [r for r in rows if r["phase"] in ("warmup_end", "run", "end")]
start = rows[0]
def slope(pts):  # least squares, MB per minute
    if len(pts) < 2: return float("nan")
    n = len(pts); mx = sum(x for x, _ in pts) / n; my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx * 60 if sxx else float("nan")
t_end = f(end, "t_s")
last3 = [(f(r, "t_s"), f(r, "rss_mb")) for r in run if f(r, "t_s") >= t_end - 180]
first3 = [(f(r, "t_s"), f(r, "rss_mb")) for r in run if f(r, "t_s") <= 180]
last3a = [(f(r, "t_s"), f(r, "rss_anon_mb")) for r in run if f(r, "t_s") >= t_end - 180]
b, e = f(base, "rss_mb"), f(end, "rss_mb")
growth = (e - b) / b * 100
print("   RSS MB: after start-up %.1f, at warm-up end %.1f, at the end %.1f, max %.1f (VmHWM %.1f)"
      % (f(start, "rss_mb"), b, e, max(f(r, "rss_mb") for r in rows), f(end, "hwm_mb")))
print("   RssAnon MB: warm-up end %.1f, end %.1f; RssFile MB: %.1f -> %.1f; threads %s -> %s"
      % (f(base, "rss_anon_mb"), f(end, "rss_anon_mb"), f(base, "rss_file_mb"), f(end, "rss_file_mb"), base["threads"], end["threads"]))
print("   store files MB: aisle.db %s -> %s, wal %s -> %s; events %s -> %s; history_cached_users %s -> %s"
      % (base["db_mb"], end["db_mb"], base["wal_mb"], end["wal_mb"], base["events"], end["events"],
         base["history_cached_users"], end["history_cached_users"]))
print("   growth after warm-up: %+.1f MB (%+.1f%%); slope %.2f MB/min over the first 3 min, %.2f MB/min over the last 3 min (RssAnon %.2f)"
      % (e - b, growth, slope(first3), slope(last3), slope(last3a)))
minute = {}
for r in run[:-1]: minute.setdefault(int(f(r, "t_s") // 60), r)
print("   RSS about every minute (t_s:MB):", " ".join("%d:%.0f" % (f(r, "t_s"), f(r, "rss_mb")) for r in list(minute.values()) + [end]))
tr = [r for r in rows if r["phase"] == "train_start"]
if tr:
    t_tr = f(tr[0], "t_s")
    before = [(f(r, "t_s"), f(r, "rss_mb")) for r in run if f(r, "t_s") <= t_tr]
    after = [r for r in run if f(r, "t_s") > t_tr]
    print("   training at t=%.0f s: RSS %.1f MB before it, %.1f MB at the next sample; slope %.2f MB/min before it, %.2f MB/min after it (from t=%.0f s)"
          % (t_tr, f(tr[0], "rss_mb"), f(after[0], "rss_mb") if after else float("nan"), slope(before),
             slope([(f(r, "t_s"), f(r, "rss_mb")) for r in after[2:]]), f(after[2], "t_s") if len(after) > 2 else float("nan")))
trim = [r for r in rows if r["phase"] == "trimmed"]
if trim:
    print("   after malloc_trim(0) at the end: RSS %.1f MB (RssAnon %.1f): %.1f MB were free memory kept by glibc"
          % (f(trim[0], "rss_mb"), f(trim[0], "rss_anon_mb"), e - f(trim[0], "rss_mb")))
if growth > limit:
    print("   FAIL: RSS grew %.1f%% after warm-up (limit %.0f%%)" % (growth, limit)); sys.exit(1)
EOF
if [ -f "$OUT/gdb.log" ]; then  # "system bytes" = taken from the OS, "in use" = live allocations
  awk '/^== malloc_stats/ { label = $3; arenas = 0 } /^Arena [0-9]+:/ { arenas++ }
       /^Total/ { total = 1 } total && /^system bytes/ { sys = $NF }
       total && /^in use bytes/ { printf "   glibc heap at %s: %.1f MB from the OS, %.1f MB in use, %d arenas\n", label, sys / 1048576, $NF / 1048576, arenas; total = 0 }' "$OUT/serve.log"
fi
if [ "$FAIL" = 0 ]; then echo "== PASS"; else echo "== FAIL (see $OUT)"; fi
exit "$FAIL"
