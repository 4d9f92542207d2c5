"""aisle's rating models against Surprise's, in one Python process, on the same folds: Surprise's
own KFold(n_splits=5, shuffle=True, random_state=42) over the whole dataset (as
../shared/bench/surprise_cv.py), each fold's training rows given to aisle as a DataFrame of raw
ids and ratings, each fold's test rows predicted by both and scored by Surprise's accuracy.rmse.

usage: PYTHON bench/vs_surprise.py [--dataset ml-100k] [--models SVD,SVDpp,BaselineOnly,KNNBaseline]
       (PYTHON: a venv with scikit-surprise, pandas and aisle: ../shared/bench/setup.sh, then
        `pip install ./python`)

Both sides use their defaults; Surprise is single-threaded, aisle uses both cores. Fit times are
per fold, around `fit` (aisle's includes mapping the DataFrame's ids); the table gives medians
over folds and the ratio aisle / Surprise.
"""
import argparse
import os
import statistics
import sys
import time

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "shared", "bench"))
from common import SEED, load_ratings  # noqa: E402

import surprise  # noqa: E402
from surprise import Dataset, Reader, accuracy  # noqa: E402
from surprise.model_selection import KFold  # noqa: E402

import aisle  # noqa: E402

PEERS = {
    "SVD": (surprise.SVD, aisle.SVD),
    "SVDpp": (lambda: surprise.SVDpp(cache_ratings=True), aisle.SVDpp),
    "BaselineOnly": (lambda: surprise.BaselineOnly(verbose=False), aisle.BaselineOnly),
    "KNNBaseline": (lambda: surprise.KNNBaseline(verbose=False), aisle.KNNBaseline),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--models", default="SVD,SVDpp,BaselineOnly,KNNBaseline")
    a = ap.parse_args()
    df = load_ratings(a.dataset)
    lo, hi = float(df["rating"].min()), float(df["rating"].max())
    data = Dataset.load_from_df(df[["user", "item", "rating"]], Reader(rating_scale=(lo, hi)))
    folds = list(KFold(n_splits=5, random_state=SEED, shuffle=True).split(data))
    print(f"{a.dataset}: {len(df)} ratings, 5 folds, Surprise {surprise.__version__}")
    print("| model | Surprise RMSE | aisle RMSE | Surprise fit (median) | aisle fit (median) | aisle / Surprise |")
    print("|---|---|---|---|---|---|")
    for name in a.models.split(","):
        make_peer, make_ours = PEERS[name]
        rows = []
        for trainset, testset in folds:
            train = pd.DataFrame(
                [(trainset.to_raw_uid(u), trainset.to_raw_iid(i), r) for u, i, r in trainset.all_ratings()],
                columns=["user", "item", "rating"],
            )
            peer = make_peer()
            t0 = time.perf_counter(); peer.fit(trainset); peer_fit = time.perf_counter() - t0
            peer_rmse = accuracy.rmse(peer.test(testset), verbose=False)
            ours = make_ours(rating_scale=(lo, hi))
            t0 = time.perf_counter(); ours.fit(train); our_fit = time.perf_counter() - t0
            our_rmse = accuracy.rmse(ours.test(testset), verbose=False)
            rows.append((peer_rmse, our_rmse, peer_fit, our_fit))
        med = [statistics.median(r[k] for r in rows) for k in range(4)]
        fits = " / ".join(f"{r[3]:.3f}" for r in rows)
        print(f"| {name} | {med[0]:.4f} | {med[1]:.4f} | {med[2]:.3f} s | {med[3]:.3f} s ({fits}) | "
              f"{med[3] / med[2]:.3f}x |")


if __name__ == "__main__":
    main()
