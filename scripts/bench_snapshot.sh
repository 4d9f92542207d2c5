#!/usr/bin/env bash
# A training's snapshot (`snapshot_seconds`) with two builds, alternated, on two copies of one
# store: BASE reads the whole event log, NEW the kept training snapshot and the log after it.
# Popularity trainings, so that the snapshot is most of each one. Figures go to docs/benchmarks.md.
#   scripts/bench_snapshot.sh BASE_BIN NEW_BIN STORE_DIR [ROUNDS]
# STORE_DIR is a data dir `aisle import` filled; it is copied once (STORE_DIR-base) for BASE. The
# first NEW training writes the segments (the log read whole); the rounds after it read them.
set -euo pipefail
BASE=$1 NEW=$2 STORE=$3 ROUNDS=${4:-3}
[ -d "$STORE-base" ] || cp -r "$STORE" "$STORE-base"
run() { # label binary store
  local out
  out=$( { /usr/bin/time -f "wall %e s, peak RSS %M KB" "$2" train --data-dir "$3" --model popularity --force; } 2>&1 )
  echo "$1: snapshot $(grep -o '"snapshot_seconds":[0-9.]*' <<< "$out" | cut -d: -f2) s, $(grep -o 'wall.*' <<< "$out")"
}
run "new, first (on a store without segments: reads the log whole, writes them)" "$NEW" "$STORE"
for r in $(seq "$ROUNDS"); do
  run "base $r" "$BASE" "$STORE-base"
  run "new $r" "$NEW" "$STORE"
done
ls -l "$STORE/aisle.db" "$STORE-base/aisle.db"
