"""aisle.ALS and aisle.BPR against implicit's ALS and BPR, in one Python process, on the same CSR
matrix and split (the peers' own: implicit.evaluation.train_test_split(0.8, random_state=42) of the
ratings as confidences, ../shared/bench/common.py), scored by the same metric code.

usage: OPENBLAS_NUM_THREADS=1 PYTHON bench/vs_implicit.py [--rounds 5] [--dataset ml-100k]
       (PYTHON: a venv with implicit and aisle installed: ../shared/bench/setup.sh, then
        `pip install ./python`)

Each round fits implicit, then aisle, back to back (both on every core), and recommends the top 10
for every user with the training items filtered. Prints medians over rounds and the fit-time
ratio aisle / implicit. implicit runs with the parameters of ../shared/bench/implicit_eval.py;
aisle with its defaults.
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
from implicit.als import AlternatingLeastSquares  # noqa: E402
from implicit.bpr import BayesianPersonalizedRanking  # noqa: E402


def run(model, train, test):
    t0 = time.perf_counter()
    model.fit(train, show_progress=False)
    fit_s = time.perf_counter() - t0
    users = np.arange(train.shape[0])
    t0 = time.perf_counter()
    ids, _ = model.recommend(users, train[users], N=10, filter_already_liked_items=True)
    rec_s = time.perf_counter() - t0
    m = topk_metrics(ids, train, test, k=10)
    return {"fit": fit_s, "rec": rec_s, "ndcg": m["ndcg@10"], "p10": m["precision@10"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dataset", default="ml-100k")
    a = ap.parse_args()
    m, _, _ = to_csr(load_ratings(a.dataset))
    train, test = split_80_20(m)
    pairs = {
        "ALS": (lambda: AlternatingLeastSquares(factors=64, iterations=15, regularization=0.05, random_state=SEED),
                lambda: aisle.ALS(factors=64, iterations=15)),
        "BPR": (lambda: BayesianPersonalizedRanking(random_state=SEED), lambda: aisle.BPR()),
    }
    print(f"{a.dataset}: {m.shape[0]} users x {m.shape[1]} items, train {train.nnz}, test {test.nnz}, "
          f"{a.rounds} rounds")
    print("| model | NDCG@10 | P@10 | fit s (median) | recommend all s | runs (fit s) |")
    print("|---|---|---|---|---|---|")
    for name, (peer, ours) in pairs.items():
        runs = {"implicit": [], "aisle": []}
        for _ in range(a.rounds):
            runs["implicit"].append(run(peer(), train, test))
            runs["aisle"].append(run(ours(), train, test))
        med = {}
        for side, rs in runs.items():
            med[side] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            fits = " / ".join(f"{r['fit']:.3f}" for r in rs)
            print(f"| {side} {name} | {med[side]['ndcg']:.4f} | {med[side]['p10']:.4f} | {med[side]['fit']:.3f} | "
                  f"{med[side]['rec']:.3f} | {fits} |")
        print(f"| aisle / implicit {name} | {med['aisle']['ndcg'] / med['implicit']['ndcg']:.2f}x | | "
              f"{med['aisle']['fit'] / med['implicit']['fit']:.2f}x | | |")


if __name__ == "__main__":
    main()
