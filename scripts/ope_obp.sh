#!/usr/bin/env bash
# The reference side of `aisle ope` vs obp (docs/benchmarks.md): makes the obp venv if it is missing,
# installs scripts/requirements-obp.txt, and runs scripts/ope_obp.py for seeds 1..3 into
# OUTDIR/seed-S (len_list 1) and OUTDIR/seed-S-len3 (len_list 3: one logged position per round).
#
# usage: scripts/ope_obp.sh [OUTDIR]          (default /tmp/obp-check)
#   env: OBP_VENV (/work/venv-obp), PYTHON310, ROUNDS (10000), ACTIONS (10), SEEDS ("1 2 3"),
#        OBP_TORCH=1 also installs obp's pinned torch 1.12.0 (776 MB wheel, 1.6 GB installed)
#
# What worked (2026-12, only PyPI reachable): obp 0.5.7 needs Python 3.8-3.10, so pyenv's 3.10.13;
# `pip install --no-deps -r scripts/requirements-obp.txt` (~20 s, venv ~520 MB). torch is not needed:
# obp/utils.py imports it at module level but only for obp.policy's neural policies, so ope_obp.py
# puts a stub `torch` in sys.modules and skips obp/__init__.py (which imports obp.policy). With the
# real torch 1.12.0+cu102 (OBP_TORCH=1) every output file is byte-identical. PyPI has no CPU-only
# torch for Linux x86_64 (its wheels bundle CUDA, or pull the nvidia-* wheels from torch 2 on).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-/tmp/obp-check}"
VENV="${OBP_VENV:-/work/venv-obp}"
PY310="${PYTHON310:-/root/.pyenv/versions/3.10.13/bin/python3.10}"
[ -x "$PY310" ] || PY310="$(command -v python3.10)"

[ -x "$VENV/bin/python" ] || "$PY310" -m venv "$VENV"
"$VENV/bin/pip" install -q --no-deps -r "$HERE/requirements-obp.txt"
if [ "${OBP_TORCH:-0}" = 1 ]; then
    "$VENV/bin/pip" install -q --no-deps torch==1.12.0 typing_extensions==4.16.0 PyYAML==6.0
fi

for seed in ${SEEDS:-1 2 3}; do
    for len in 1 3; do
        dir="$OUT/seed-$seed"; [ "$len" = 1 ] || dir="$dir-len$len"
        echo "== seed $seed, len_list $len -> $dir"
        "$VENV/bin/python" "$HERE/ope_obp.py" --out "$dir" --seed "$seed" \
            --rounds "${ROUNDS:-10000}" --actions "${ACTIONS:-10}" --len-list "$len"
    done
done
