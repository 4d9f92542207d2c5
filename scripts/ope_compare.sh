#!/usr/bin/env bash
# `aisle ope` against Open Bandit Pipeline 0.5.7 (docs/benchmarks.md): runs scripts/ope_obp.sh OUTDIR
# (obp's IPS, SNIPS and DR on synthetic logs, written as CSV), builds aisle in release, runs
# `aisle ope --format json --qhat ...` on every case OUTDIR/*/ that has an obp.json, and prints a
# table case × estimator: obp's value, aisle's, their relative difference, and both 95% bootstrap
# intervals. Exits non-zero when any IPS, SNIPS or DR estimate differs by more than RTOL (relative).
#
# usage: scripts/ope_compare.sh [OUTDIR]         (default /tmp/obp-check)
#   env: RTOL (1e-9), RESAMPLES (1000); ope_obp.sh's own (OBP_VENV, ROUNDS, ACTIONS, SEEDS, ...)
#
# The intervals are only reported, not compared: obp resamples rows with numpy's RNG, aisle resamples
# whole rounds with its own seeded RNG (the same rows when every round logs one position, as here),
# so they agree only up to resampling noise. aisle is given the same q̂ as obp (--qhat), so DR is
# deterministic; each aisle run's JSON is kept as OUTDIR/CASE/aisle.json.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
OUT="${1:-/tmp/obp-check}"
RTOL="${RTOL:-1e-9}"

bash "$HERE/ope_obp.sh" "$OUT"
(cd "$ROOT" && cargo build --release -p aisle-cli)
AISLE="${CARGO_TARGET_DIR:-$ROOT/target}/release/aisle"

cases=()
for dir in "$OUT"/*/; do
    dir="${dir%/}"
    [ -f "$dir/obp.json" ] || continue
    cases+=("$dir")
    seed="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["seed"])' "$dir/obp.json")"
    "$AISLE" ope --log "$dir/log.csv" --target "$dir/target.csv" --qhat "$dir/qhat.csv" \
        --format json --resamples "${RESAMPLES:-1000}" --alpha 0.05 --seed "$seed" >"$dir/aisle.json"
done
[ "${#cases[@]}" -gt 0 ] || { echo "no case with an obp.json under $OUT" >&2; exit 1; }

python3 - "$RTOL" "${cases[@]}" <<'PY'
import json
import os
import sys

rtol, cases = float(sys.argv[1]), sys.argv[2:]
rows, worst, failed = [], 0.0, []
for case in cases:
    obp = json.load(open(os.path.join(case, "obp.json")))
    mine = json.load(open(os.path.join(case, "aisle.json")))
    name = os.path.basename(case)
    for key in ("ips", "snips", "dr"):
        o, a = obp[key], mine["estimates"][key]
        rel = abs(a["estimate"] - o) / abs(o) if o != 0 else abs(a["estimate"])
        worst = max(worst, rel)
        if not rel <= rtol:
            failed.append(f"{name} {key}")
        ci = obp["intervals"][key]
        rows.append([name, key, repr(o), repr(a["estimate"]), f"{rel:.1e}",
                     f"[{ci['95.0% CI (lower)']:.6f}, {ci['95.0% CI (upper)']:.6f}]",
                     f"[{a['low']:.6f}, {a['high']:.6f}]"])
head = ["case", "estimator", "obp", "aisle", "rel.diff", "obp 95% CI (rows)", "aisle 95% CI (rounds)"]
widths = [max(len(str(r[c])) for r in rows + [head]) for c in range(len(head))]
for r in [head, ["-" * w for w in widths]] + rows:
    print("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip())
print()
print("case            rows  rounds      ESS  max weight  ground truth")
for case in cases:
    obp, mine = (json.load(open(os.path.join(case, f))) for f in ("obp.json", "aisle.json"))
    print(f"{os.path.basename(case):12s} {mine['rows']:7d} {mine['rounds']:7d} {mine['ess']:8.1f}"
          f" {mine['max_weight']:11.4f}  {obp['ground_truth']!r}")
print()
print(f"largest relative difference {worst:.1e} (tolerance {rtol:g})")
if failed:
    sys.exit("over the tolerance: " + ", ".join(failed))
PY
