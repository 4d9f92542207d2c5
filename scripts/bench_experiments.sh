#!/usr/bin/env bash
# iALS against popular items on the demo shop, measured the two ways aisle offers: an A/B test and
# team-draft interleaving, each driven by `aisle simulate` (shoppers who click and buy by their
# true taste). Shoppers arrive in chunks; after each chunk the report is read — peeking is what the
# always-valid intervals allow — until the verdict is reached. Prints how many shoppers (units)
# each method needed. Figures go to docs/benchmarks.md.
#   scripts/bench_experiments.sh [SEED]        (default 1; needs target/release/aisle)
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:-1}
PORT=${PORT:-8093}; CHUNK_AB=${CHUNK_AB:-50}; CHUNK_IL=${CHUNK_IL:-10}; LISTS=${LISTS:-5}; MAX_CHUNKS=${MAX_CHUNKS:-80}
BIN=target/release/aisle
DIR=$(mktemp -d /tmp/aisle-exp.XXXX)
export AISLE_LOG__LEVEL=warn AISLE_TRAINING__INTERVAL_S=0
$BIN serve --demo --data-dir "$DIR" --listen 127.0.0.1:$PORT 2> "$DIR/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until curl -sf localhost:$PORT/health/ready > /dev/null; do sleep 1; kill -0 $PID; done
url=http://127.0.0.1:$PORT
put() { curl -sf -XPUT "$url$1" -H 'content-type: application/json' -d "$2" > /dev/null; }
post() { curl -sf -XPOST "$url$1" -H 'content-type: application/json' -d "$2" > /dev/null; }
put /v1/placements/home-ab '{"kind": "user", "n": 10}'
put /v1/placements/home-il '{"kind": "user", "n": 10}'
post /v1/experiments '{"id": "ab", "placement": "home-ab", "variants": [{"name": "pop", "kind": "popular"}, {"name": "ials"}]}'
post /v1/experiments '{"id": "il", "placement": "home-il", "mode": "interleaving", "variants": [{"name": "ials"}, {"name": "pop", "kind": "popular"}]}'

# run EXPERIMENT PLACEMENT CHUNK CHECK: simulate chunks of CHUNK shoppers until CHECK (python on
# the report) prints "done".
run() {
  local exp=$1 placement=$2 chunk=$3 check=$4 k
  for k in $(seq 1 "$MAX_CHUNKS"); do
    $BIN simulate --url "$url" --shoppers "$chunk" --seed $((SEED * 1000 + k)) --placement "$placement" \
      --lists-per-shopper "$LISTS" --json > /dev/null
    sleep 0.5   # impressions and attribution trail by impact.flush_ms
    out=$(curl -sf "$url/v1/experiments/$exp/report" | python3 -c "$check")
    if [[ $out == done* ]]; then echo "$exp: $out after $k chunks of $chunk shoppers"; return 0; fi
  done
  echo "$exp: no verdict after $MAX_CHUNKS chunks: $out"
}

echo "== A/B: pop (control) against ials"
run ab home-ab "$CHUNK_AB" '
import json, sys
r = json.load(sys.stdin); v = r["variants"]; p, t = v[0], v[1]
ctr, rev = t["ctr"]["difference"], t["revenue_per_unit"]["difference"]
units = sum(x["units"] for x in v)
ok = bool(ctr and rev and ctr["verdict"] == "better" and rev["verdict"] == "better")
if not (ctr and rev):
    print("waiting units=%d" % units); sys.exit()
print("%s units=%d ctr pop=%.4f ials=%.4f always-valid diff [%.4f, %.4f] revenue/unit pop=%.2f ials=%.2f always-valid diff [%.2f, %.2f] srm p=%.3f" % (
    "done" if ok else "waiting", units, p["ctr"]["value"], t["ctr"]["value"], ctr["seq_ci_low"], ctr["seq_ci_high"],
    p["revenue_per_unit"]["value"], t["revenue_per_unit"]["value"], rev["seq_ci_low"], rev["seq_ci_high"], r["srm"]["p_value"]))
'
echo "== interleaving: ials (A) against pop (B)"
run il home-il "$CHUNK_IL" '
import json, sys
r = json.load(sys.stdin); i = r["interleaving"]
ok = i["by_unit_p_value"] < 0.05 and i["by_unit_delta"] > 0
print("%s units=%d units with clicks=%d delta by unit %.3f [%.3f, %.3f] p=%.2e lists won: ials %d pop %d ties %d" % (
    "done" if ok else "waiting", r["variants"][0]["units"], i["units"], i["by_unit_delta"], i["by_unit_ci_low"],
    i["by_unit_ci_high"], i["by_unit_p_value"], i["wins_a"], i["wins_b"], i["ties"]))
'
