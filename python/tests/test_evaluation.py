"""Splits and metrics: a split partitions the matrix, the same seed gives the same split, and
`evaluate` computes what the recommendations and the test items say, by hand."""

import numpy as np
import pytest
import scipy.sparse as sp

import aisle
from aisle import evaluation


def matrix(seed=0, n_users=60, n_items=40):
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.25).astype(np.float32) * rng.integers(1, 4, (n_users, n_items))
    return sp.csr_matrix(dense.astype(np.float32))


def pairs(m):
    c = m.tocoo()
    return set(zip(c.row.tolist(), c.col.tolist()))


def test_a_random_split_partitions_the_matrix_and_repeats_for_a_seed():
    m = matrix()
    train, test = evaluation.train_test_split(m, 0.8, random_state=3)
    assert train.shape == test.shape == m.shape
    assert not pairs(train) & pairs(test)
    assert pairs(train) | pairs(test) == pairs(m)
    assert abs(test.nnz - 0.2 * m.nnz) <= 1
    np.testing.assert_array_equal((train + test).toarray(), m.toarray())
    again, _ = evaluation.train_test_split(m, 0.8, random_state=3)
    other, _ = evaluation.train_test_split(m, 0.8, random_state=4)
    assert pairs(again) == pairs(train) and pairs(other) != pairs(train)


def test_k_fold_tests_partition_and_leave_k_out_takes_k_per_user():
    m = matrix(1)
    folds = evaluation.split(m, "k_fold", folds=4)
    assert len(folds) == 4
    tests = [pairs(t) for _, t in folds]
    assert set().union(*tests) == pairs(m) and sum(len(t) for t in tests) == m.nnz
    train, test = evaluation.leave_k_out_split(m, K=2)
    per_user = np.diff(test.indptr)
    has = np.diff(m.indptr)
    assert np.all(per_user[has > 2] == 2) and np.all(per_user[has <= 2] == 0)


def test_evaluate_computes_the_metrics_of_the_ranked_lists():
    m = matrix(2)
    train, test = evaluation.train_test_split(m, 0.75, random_state=1)
    model = aisle.ALS(factors=8, regularization=1.0)
    model.fit(train, show_progress=False)
    got = aisle.evaluate(model, train, test, k=5)
    users = np.arange(m.shape[0])
    top, _ = model.recommend(users, train, N=5)
    disc = 1.0 / np.log2(np.arange(2, 7))
    precision, recall, ndcg, hits, evaluated = [], [], [], [], 0
    for u in users:
        relevant = set(test[u].indices)
        if not relevant:
            continue
        evaluated += 1
        rel = np.array([i in relevant for i in top[u]])
        precision.append(rel.sum() / 5)
        recall.append(rel.sum() / len(relevant))
        ndcg.append(disc[rel].sum() / disc[: min(len(relevant), 5)].sum())
        hits.append(rel.any())
    assert got["users"] == evaluated and got["skipped_users"] == 0 and got["k"] == 5
    assert got["precision"] == pytest.approx(np.mean(precision), abs=1e-9)
    assert got["recall"] == pytest.approx(np.mean(recall), abs=1e-9)
    assert got["ndcg"] == pytest.approx(np.mean(ndcg), abs=1e-9)
    assert got["hit_rate"] == pytest.approx(np.mean(hits), abs=1e-9)
    short = evaluation.ranking_metrics_at_k(model, train, test, K=5)
    assert short["ndcg"] == got["ndcg"] and set(short) == {"precision", "map", "ndcg", "auc"}


def test_bad_splits_and_cut_offs_are_refused():
    m = matrix(3)
    with pytest.raises(ValueError, match="timestamps"):
        evaluation.split(m, "time_global", test_ratio=0.2)
    with pytest.raises(ValueError, match="split strategy"):
        evaluation.split(m, "nope")
    with pytest.raises(ValueError, match="train_percentage"):
        evaluation.train_test_split(m, 1.5)
    model = aisle.ALS(factors=4)
    model.fit(m, show_progress=False)
    with pytest.raises(ValueError, match="k must be in"):
        aisle.evaluate(model, m, m, k=0)
    with pytest.raises(ValueError, match="train is"):
        aisle.evaluate(model, m, m[:10], k=5)
