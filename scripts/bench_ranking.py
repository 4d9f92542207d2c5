"""Side-by-side implicit-feedback ranking benchmark: implicit 0.7.3 (ALS, BPR), LightFM 1.17 (WARP)
and aisle (ials, bpr, hybrid, ease, ...), back to back, N rounds, on the peers' own 80/20 split.

usage: OPENBLAS_NUM_THREADS=1 python scripts/bench_ranking.py [--rounds 3] [--dataset ml-100k]
           [--aisle target/release/aisle] [--models ials,bpr,hybrid,ease,user-knn,item-knn]
       (run with the peers' venv python: ../shared/bench/setup.sh creates it)

Each round runs `implicit_eval.py DATASET --export-split DIR` (which writes the exact split the peers
use), then `lightfm_eval.py DATASET`, then `aisle eval --train DIR/train.tsv --test DIR/test.tsv`
(ratings as confidence, full catalog, train items excluded: the metrics of `common.py`). Prints a
Markdown table of medians over rounds (quality is deterministic on both sides but LightFM's Hogwild)
and the fit-time ratios. Both sides use both cores.
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

# aisle model -> the peer it is compared with (result key, label)
PEERS = {"ials": ("implicit ALS", "ALS"), "bpr": ("implicit BPR", "BPR"), "hybrid": ("LightFM WARP", "WARP")}


def peers(dataset, split_dir):
    py = sys.executable
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    subprocess.run([py, os.path.join(BENCH, "implicit_eval.py"), dataset, "--export-split", split_dir],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    subprocess.run([py, os.path.join(BENCH, "lightfm_eval.py"), dataset], check=True, stdout=subprocess.DEVNULL,
                   env=env)
    name = os.path.basename(dataset)
    with open(os.path.join(RESULTS, f"implicit_{name}.json")) as f:
        imp = json.load(f)["results"]
    with open(os.path.join(RESULTS, f"lightfm_{name}.json")) as f:
        lfm = json.load(f)
    out = {k: {"fit": v["fit_s"], "ndcg": v["metrics"]["ndcg@10"], "p10": v["metrics"]["precision@10"]}
           for k, v in imp.items()}
    out["WARP"] = {"fit": lfm["fit_s"], "ndcg": lfm["metrics"]["ndcg@10"], "p10": lfm["metrics"]["precision@10"]}
    return out


def aisle(binary, models, split_dir):
    cmd = [binary, "eval", "--train", f"{split_dir}/train.tsv", "--test", f"{split_dir}/test.tsv", "--format", "tsv",
           "--feedback", "implicit", "--models", models, "--output", "json", "--no-progress"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    res = {}
    for r in json.loads(out)["results"]:
        f = r["folds"][0]
        res[r["model"]] = {"fit": f["fit_s"], "ndcg": f["ranking"]["ndcg"], "p10": f["ranking"]["precision"]}
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dataset", default="ml-100k")
    ap.add_argument("--aisle", default=os.path.join(HERE, "..", "target", "release", "aisle"))
    ap.add_argument("--models", default="ials,bpr,hybrid,ease,user-knn,item-knn")
    a = ap.parse_args()
    split_dir = f"/tmp/aisle-split-{os.path.basename(a.dataset)}"
    p_runs, a_runs = [], []
    for r in range(a.rounds):
        p_runs.append(peers(a.dataset, split_dir))
        a_runs.append(aisle(a.aisle, a.models, split_dir))
        print(json.dumps({"round": r + 1, "peers": p_runs[-1], "aisle": a_runs[-1]}), file=sys.stderr, flush=True)
    med = lambda runs, m, k: statistics.median(x[m][k] for x in runs)
    print(f"{a.dataset}, {a.rounds} rounds, medians (fit in seconds)\n")
    print("| model | NDCG@10 | P@10 | fit s | peer | peer NDCG@10 | peer P@10 | peer fit s | fit ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in a_runs[0]:
        x = {k: med(a_runs, m, k) for k in ("ndcg", "p10", "fit")}
        row = f"| aisle {m} | {x['ndcg']:.4f} | {x['p10']:.4f} | {x['fit']:.3f} |"
        if m in PEERS:
            label, key = PEERS[m]
            p = {k: med(p_runs, key, k) for k in ("ndcg", "p10", "fit")}
            row += f" {label} | {p['ndcg']:.4f} | {p['p10']:.4f} | {p['fit']:.3f} | {x['fit'] / p['fit']:.2f} |"
        else:
            row += " | | | | |"
        print(row)


if __name__ == "__main__":
    main()
