"""aisle.LightFM against LightFM, in one Python process, on the same binarised CSR matrix and split
(the peers' own: implicit.evaluation.train_test_split(0.8, random_state=42), as
../shared/bench/lightfm_eval.py), scored by the same metric code (common.topk_metrics).

usage: PYTHON bench/vs_lightfm.py [--rounds 5] [--dataset ml-100k]
       (PYTHON: a venv with lightfm, implicit and aisle: ../shared/bench/setup.sh, then
        `pip install ./python`)

Both: WARP, 30 components, 30 epochs, identity features only (no side information in MovieLens'
matrix), both cores. LightFM's top 10 per user comes from its predict over the catalog (as
lightfm_eval.py); aisle's from recommend. Round r seeds both with 42 + r. Prints medians over
rounds.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "bench"))
from common import SEED, load_ratings, split_80_20, to_csr, topk_metrics  # noqa: E402

import aisle  # noqa: E402
from lightfm import LightFM  # noqa: E402


def lightfm_top(model, train, k=10):
    n_users, n_items = train.shape
    top = np.zeros((n_users, k), dtype=np.int64)
    items = np.arange(n_items, dtype=np.int32)
    for u in range(n_users):
        s = model.predict(np.full(n_items, u, dtype=np.int32), items, num_threads=os.cpu_count())
        s[train.indices[train.indptr[u]:train.indptr[u + 1]]] = -np.inf
        best = np.argpartition(-s, k)[:k]
        top[u] = best[np.argsort(-s[best])]
    return top


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dataset", default="ml-100k")
    a = ap.parse_args()
    m, _, _ = to_csr(load_ratings(a.dataset))
    train, test = split_80_20(m)
    train.data[:] = 1.0
    runs = {"LightFM": [], "aisle.LightFM": []}
    for r in range(a.rounds):
        # Round r seeds both with SEED + r: the spread over seeds is part of the comparison
        # (aisle's fit is deterministic for a seed, LightFM's Hogwild is not even then).
        peer = LightFM(loss="warp", no_components=30, random_state=SEED + r)
        t0 = time.perf_counter(); peer.fit(train.tocoo(), epochs=30, num_threads=os.cpu_count())
        fit = time.perf_counter() - t0
        runs["LightFM"].append((fit, topk_metrics(lightfm_top(peer, train), train, test, k=10)))
        ours = aisle.LightFM(no_components=30, loss="warp", random_state=SEED + r)
        t0 = time.perf_counter(); ours.fit(train, epochs=30); fit = time.perf_counter() - t0
        users = np.arange(train.shape[0])
        top, _ = ours.recommend(users, train[users], N=10)
        runs["aisle.LightFM"].append((fit, topk_metrics(top, train, test, k=10)))
    print(f"{a.dataset}: {train.shape[0]} users x {train.shape[1]} items, {a.rounds} rounds")
    print("| model | P@10 (median) | NDCG@10 (median) | fit s (median) | runs (fit s) | runs (P@10) |")
    print("|---|---|---|---|---|---|")
    for name, rs in runs.items():
        p = [r[1]["precision@10"] for r in rs]
        n = [r[1]["ndcg@10"] for r in rs]
        f = [r[0] for r in rs]
        print(f"| {name} | {statistics.median(p):.4f} | {statistics.median(n):.4f} | {statistics.median(f):.3f} | "
              f"{' / '.join(f'{x:.3f}' for x in f)} | {' / '.join(f'{x:.4f}' for x in p)} |")


if __name__ == "__main__":
    main()
