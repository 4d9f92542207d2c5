#!/usr/bin/env bash
# Fault injection: does aisle keep its guarantees when things break?
#   scripts/fault_injection.sh                 all three scenarios
#   SCENARIOS="a c" scripts/fault_injection.sh  some of them
# (a) kill -9 during ingest, on the embedded store and on PostgreSQL: a client posts batches of
#     500 events with unique ids from 3 connections, noting each acknowledged batch (HTTP 200);
#     the server is killed with SIGKILL after KILL_AFTER seconds and restarted on the same store;
#     every acknowledged event must be there (counted in the store by id prefix, and aisle_events),
#     re-sending every acknowledged batch must answer only duplicates and change no count, and a
#     batch that was not acknowledged must be stored whole or not at all. Two kill rounds each.
# (b) PostgreSQL stopped (pg_ctl stop -m fast) for OUTAGE_S seconds under a mixed load
#     (recommendations, similar, popular, session POSTs, event batches, /health/ready polls):
#     every answer must be 200 or 503 store_unavailable with Retry-After (no 500, no dropped
#     connection), events and /health/ready must answer 503 during the outage, and everything must
#     answer 200 again after PostgreSQL is back, without restarting aisle.
# (c) disk full under the embedded store (a DISK_MB tmpfs, else a loop-mounted ext4 image): events
#     must be refused with 507 store_full (a one-event batch that still fits in the WAL may be
#     stored: 200) while reads and /health/ready answer 200; after the filler
#     is deleted events are accepted again, and every acknowledged event is there (also after a
#     kill -9 and restart).
# PostgreSQL: a private server started with /work/shared/ci/start-postgres.sh on PGPORT (default
# 55433, never the tests' 55432) in AISLE_PG_DIR (default /tmp/aisle-pg-fault); stopped at the end
# unless KEEP_PG=1 (scenario a uses PG_URL as is when it is set and reachable).
# Other settings: KILL_AFTER=10 OUTAGE_S=10 DISK_MB=256 BUILD=1 (0 = use target/release/aisle as
# is) OUT=dir (default mktemp; logs, acknowledgement lists and load logs stay there).
# Exit status 1 when a guarantee broke (each is printed as "BROKEN: ..." and summed up at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-"a b c"}
BIN=$PWD/target/release/aisle
PY=(python3 "$PWD/scripts/wrk/fault_client.py")
KILL_AFTER=${KILL_AFTER:-10}; OUTAGE_S=${OUTAGE_S:-10}; DISK_MB=${DISK_MB:-256}
export PGPORT=${PGPORT:-55433} AISLE_PG_DIR=${AISLE_PG_DIR:-/tmp/aisle-pg-fault}
[ "$PGPORT" != 55432 ] || { echo "refusing PGPORT=55432: that server belongs to the tests" >&2; exit 2; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n1)
export AISLE_TRAINING__INTERVAL_S=0 AISLE_LOG__LEVEL=${AISLE_LOG__LEVEL:-info}
DEMO=(--demo --demo-items 500 --demo-users 300 --demo-events 20000)
WORK=${OUT:-$(mktemp -d /tmp/aisle-fault.XXXX)}
mkdir -p "$WORK"
BROKEN=()
broken() { echo "   BROKEN: $*"; BROKEN+=("$*"); }

if [ "${BUILD:-1}" = 1 ]; then
  echo "== cargo build --release -p aisle-cli"
  cargo build --release -p aisle-cli 2>&1 | tail -n 1
fi
echo "== output in $WORK"

SPID=; CPID=; LPID=; MNT=; LOOPIMG=; PG_STARTED=
cleanup() {
  for p in $CPID $LPID; do kill "$p" 2> /dev/null || true; done
  if [ -n "$SPID" ] && kill -0 "$SPID" 2> /dev/null; then kill "$SPID"; wait "$SPID" 2> /dev/null || true; fi
  if [ -n "$MNT" ] && mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT" || true; fi
  [ -n "$LOOPIMG" ] && rm -f "$LOOPIMG"
  if [ -n "$PG_STARTED" ] && [ "${KEEP_PG:-0}" != 1 ]; then /work/shared/ci/stop-postgres.sh || true; fi
  rm -rf "$WORK"/a-sqlite-data
}
trap cleanup EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
metric() { # url name -> value (integer)
  curl -s --max-time 5 "$1/metrics" | awk -v k="$2" '$1 == k { printf "%d", $2 }'
}
# start_server PORT LOG STORE-ARGS...: starts aisle (the demo shop on an empty store) and waits
# until /health/ready answers 200; READY_S is how long that took.
start_server() {
  local port=$1 log=$2; shift 2
  local t0; t0=$(now)
  "$BIN" serve "${DEMO[@]}" "$@" --listen "127.0.0.1:$port" >> "$log" 2>&1 &
  SPID=$!
  until curl -sf --max-time 2 "http://127.0.0.1:$port/health/ready" > /dev/null; do
    if ! kill -0 "$SPID" 2> /dev/null; then
      echo "   the server exited during start-up:"; tail -n 20 "$log" | sed 's/^/     /'; SPID=; return 1
    fi
    sleep 0.1
  done
  READY_S=$(since "$t0")
}
stop_server() { kill "$SPID" 2> /dev/null || true; wait "$SPID" 2> /dev/null || true; SPID=; }
# The server log's warnings and errors, counted by message (timestamps and request ids dropped).
log_summary() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E ' (WARN|ERROR) ' | grep -v 'no API keys are configured' |
    sed -E 's/^[^ ]+ +//; s/req_[0-9a-f]+/req_…/g; s/(seq|after|at)=[0-9]+/\1=N/g' | cut -c1-260 |
    sort | uniq -c | sort -rn | head -n "${2:-8}" | sed 's/^/     /' || true
}
psql_q() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d aisle_test -Atc "$1"; }
start_pg() {
  if [ -z "$PG_STARTED" ]; then
    echo "== private PostgreSQL on port $PGPORT in $AISLE_PG_DIR"
    PG_URL=$(/work/shared/ci/start-postgres.sh | tail -n1)
    PG_STARTED=1
    echo "   $PG_URL ($("$PGBIN/postgres" --version))"
  fi
}

# ---------------------------------------------------------------------------------------------
# (a) kill -9 during ingest
scenario_a() { # NAME PORT COUNT-CMD STORE-ARGS...
  local name=$1 port=$2 count_cmd=$3; shift 3
  local url=http://127.0.0.1:$port log=$WORK/a-$name.log acks=$WORK/a-$name.acks
  local tag; tag=ka${name}$(date +%s)
  : > "$acks"; : > "$acks.failed"
  echo "== (a) kill -9 during ingest: $name"
  start_server "$port" "$log" "$@" || { broken "a/$name: the server did not start"; return; }
  local base; base=$(metric "$url" aisle_events)
  echo "   started in $READY_S s; aisle_events $base (the demo shop)"
  local first=1 round
  for round in 1 2; do
    "${PY[@]}" ingest "$url" "$tag" "$acks" --first "$first" --threads 3 > "$WORK/a-$name-r$round.out" 2>&1 &
    CPID=$!
    sleep "$KILL_AFTER"
    kill -9 "$SPID"; wait "$SPID" 2> /dev/null || true; SPID=
    local killed; killed=$(now)
    wait "$CPID" || true; CPID=
    local out; out=$(cat "$WORK/a-$name-r$round.out")
    first=$(sed -n 's/.*next batch \([0-9]*\).*/\1/p' <<< "$out")
    local acked_b; acked_b=$(wc -l < "$acks")
    local acked=$(( acked_b * 500 ))
    local unacked; unacked=$(wc -l < "$acks.failed")
    echo "   round $round: kill -9 after ${KILL_AFTER} s of ingest; client: $out"
    echo "     acknowledged so far: $acked_b batches = $acked events; this round's unacknowledged batches: $unacked ($(cut -d' ' -f2- "$acks.failed" | cut -c1-60 | sort | uniq -c | tr -s ' ' | paste -sd ';'))"
    start_server "$port" "$log" "$@" || { broken "a/$name round $round: the server did not restart"; return; }
    local stored events
    stored=$($count_cmd "$tag"); events=$(metric "$url" aisle_events)
    echo "     restarted: ready $READY_S s after the start ($(since "$killed") s after the kill); stored events of this run: $stored; aisle_events $events (= demo $base + $(( events - base )))"
    [ "$stored" -ge "$acked" ] || broken "a/$name round $round: $acked events acknowledged but only $stored stored"
    [ $(( events - base )) -ge "$acked" ] || broken "a/$name round $round: aisle_events grew by $(( events - base )) < $acked acknowledged"
    local r; r=$("${PY[@]}" resend "$url" "$tag" "$acks" --expect-duplicates 2>&1) ||
      broken "a/$name round $round: re-sending acknowledged batches stored something: $r"
    echo "     re-send of every acknowledged batch: $r"
    local stored2 events2
    stored2=$($count_cmd "$tag"); events2=$(metric "$url" aisle_events)
    echo "     after the re-send: stored $stored2, aisle_events $events2"
    [ "$stored2" = "$stored" ] && [ "$events2" = "$events" ] ||
      broken "a/$name round $round: counts changed on re-sending ($stored -> $stored2, $events -> $events2)"
    # Batches in flight at the kill: all or nothing (re-sending them acknowledges them now).
    r=$("${PY[@]}" probe "$url" "$tag" "$acks.failed" --acks "$acks" 2>&1) ||
      broken "a/$name round $round: a batch was partly stored: $r"
    echo "     probe: $r"
  done
  echo "   server log (warnings/errors):"; log_summary "$log"
  stop_server
}
count_sqlite() { "${PY[@]}" count-sqlite "$WORK/a-sqlite-data/aisle.db" "$1"; }
count_pg_a() { psql_q "SELECT count(*) FROM $A_SCHEMA.events WHERE event_id LIKE '$1-%'"; }

# ---------------------------------------------------------------------------------------------
# (b) PostgreSQL restarted under load
scenario_b() {
  local port=8193 url=http://127.0.0.1:8193 log=$WORK/b.log tl=$WORK/b.timeline
  local schema; schema=fault_b_$(date +%s)
  echo "== (b) PostgreSQL stopped for ${OUTAGE_S} s under load (schema $schema)"
  start_server "$port" "$log" --store-url "$PG_URL?schema=$schema" || { broken "b: the server did not start"; return; }
  echo "   started in $READY_S s"
  local total=$(( 8 + OUTAGE_S + 25 ))
  "${PY[@]}" load "$url" "$WORK/b.jsonl" --seconds "$total" --threads 4 &
  LPID=$!
  sleep 8
  local pgctl="$PGBIN/pg_ctl -D $AISLE_PG_DIR/data"
  echo "stop_begin $(now)" > "$tl"
  su postgres -c "$pgctl -m fast -w stop" > /dev/null
  echo "stop_done $(now)" >> "$tl"
  sleep $(( OUTAGE_S / 2 ))
  echo "   during the outage:"
  # (A probe that gets no answer within 30 s prints nothing but its time; the load's own record
  # of every request is what the verdict is made from.)
  local t1; t1=$(now)
  { curl -s -i --max-time 30 "$url/health/ready" | tr -d '\r' | grep -iE '^(HTTP|retry-after|content-type)|^\{' | sed 's/^/     ready: /'; } || true
  echo "     (ready answered in $(since "$t1") s)"
  t1=$(now)
  { curl -s -i --max-time 30 -XPOST "$url/v1/events" -H 'content-type: application/json' \
    -d '[{"event_id":"b-probe-1","user_id":"u1","item_id":"i1","type":"view"}]' |
    tr -d '\r' | grep -iE '^(HTTP|retry-after)|^\{' | sed 's/^/     POST \/v1\/events: /'; } || true
  echo "     (POST /v1/events answered in $(since "$t1") s)"
  sleep $(( OUTAGE_S - OUTAGE_S / 2 ))
  echo "start_begin $(now)" >> "$tl"
  su postgres -c "$pgctl -l $AISLE_PG_DIR/server.log -w -o \"-p $PGPORT -k $AISLE_PG_DIR -c listen_addresses=127.0.0.1\" start" > /dev/null
  echo "start_done $(now)" >> "$tl"
  wait "$LPID" || true; LPID=
  echo "   responses by phase, request kind and status (conn-error = no HTTP answer):"
  "${PY[@]}" analyze-outage "$WORK/b.jsonl" "$tl" || broken "b: see the lines above"
  echo "   after the load:"
  echo "     ready: $(curl -s --max-time 10 "$url/health/ready")"
  local code; code=$(curl -s -o "$WORK/b.train.json" -w '%{http_code}' --max-time 120 -XPOST "$url/v1/admin/train" \
    -H 'content-type: application/json' -d '{"wait": true, "force": true}')
  echo "     POST /v1/admin/train {wait, force}: HTTP $code $(head -c 160 "$WORK/b.train.json")"
  [ "$code" = 200 ] || broken "b: training after the outage answered $code: $(head -c 300 "$WORK/b.train.json")"
  echo "     aisle_replica_leader $(metric "$url" aisle_replica_leader); requests by status: $(curl -s "$url/metrics" |
    awk '/^aisle_http_requests_total/ { match($0, /status="[0-9]+"/); s = substr($0, RSTART + 8, 3); n[s] += $NF } END { for (k in n) printf "%s=%d ", k, n[k] }')"
  echo "   server log (warnings/errors):"; log_summary "$log" 10
  stop_server
}

# ---------------------------------------------------------------------------------------------
# (c) disk full under the embedded store
scenario_c() {
  local port=8194 url=http://127.0.0.1:8194 log=$WORK/c.log acks=$WORK/c.acks tag; tag=kc$(date +%s)
  : > "$acks"; : > "$acks.failed"
  echo "== (c) disk full under the embedded store"
  MNT=$WORK/small; mkdir -p "$MNT"
  if mount -t tmpfs -o "size=${DISK_MB}m" tmpfs "$MNT" 2> "$WORK/c.mount"; then
    echo "   data dir on a ${DISK_MB} MB tmpfs at $MNT"
  else
    echo "   tmpfs mount refused ($(cat "$WORK/c.mount")); trying a loop-mounted ext4 image"
    LOOPIMG=$WORK/small.img
    if truncate -s "${DISK_MB}M" "$LOOPIMG" && mkfs.ext4 -q -F "$LOOPIMG" && mount -o loop "$LOOPIMG" "$MNT" 2>> "$WORK/c.mount"; then
      echo "   data dir on a ${DISK_MB} MB ext4 loop image"
    else
      broken "c: no small filesystem can be mounted here: $(tr '\n' ' ' < "$WORK/c.mount")"; MNT=; return
    fi
  fi
  local data=$MNT/data
  start_server "$port" "$log" --data-dir "$data" || { broken "c: the server did not start"; return; }
  echo "   started in $READY_S s; $(df -m --output=used,avail "$MNT" | tail -n1 | awk '{ print "used " $1 " MB, free " $2 " MB" }')"
  "${PY[@]}" ingest "$url" "$tag" "$acks" --threads 2 --seconds 2 > "$WORK/c.ingest1" 2>&1
  local next; next=$(sed -n 's/.*next batch \([0-9]*\).*/\1/p' "$WORK/c.ingest1")
  echo "   before filling: $(cat "$WORK/c.ingest1")"
  echo "   files: $(ls -s --block-size=M "$data" | tail -n +2 | tr -s ' ' | paste -sd ',')"
  dd if=/dev/zero of="$MNT/filler" bs=1M status=none 2> /dev/null || true
  dd if=/dev/zero of="$MNT/filler2" bs=4k status=none 2> /dev/null || true
  echo "   filled: $(df -k --output=avail "$MNT" | tail -n1 | tr -d ' ') KB free; filler $(du -m "$MNT/filler" | cut -f1) MB"
  # Post until the store refuses (the WAL may still have room for a while).
  local t0; t0=$(now)
  "${PY[@]}" ingest "$url" "$tag" "$acks" --first "$next" --threads 1 --stop-on-error --seconds 120 > "$WORK/c.ingest2" 2>&1 || true
  sed 's/^/     /' "$WORK/c.ingest2"
  next=$(sed -n 's/.*next batch \([0-9]*\).*/\1/p' "$WORK/c.ingest2")
  grep -q 'HTTP 507' "$WORK/c.ingest2" || broken "c: the first refused batch was not a 507: $(head -n 3 "$WORK/c.ingest2" | tr '\n' ' ')"
  grep -q '"code":"store_full"' "$WORK/c.ingest2" || broken "c: the refusal's code is not store_full"
  grep -q 'retry-after: [0-9]' "$WORK/c.ingest2" || echo "   (no Retry-After on the refusal)"
  echo "   with the disk full ($(since "$t0") s of posting):"
  local i code codes=""
  for i in 1 2 3; do
    code=$(curl -s -o "$WORK/c.post" -w '%{http_code}' -XPOST "$url/v1/events" -H 'content-type: application/json' \
      -d "[{\"event_id\":\"$tag-full-$i\",\"user_id\":\"u$i\",\"item_id\":\"i$i\",\"type\":\"view\"}]")
    codes="$codes $code"
  done
  echo "     POST /v1/events x3:$codes; body: $(cat "$WORK/c.post")"
  # A one-event batch may still fit in the WAL's free frames (then it is stored and counted
  # below); anything but 507 or 200 breaks the promise.
  for code in $codes; do
    case $code in 200|507) ;; *) broken "c: an event POST on a full disk answered $code: $(cat "$WORK/c.post")" ;; esac
  done
  local get; get=""
  for path in "/v1/users/u1/recommendations?n=5" "/v1/users/u7/recommendations?n=5&in_stock=true" \
    "/v1/users/u$(( RANDOM % 300 + 1 ))/recommendations?n=5" "/v1/items/i3/similar?n=5" "/v1/popular?n=5" "/health/ready" "/v1/models"; do
    code=$(curl -s -o "$WORK/c.get" -w '%{http_code}' "$url$path")
    get="$get $path=$code"
    [ "$code" = 200 ] || broken "c: GET $path on a full disk answered $code: $(head -c 300 "$WORK/c.get")"
  done
  code=$(curl -s -o "$WORK/c.get" -w '%{http_code}' -XPOST "$url/v1/recommendations" -H 'content-type: application/json' \
    -d '{"session_items": ["i1", "i2"], "n": 5}')
  get="$get POST/v1/recommendations=$code"
  [ "$code" = 200 ] || broken "c: POST /v1/recommendations on a full disk answered $code: $(head -c 300 "$WORK/c.get")"
  echo "     reads:$get"
  echo "     ready: $(curl -s "$url/health/ready")"
  rm -f "$MNT/filler" "$MNT/filler2"
  t0=$(now)
  local ok=""
  for i in $(seq 1 300); do
    code=$(curl -s -o "$WORK/c.post" -w '%{http_code}' -XPOST "$url/v1/events" -H 'content-type: application/json' \
      -d "[{\"event_id\":\"$tag-freed-$i\",\"user_id\":\"u1\",\"item_id\":\"i1\",\"type\":\"view\"}]")
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  if [ -n "$ok" ]; then echo "   filler deleted: events accepted again after $(since "$t0") s ($i attempts)"
  else broken "c: events still refused 30 s after the filler was deleted: $code $(cat "$WORK/c.post")"; fi
  "${PY[@]}" ingest "$url" "$tag" "$acks" --first "$next" --threads 2 --seconds 2 > "$WORK/c.ingest3" 2>&1
  echo "   after freeing: $(cat "$WORK/c.ingest3")"
  local acked=$(( $(wc -l < "$acks") * 500 ))
  local r; r=$("${PY[@]}" resend "$url" "$tag" "$acks" --expect-duplicates 2>&1) ||
    broken "c: acknowledged events missing: $r"
  echo "   re-send of all $acked acknowledged events: $r"
  r=$("${PY[@]}" probe "$url" "$tag" "$acks.failed" --acks "$acks" 2>&1) || broken "c: a refused batch was partly stored: $r"
  echo "   refused batches re-sent: $r"
  acked=$(( $(wc -l < "$acks") * 500 ))
  kill -9 "$SPID"; wait "$SPID" 2> /dev/null || true; SPID=
  start_server "$port" "$log" --data-dir "$data" || { broken "c: the server did not restart after the disk-full episode"; return; }
  local stored; stored=$("${PY[@]}" count-sqlite "$data/aisle.db" "$tag")
  echo "   after kill -9 and restart ($READY_S s): $stored events of this run stored, $acked acknowledged; aisle_events $(metric "$url" aisle_events)"
  [ "$stored" -ge "$acked" ] || broken "c: after the restart only $stored of $acked acknowledged events are stored"
  r=$("${PY[@]}" resend "$url" "$tag" "$acks" --expect-duplicates 2>&1) || broken "c: after the restart: $r"
  echo "   re-send after the restart: $r"
  echo "   server log (warnings/errors):"; log_summary "$log" 10
  stop_server
  umount "$MNT" && MNT=
}

for s in $SCENARIOS; do
  case $s in
    a)
      rm -rf "$WORK/a-sqlite-data"
      scenario_a sqlite 8191 count_sqlite --data-dir "$WORK/a-sqlite-data"
      start_pg
      A_SCHEMA=fault_a_$(date +%s)
      scenario_a postgres 8192 count_pg_a --store-url "$PG_URL?schema=$A_SCHEMA"
      ;;
    b) start_pg; scenario_b ;;
    c) scenario_c ;;
    *) echo "unknown scenario $s" >&2; exit 2 ;;
  esac
done

echo "== summary"
if [ ${#BROKEN[@]} = 0 ]; then echo "   every guarantee held"; exit 0; fi
printf '   BROKEN: %s\n' "${BROKEN[@]}"
exit 1
