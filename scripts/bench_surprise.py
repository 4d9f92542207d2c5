"""Side-by-side ML-100k 5-fold benchmark: Surprise 1.1.5 and aisle, back to back, N rounds.

usage: python scripts/bench_surprise.py [--rounds 3] [--aisle target/release/aisle] [--data PATH]
       (run with the peers' venv python: ../shared/bench/setup.sh creates it)

For each pair below it runs Surprise's `surprise_cv.py` (KFold(5, shuffle, seed 42), single-threaded)
and then `aisle eval --cv 5` on the same file, and prints a Markdown table of medians over rounds:
RMSE, fit seconds per fold, fit + predict seconds per fold, and the speed ratios. Timing on a shared
2-core machine is noisy: medians over rounds, and the two sides run back to back in each round.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "shared", "bench")
RESULTS = os.environ.get("RESULTS", "/tmp/aisle-peers/results")

# (label, Surprise algo, aisle model, aisle --param overrides)
PAIRS = [
    ("SVD", "SVD", "svd", []),
    ("SVD, Surprise's reg 0.02", None, "svd", ["svd.reg=0.02"]),
    ("SVD++", "SVDpp", "svdpp", []),
    ("SVD++, Surprise's defaults", None, "svdpp",
     ["svdpp.epochs=20", "svdpp.learning_rate=0.007", "svdpp.reg=0.02"]),
    ("BaselineOnly (ALS)", "BaselineOnly", "baseline", []),
    ("KNNBaseline (user, MSD: Surprise's default)", "KNNBaseline", "knn-baseline",
     ["knn-baseline.based=user", "knn-baseline.similarity=msd", "knn-baseline.shrinkage=0"]),
    ("kNN-with-baseline (aisle default: item, Pearson-baseline)", None, "knn-baseline", []),
]


def surprise(algo, data):
    py = sys.executable
    subprocess.run([py, os.path.join(BENCH, "surprise_cv.py"), data, algo], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(RESULTS, f"surprise_{algo}_{os.path.basename(data)}.json")) as f:
        r = json.load(f)
    return {"rmse": r["mean_rmse"], "fit": r["mean_fit_s"], "total": r["mean_fit_s"] + r["mean_test_s"]}


def aisle(binary, model, params, data_path):
    cmd = [binary, "eval", "--data", data_path, "--format", "ml-100k", "--models", model, "--cv", "5",
           "--output", "json", "--no-progress"]
    for p in params:
        cmd += ["--param", p]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    r = next(x for x in json.loads(out)["results"] if x["model"] == model)
    folds = r["folds"]
    mean = lambda xs: sum(xs) / len(xs)
    return {"rmse": mean([f["rating"]["rmse"] for f in folds]), "fit": mean([f["fit_s"] for f in folds]),
            "total": mean([f["fit_s"] + f["predict_s"] for f in folds])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--aisle", default=os.path.join(HERE, "..", "target", "release", "aisle"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "datasets", "ml-100k", "u.data"))
    a = ap.parse_args()
    # surprise_cv.py names the shared copy "ml-100k"; any other file is passed as a path.
    dataset = "ml-100k" if a.data.endswith("ml-100k/u.data") else a.data
    rows = []
    for label, algo, model, params in PAIRS:
        s_runs, a_runs = [], []
        for _ in range(a.rounds):
            if algo:
                s_runs.append(surprise(algo, dataset))
            a_runs.append(aisle(a.aisle, model, params, a.data))
        med = lambda runs, k: statistics.median(r[k] for r in runs)
        row = {"label": label, "aisle": {k: med(a_runs, k) for k in ("rmse", "fit", "total")}}
        if s_runs:
            row["surprise"] = {k: med(s_runs, k) for k in ("rmse", "fit", "total")}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"| model | aisle RMSE | Surprise RMSE | aisle fit s/fold | Surprise fit s/fold | fit ratio "
          f"| aisle fit+predict s/fold | Surprise fit+predict s/fold | fit+predict ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        x, s = r["aisle"], r.get("surprise")
        if s:
            print(f"| {r['label']} | {x['rmse']:.4f} | {s['rmse']:.4f} | {x['fit']:.4f} | {s['fit']:.3f} | "
                  f"{s['fit'] / x['fit']:.0f}× | {x['total']:.4f} | {s['total']:.3f} | {s['total'] / x['total']:.0f}× |")
        else:
            print(f"| {r['label']} | {x['rmse']:.4f} | — | {x['fit']:.4f} | — | — | {x['total']:.4f} | — | — |")


if __name__ == "__main__":
    main()
