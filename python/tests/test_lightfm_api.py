"""The LightFM-style hybrid: features carry what interactions do not (an item nobody touched is
ranked by its features), predict scores pairs as recommend does, and bad input is refused."""

import numpy as np
import pytest
import scipy.sparse as sp

import aisle

N_USERS, N_ITEMS, GROUPS = 90, 45, 3
COLD = 0  # an item of group 0 that nobody touches in training


def interactions(seed=0):
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for u in range(N_USERS):
        g = u % GROUPS
        pool = [i for i in range(g, N_ITEMS, GROUPS) if i != COLD]
        items = rng.choice(pool, size=6, replace=False)
        rows += [u] * len(items)
        cols += list(items)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(N_USERS, N_ITEMS))


def group_features(n, with_identity):
    """Rows × (group one-hot [+ identity]) as LightFM's Dataset builds them."""
    groups = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), np.arange(n) % GROUPS)), shape=(n, GROUPS))
    return sp.hstack([sp.identity(n, format="csr", dtype=np.float32), groups]).tocsr() if with_identity else groups


@pytest.fixture(scope="module")
def matrix():
    return interactions()


def test_an_item_nobody_touched_is_ranked_by_its_features(matrix):
    hybrid = aisle.LightFM(no_components=16, random_state=1)
    hybrid.fit(matrix, item_features=group_features(N_ITEMS, True), epochs=40)
    others = [i for i in range(N_ITEMS) if i % GROUPS != 0]
    wins = 0
    for u in range(0, N_USERS, GROUPS):  # users of group 0
        scores = hybrid.predict(u, np.arange(N_ITEMS))
        wins += scores[COLD] > np.median(scores[others])
    assert wins >= 0.9 * len(range(0, N_USERS, GROUPS)), wins
    identity_only = aisle.LightFM(no_components=16, random_state=1).fit(matrix, epochs=40)
    _, vectors = identity_only.get_item_representations()
    assert not vectors[COLD].any(), "without features, an untrained item has a zero vector"


def test_predict_scores_what_recommend_ranks(matrix):
    model = aisle.LightFM(no_components=8, random_state=2).fit(matrix, epochs=10)
    scores = model.predict(4, np.arange(N_ITEMS))
    assert scores.dtype == np.float32 and scores.shape == (N_ITEMS,)
    np.testing.assert_array_equal(scores, model.predict(np.full(N_ITEMS, 4), np.arange(N_ITEMS)))
    ids, top = model.recommend(4, matrix[4], N=5)
    np.testing.assert_allclose(scores[ids], top, rtol=1e-6)
    masked = scores.copy()
    masked[matrix[4].indices] = -np.inf
    assert set(ids) == set(np.argsort(-masked)[:5])
    mixed = model.predict(np.array([4, 7, 4]), np.array([1, 2, 3]))
    np.testing.assert_allclose(mixed, [scores[1], model.predict(7, [2])[0], scores[3]], rtol=1e-6)
    biases, embeddings = model.get_item_representations()
    assert biases.shape == (N_ITEMS,) and embeddings.shape == (N_ITEMS, 8)
    assert model.get_user_representations()[1].shape == (N_USERS, 8)


def test_user_features_alone_describe_users(matrix):
    users = group_features(N_USERS, False)
    model = aisle.LightFM(no_components=8, random_state=3).fit(matrix, user_features=users, epochs=20)
    vectors = model.get_user_representations()[1]
    np.testing.assert_allclose(vectors[0], vectors[3], rtol=1e-6, err_msg="the same features, the same vector")
    assert not np.allclose(vectors[0], vectors[1])


def test_bad_features_and_parameters_raise_clear_errors(matrix):
    with pytest.raises(ValueError, match="item_features has 10 rows"):
        aisle.LightFM().fit(matrix, item_features=sp.csr_matrix((10, 3), dtype=np.float32))
    empty_row = group_features(N_ITEMS, False).tolil()
    empty_row[5, :] = 0
    with pytest.raises(aisle.FitError, match="no feature"):
        aisle.LightFM().fit(matrix, item_features=empty_row.tocsr())
    with pytest.raises(aisle.ParamError, match="loss"):
        aisle.LightFM(loss="logistic").fit(matrix)
    model = aisle.LightFM(no_components=4).fit(matrix, epochs=2)
    with pytest.raises(ValueError, match="same length"):
        model.predict(np.array([1, 2]), np.array([1]))
    with pytest.raises(aisle.ModelError, match="user 90"):
        model.predict(90, [1])


def test_a_saved_hybrid_loads_back_as_itself(matrix, tmp_path):
    model = aisle.LightFM(no_components=8, random_state=4).fit(matrix, item_features=group_features(N_ITEMS, True))
    path = tmp_path / "hybrid.aisle"
    model.save(str(path))
    loaded = aisle.RecommenderBase.load(str(path))
    assert type(loaded) is aisle.LightFM
    np.testing.assert_array_equal(loaded.predict(3, np.arange(N_ITEMS)), model.predict(3, np.arange(N_ITEMS)))
