#!/usr/bin/env bash
# Peer benchmark (issue 13): RecBole SASRec / GRU4Rec on the leave-last-one split, full ranking, CPU.
# Makes the RecBole venv if it is missing (idempotent: a venv that already imports the pinned
# versions is left alone), then runs scripts/bench_recbole.py with this script's arguments.
#
# usage: scripts/bench_recbole.sh --ml100k ../shared/datasets/ml-100k/u.data
#        scripts/bench_recbole.sh --ml-latest ../shared/datasets/ml-latest-small/movielens.csv
#        scripts/bench_recbole.sh --ml100k PATH --models SASRec --seeds 2020,1,2
#   env: RECBOLE_VENV (/work/venv-recbole), PYTHON (python3, 3.11), THREADS (2),
#        RESULTS (/work/bench-results), RECBOLE_WORK (/tmp/aisle-recbole)
#   See `bench_recbole.py --help` for the split, the protocols and the outputs.
#
# The install (what worked, 2026-12, only PyPI reachable; ~1 min, venv 4.3 GB, no pip cache kept):
# - PyPI has no CPU-only torch for Linux x86_64: its torch 2.x wheels are CUDA builds that pull
#   ~3 GB of nvidia-* wheels plus triton. torch is therefore installed with --no-deps, plus its
#   pure-Python deps and only the nvidia-* libraries that torch's .so files are linked against
#   (ldd: cudart, cupti, cublas, cudnn, cufft, curand, cusparse and its nvjitlink, nccl). Without them
#   `import torch` fails (libtorch_cuda.so is a hard dependency of torch/_C). Left out, because
#   nothing loads them on the CPU path: triton (torch.compile only), cusolver
#   (libtorch_cuda_linalg.so is dlopen'ed lazily), nvrtc, nvtx. torch 2.5.1: the newest torch
#   before 2.6 made torch.load(weights_only=True) the default, which breaks RecBole 1.2.1's loading
#   of its own checkpoints in trainer.evaluate. (Leaner but old: torch 1.12.0+cu102 bundles CUDA in
#   one 1.6 GB install, Python <= 3.10; not used here.)
# - RecBole 1.2.1 with --no-deps: its metadata requires ray<=2.6.3, thop, plotly and tensorboard;
#   only tensorboard is imported on the train/eval path (recbole/utils/utils.py). numpy < 1.24
#   because RecBole uses np.float (recbole/data/interaction.py); pandas/scipy/scikit-learn are the
#   newest releases that support numpy 1.23.5 on Python 3.11.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${RECBOLE_VENV:-/work/venv-recbole}"
PY="${PYTHON:-python3}"
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

TORCH_PINS=(torch==2.5.1
  nvidia-cuda-runtime-cu12==12.4.127 nvidia-cuda-cupti-cu12==12.4.127 nvidia-cublas-cu12==12.4.5.8
  nvidia-cudnn-cu12==9.1.0.70 nvidia-cufft-cu12==11.2.1.3 nvidia-curand-cu12==10.3.5.147
  nvidia-cusparse-cu12==12.3.1.170 nvidia-nvjitlink-cu12==12.4.127 nvidia-nccl-cu12==2.21.5
  filelock==4.3.2 typing_extensions==4.16.0 networkx==3.6.1 Jinja2==3.1.6 MarkupSafe==3.0.4
  fsspec==2026.9.0 sympy==1.13.1 mpmath==1.3.0)
OTHER_PINS=(numpy==1.23.5 pandas==2.0.3 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6
  scipy==1.11.4 scikit-learn==1.3.2 joblib==1.6.0 threadpoolctl==3.8.0
  tqdm==4.70.1 PyYAML==6.0.4 colorlog==4.7.2 colorama==0.4.4 texttable==1.7.2 tabulate==0.10.0
  psutil==7.2.2 tensorboard==2.21.0 tensorboard-data-server==0.7.2 absl-py==2.5.1 grpcio==1.85.4
  Markdown==3.11.3 protobuf==7.36.2 Werkzeug==3.1.9 pillow==13.0.0 packaging==26.4)

ready() {
  "$VENV/bin/python" - <<'EOF' 2>/dev/null
import numpy, recbole, torch, tensorboard
from recbole.trainer import Trainer
assert recbole.__version__ == "1.2.1" and torch.__version__.startswith("2.5.1") and numpy.__version__ == "1.23.5"
EOF
}

if ! ready; then
  echo "bench_recbole.sh: installing RecBole 1.2.1 + torch 2.5.1 (CPU use) into $VENV" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-deps "${TORCH_PINS[@]}"
  "$VENV/bin/pip" install -q "${OTHER_PINS[@]}" 2>&1 | grep -v "^torch 2.5.1 requires" >&2 || true
  "$VENV/bin/pip" install -q --no-deps recbole==1.2.1
  ready || { echo "bench_recbole.sh: the venv at $VENV does not import recbole/torch" >&2; exit 1; }
fi

export OMP_NUM_THREADS="${THREADS:-2}" MKL_NUM_THREADS="${THREADS:-2}"
exec "$VENV/bin/python" "$HERE/bench_recbole.py" --threads "${THREADS:-2}" "$@"
