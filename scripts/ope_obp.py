"""The reference side of `aisle ope` vs obp (docs/benchmarks.md): Open Bandit Pipeline 0.5.7's
IPS, SNIPS and DR on one synthetic log, written out as CSV so that aisle can read the same log.

usage: python scripts/ope_obp.py --out DIR [--seed 1] [--rounds 10000] [--actions 10] [--len-list 1]
       (run with the obp venv's python: scripts/ope_obp.sh creates it and runs this for seeds 1..3)

The log comes from obp.dataset.SyntheticBanditDataset (binary rewards, logistic reward function,
linear behaviour policy, dim_context 5, random_state = seed). That class always has len_list 1 and
position None. For --len-list L > 1 each round is given a position drawn uniformly from 0..L-1
(numpy RandomState(seed)), as in obp's real Open Bandit Dataset (one row = one impression at one
position), and obp's standard estimators read action_dist[i, :, position[i]].
The evaluation policy at position p is softmax((10 / (p + 1)) * q(x, .)), q = the dataset's true
expected reward, so it is stochastic and unlike the behaviour policy; DR's q-hat is that same true q
broadcast over positions, so DR is deterministic and aisle can be given the same q-hat.

DIR gets log.csv (round,position,item,reward,propensity), target.csv (round,position,item,prob: every
action at every position), qhat.csv (round,position,item,qhat: same rows) and obp.json (the
estimates, obp's bootstrap intervals, the ground truth). Floats are written with 17 significant
digits, so they read back bit for bit. At the end the estimates are recomputed in plain numpy from
the CSV files alone and must agree with obp's to 1e-12 (relative), or the script fails.
"""
import argparse
import importlib.util
import json
import os
import sys
import types

import numpy as np

BETA_E = 10.0  # inverse temperature of the evaluation policy at position 0
RTOL = 1e-12


def import_obp():
    """Import obp.dataset and obp.ope without PyTorch.

    obp/__init__.py imports obp.policy (torch.nn, yaml), and obp/utils.py does `import torch` only for
    check_tensor (used by obp.policy's neural policies). Neither is on our path, so unless a real
    torch is installed, a stub `torch` module stands in and obp/__init__.py is skipped: no obp code
    that runs here touches torch (checked once against torch 1.12.0: identical output, bit for bit).
    """
    try:
        import torch  # noqa: F401  (real torch: import obp as usual; that needs pyyaml too)
    except ImportError:
        stub = types.ModuleType("torch")
        stub.Tensor = stub.tensor = type("Tensor", (), {})
        sys.modules["torch"] = stub
        pkg = types.ModuleType("obp")
        pkg.__path__ = list(importlib.util.find_spec("obp").submodule_search_locations)
        sys.modules["obp"] = pkg
    import obp.dataset
    import obp.ope
    import obp.utils
    from obp.version import __version__
    return __version__, getattr(sys.modules["torch"], "__version__", "stub")


def write_csv(path, header, columns, fmts):
    rows = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    np.savetxt(path, rows, fmt=fmts, delimiter=",", header=header, comments="")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10_000)
    ap.add_argument("--actions", type=int, default=10)
    ap.add_argument("--len-list", type=int, default=1)
    a = ap.parse_args()
    obp_version, torch_version = import_obp()
    from obp.dataset import SyntheticBanditDataset, linear_behavior_policy, logistic_reward_function
    from obp.ope import (DoublyRobust, InverseProbabilityWeighting, OffPolicyEvaluation,
                         SelfNormalizedInverseProbabilityWeighting)
    from obp.utils import softmax

    n, k, L, seed = a.rounds, a.actions, a.len_list, a.seed
    ds = SyntheticBanditDataset(n_actions=k, dim_context=5, reward_type="binary",
                                reward_function=logistic_reward_function,
                                behavior_policy_function=linear_behavior_policy, random_state=seed)
    bf = ds.obtain_batch_bandit_feedback(n_rounds=n)
    q = bf["expected_reward"]  # (n, k)
    if L > 1:
        bf["position"] = np.random.RandomState(seed).randint(L, size=n)
    position = bf["position"] if bf["position"] is not None else np.zeros(n, dtype=int)

    # evaluation policy and q-hat: (n_rounds, n_actions, len_list)
    action_dist = np.stack([softmax(BETA_E / (p + 1) * q) for p in range(L)], axis=2)
    qhat = np.repeat(q[:, :, np.newaxis], L, axis=2)

    ope = OffPolicyEvaluation(bandit_feedback=bf, ope_estimators=[
        InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(), DoublyRobust()])
    est = ope.estimate_policy_values(action_dist=action_dist, estimated_rewards_by_reg_model=qhat)
    intervals = ope.estimate_intervals(action_dist=action_dist, estimated_rewards_by_reg_model=qhat,
                                       n_bootstrap_samples=1000, alpha=0.05, random_state=seed)
    # obp's ground truth reads action_dist[:, :, 0] only: for L > 1 give it each round's
    # distribution at the round's logged position (and, for reference, each position's own value)
    at_pos = action_dist[np.arange(n), :, position][:, :, np.newaxis]
    names = {"ips": "ipw", "snips": "snipw", "dr": "dr"}  # our key -> obp's estimator_name
    result = {key: float(est[name]) for key, name in names.items()}
    result["ground_truth"] = float(ds.calc_ground_truth_policy_value(q, at_pos))
    if L > 1:
        result["ground_truth_by_position"] = [
            float(ds.calc_ground_truth_policy_value(q, action_dist[:, :, [p]])) for p in range(L)]
    result["intervals"] = {key: {k_: float(v) for k_, v in intervals[name].items()}
                           for key, name in names.items()}
    result.update(n_rounds=n, n_actions=k, len_list=L, seed=seed, obp_version=obp_version,
                  numpy_version=np.__version__, torch=torch_version,
                  evaluation_policy=f"softmax(({BETA_E} / (position + 1)) * expected_reward)")

    write_outputs(a.out, bf, position, action_dist, qhat, result)
    check(a.out, result)


def write_outputs(out, bf, position, action_dist, qhat, result):
    n, k, L = action_dist.shape
    os.makedirs(out, exist_ok=True)
    write_csv(os.path.join(out, "log.csv"), "round,position,item,reward,propensity",
              [np.arange(n), position, bf["action"], bf["reward"], bf["pscore"]],
              ["%d", "%d", "%d", "%d", "%.17g"])
    r, p, i = (g.ravel() for g in np.meshgrid(np.arange(n), np.arange(L), np.arange(k), indexing="ij"))
    write_csv(os.path.join(out, "target.csv"), "round,position,item,prob",
              [r, p, i, action_dist[r, i, p]], ["%d", "%d", "%d", "%.17g"])
    write_csv(os.path.join(out, "qhat.csv"), "round,position,item,qhat",
              [r, p, i, qhat[r, i, p]], ["%d", "%d", "%d", "%.17g"])
    with open(os.path.join(out, "obp.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def check(out, result):
    """Recompute IPS, SNIPS and DR from the CSV files alone (plain numpy) and compare with obp's."""
    log = np.loadtxt(os.path.join(out, "log.csv"), delimiter=",", skiprows=1, ndmin=2)
    tgt = np.loadtxt(os.path.join(out, "target.csv"), delimiter=",", skiprows=1, ndmin=2)
    qh = np.loadtxt(os.path.join(out, "qhat.csv"), delimiter=",", skiprows=1, ndmin=2)
    n, k, L = result["n_rounds"], result["n_actions"], result["len_list"]
    pi_e, q = np.zeros((n, L, k)), np.zeros((n, L, k))
    pi_e[tgt[:, 0].astype(int), tgt[:, 1].astype(int), tgt[:, 2].astype(int)] = tgt[:, 3]
    q[qh[:, 0].astype(int), qh[:, 1].astype(int), qh[:, 2].astype(int)] = qh[:, 3]
    rnd, pos, item, r, prop = (log[:, 0].astype(int), log[:, 1].astype(int), log[:, 2].astype(int),
                               log[:, 3], log[:, 4])
    w = pi_e[rnd, pos, item] / prop
    mine = {"ips": np.mean(r * w), "snips": np.sum(r * w) / np.sum(w),
            "dr": np.mean(np.sum(pi_e[rnd, pos] * q[rnd, pos], axis=1) + w * (r - q[rnd, pos, item]))}
    ok = True
    for key, v in mine.items():
        rel = abs(v - result[key]) / abs(result[key])
        ok &= rel <= RTOL
        print(f"{key:5s} obp {result[key]!r:22} numpy-from-csv {float(v)!r:22} rel.diff {rel:.1e}")
    print(f"ground truth {result['ground_truth']!r}")
    if not ok:
        sys.exit(f"CSV recomputation differs from obp by more than {RTOL} (relative)")


if __name__ == "__main__":
    main()
