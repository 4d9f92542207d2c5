"""The implicit-style models: fit on a CSR matrix, recommend, similar items, fold-in, factors,
saving, progress and errors, checked on a matrix with planted structure."""

import pickle
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp

import aisle

N_USERS, N_ITEMS, GROUPS = 120, 60, 3


def planted(seed=0):
    """Users in three groups, each touching only items of its group (a third of the catalog)."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(N_USERS):
        g = u % GROUPS
        items = rng.choice(np.arange(g, N_ITEMS, GROUPS), size=8, replace=False)
        rows += [u] * len(items)
        cols += list(items)
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(N_USERS, N_ITEMS))


@pytest.fixture(scope="module")
def matrix():
    return planted()


MODELS = [
    lambda: aisle.ALS(factors=16, regularization=0.1, iterations=10),
    lambda: aisle.BPR(factors=16, iterations=60),
    lambda: aisle.EASE(regularization=10.0),
    lambda: aisle.ItemKNN(K=20),
]


@pytest.mark.parametrize("make", MODELS, ids=["ALS", "BPR", "EASE", "ItemKNN"])
def test_recommendations_come_from_the_users_group_and_skip_what_they_have(make, matrix):
    model = make()
    model.fit(matrix, show_progress=False)
    for u in (0, 1, 2, 50):
        ids, scores = model.recommend(u, matrix[u], N=5)
        assert len(ids) == 5 and ids.dtype == np.int32
        assert all(i % GROUPS == u % GROUPS for i in ids), (u, ids)
        assert not set(ids) & set(matrix[u].indices), "liked items are filtered"
        assert np.all(np.diff(scores) <= 0), "scores descend"
    kept, _ = model.recommend(0, matrix[0], N=N_ITEMS, filter_already_liked_items=False)
    assert set(matrix[0].indices) <= set(kept), "without the filter, liked items may come back"


@pytest.mark.parametrize("make", MODELS, ids=["ALS", "BPR", "EASE", "ItemKNN"])
def test_a_batch_is_the_single_calls_row_by_row(make, matrix):
    model = make()
    model.fit(matrix, show_progress=False)
    users = np.array([5, 0, 77, 5])
    ids, scores = model.recommend(users, matrix[users], N=7)
    assert ids.shape == scores.shape == (4, 7)
    for row, u in enumerate(users):
        one, s = model.recommend(int(u), matrix[u], N=7)
        np.testing.assert_array_equal(ids[row], one)
        np.testing.assert_allclose(scores[row], s)


def test_rows_short_of_candidates_are_padded(matrix):
    model = aisle.ALS(factors=8)
    model.fit(matrix, show_progress=False)
    ids, scores = model.recommend(np.array([0]), matrix[[0]], N=5, items=[0, 3, 6])
    assert ids.shape == (1, 3), "at most as many columns as items asked for"
    liked = set(matrix[0].indices) & {0, 3, 6}
    assert (ids[0] == -1).sum() == len(liked)
    assert np.all(np.isneginf(scores[0][ids[0] == -1]))
    one, _ = model.recommend(0, matrix[0], N=5, items=[0, 3, 6])
    assert set(one) == {0, 3, 6} - liked


def test_items_and_filter_items_restrict_the_ranking(matrix):
    model = aisle.ALS(factors=16, regularization=0.1)
    model.fit(matrix, show_progress=False)
    subset = [1, 4, 7, 10, 13]
    ids, _ = model.recommend(1, matrix[1], N=3, items=subset, filter_already_liked_items=False)
    assert set(ids) <= set(subset)
    top, _ = model.recommend(1, matrix[1], N=3)
    ids, _ = model.recommend(1, matrix[1], N=3, filter_items=top[:2])
    assert not set(ids) & set(top[:2])
    with pytest.raises(ValueError, match="both items and filter_items"):
        model.recommend(1, matrix[1], items=[1], filter_items=[2])


def test_similar_items_list_the_item_first_then_its_group(matrix):
    for model in (aisle.ALS(factors=16, regularization=0.1), aisle.ItemKNN(K=20)):
        model.fit(matrix, show_progress=False)
        ids, scores = model.similar_items(4, N=6)
        assert ids[0] == 4, "implicit's convention: the item itself first"
        assert all(i % GROUPS == 4 % GROUPS for i in ids)
        assert np.all(np.diff(scores) <= 1e-6)
        batch, _ = model.similar_items(np.array([4, 5]), N=6)
        np.testing.assert_array_equal(batch[0], ids)
        only, _ = model.similar_items(4, N=3, items=[4, 10, 16, 2])
        assert only[0] == 4 and set(only) <= {4, 10, 16, 2}
        filtered, _ = model.similar_items(4, N=6, filter_items=[4, ids[1]])
        assert 4 not in filtered and ids[1] not in filtered


def test_factors_score_what_recommend_scores(matrix):
    model = aisle.ALS(factors=12, regularization=0.1)
    model.fit(matrix, show_progress=False)
    assert model.user_factors.shape == (N_USERS, 12)
    assert model.item_factors.shape == (N_ITEMS, 12)
    ids, scores = model.recommend(3, matrix[3], N=5)
    np.testing.assert_allclose(model.item_factors[ids] @ model.user_factors[3], scores, rtol=1e-4, atol=1e-6)
    with pytest.raises(AttributeError):
        knn = aisle.ItemKNN()
        knn.fit(matrix, show_progress=False)
        _ = knn.user_factors


def test_a_new_user_is_folded_in_without_a_refit(matrix):
    model = aisle.ALS(factors=16, regularization=0.1)
    model.fit(matrix, show_progress=False)
    history = sp.csr_matrix((np.ones(3, np.float32), ([0, 0, 0], [2, 5, 8])), shape=(1, N_ITEMS))
    vector = model.recalculate_user(0, history)
    assert vector.shape == (16,)
    ids, scores = model.recommend(0, history, N=5, recalculate_user=True)
    assert all(i % GROUPS == 2 for i in ids), ids
    assert not {2, 5, 8} & set(ids)
    np.testing.assert_allclose(model.item_factors[ids] @ vector, scores, rtol=1e-4, atol=1e-6)


def test_the_same_seed_gives_the_same_model(matrix):
    a, b = aisle.ALS(factors=8, random_state=7), aisle.ALS(factors=8, random_state=7)
    a.fit(matrix, show_progress=False)
    b.fit(matrix, show_progress=False)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    c = aisle.ALS(factors=8, random_state=8)
    c.fit(matrix, show_progress=False)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_a_saved_model_answers_the_same(matrix, tmp_path):
    model = aisle.BPR(factors=8, iterations=20)
    model.fit(matrix, show_progress=False)
    users = np.arange(10)
    want = model.recommend(users, matrix[users], N=5)
    path = tmp_path / "bpr.aisle"
    model.save(str(path))
    loaded = aisle.BPR.load(str(path))
    assert isinstance(loaded, aisle.BPR) and loaded.params == model.params
    for got in (loaded.recommend(users, matrix[users], N=5),
                pickle.loads(pickle.dumps(model)).recommend(users, matrix[users], N=5)):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(aisle.ModelError):
        aisle.BPR.load(str(path))
    path.write_bytes(b"not a model")
    with pytest.raises(aisle.ModelError, match="not an aisle model"):
        aisle.BPR.load(str(path))


def test_progress_reaches_the_callback_which_can_stop_the_fit(matrix):
    seen = []

    def stop_at_once(model, done, total, loss):
        seen.append((model, done, total))
        return False

    model = aisle.ALS(factors=8, iterations=50)
    model.fit(matrix, show_progress=False, callback=stop_at_once)
    assert seen and seen[0][0] == "ials" and seen[0][2] == 50
    assert len(seen) == 1 and seen[0][1] < 50, "returning False stops the fit"
    model.recommend(0, matrix[0])

    def fail(*_):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        aisle.ALS(factors=8, iterations=5).fit(matrix, show_progress=False, callback=fail)


def test_a_fit_lets_other_python_threads_run():
    big = sp.random(3000, 2000, density=0.02, format="csr", dtype=np.float32, random_state=1)
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        time.sleep(0.01)
        start = time.monotonic()
        aisle.ALS(factors=64, iterations=15).fit(big, show_progress=False)
        end = time.monotonic()
    finally:
        done.set()
        t.join()
    assert any(start < x < end for x in ticks), "the GIL is released during a fit"


def test_bad_input_raises_errors_named_like_the_cli(matrix):
    with pytest.raises(aisle.ParamError, match="factors"):
        aisle.ALS(factors=0).fit(matrix, show_progress=False)
    with pytest.raises(aisle.ParamError, match="no such parameter"):
        aisle.ALS(nope=1).fit(matrix, show_progress=False)
    with pytest.raises(ValueError, match="scipy.sparse"):
        aisle.ALS().fit(np.ones((3, 3)))
    bad = matrix.copy().astype(np.float32)
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        aisle.ALS().fit(bad, show_progress=False)
    model = aisle.ALS(factors=4)
    with pytest.raises(aisle.ModelError, match="not fitted"):
        model.recommend(0, matrix[0])
    model.fit(matrix, show_progress=False)
    with pytest.raises(aisle.ModelError, match="user 999"):
        model.recommend(999, matrix[0])
    with pytest.raises(ValueError, match="1 row for every user"):
        model.recommend(np.array([0, 1]), matrix[0])
    with pytest.raises(aisle.ModelError, match="item 60"):
        model.similar_items(60)
    with pytest.raises(aisle.ModelError, match="item -1"):
        model.recommend(0, matrix[0], filter_items=[-1])
    unknown = sp.csr_matrix(([1.0], ([0], [N_ITEMS])), shape=(1, N_ITEMS + 1))
    with pytest.raises(aisle.ModelError, match="item 60"):
        model.recommend(0, unknown, recalculate_user=True)
    assert issubclass(aisle.ParamError, aisle.AisleError)
