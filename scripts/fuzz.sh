#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target of fuzz/ one after another (in-process, one core; two
# instances with different targets may run side by side), then prints one summary line per
# target from libFuzzer's final stats.
#
#   scripts/fuzz.sh                      # every target, FUZZ_SECONDS (default 600) each
#   FUZZ_SECONDS=60 scripts/fuzz.sh      # a quick pass
#   scripts/fuzz.sh config event_wire    # only these targets
#
# Crashes are written to fuzz/artifacts/TARGET/ (not committed); logs to fuzz/logs/TARGET.log
# (not committed either). The script exits non-zero when a target crashed. See fuzz/README.md.
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_DIR=fuzz
SECONDS_PER_TARGET="${FUZZ_SECONDS:-600}"
# The artifact target runs last: its inputs are the largest and its executions the slowest.
ALL_TARGETS=(event_wire events_delimited events_jsonl parquet catalog config artifact)
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

max_len() {
    case "$1" in
        event_wire) echo 4096 ;;
        config) echo 16384 ;;
        artifact) echo 1048576 ;;
        *) echo 65536 ;;
    esac
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

(cd "$FUZZ_DIR" && cargo +nightly fuzz build)

LOG_DIR="$FUZZ_DIR/logs"
mkdir -p "$LOG_DIR"
summary=()
failed=0
for target in "${TARGETS[@]}"; do
    mkdir -p "$FUZZ_DIR/corpus/$target"
    log="$LOG_DIR/$target.log"
    echo "== $target: ${SECONDS_PER_TARGET}s ==" >&2
    status=0
    start=$(date +%s)
    (cd "$FUZZ_DIR" && cargo +nightly fuzz run "$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb=4096 -timeout=10 -max_len="$(max_len "$target")" \
        -print_final_stats=1) >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    # Final stats: "stat::number_of_executed_units: N", "stat::average_exec_per_sec: N",
    # "stat::new_units_added: N"; the last status line carries "cov: N ft: N".
    stat() { grep -o "stat::$1: *[0-9]*" "$log" | tail -1 | grep -o '[0-9]*$' || true; }
    execs=$(stat number_of_executed_units)
    rate=$(stat average_exec_per_sec)
    new_units=$(stat new_units_added)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    line="$target: ${elapsed}s, ${execs:-?} execs, ${rate:-?} exec/s, ${new_units:-?} new units, ${cov:-cov: ?}, crashes: ${crashes:-0}, exit $status"
    echo "$line" >&2
    summary+=("$line")
    if [[ $status -ne 0 ]]; then
        failed=1
        grep -m1 -A3 'Test unit written to' "$log" >&2 || tail -20 "$log" >&2
    fi
done

echo
echo "fuzz summary (${SECONDS_PER_TARGET}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
