"""The Surprise-style rating models: fit on (user, item, rating) rows with raw ids, predict, test,
accuracy, unknown ids, duplicates, clipping, saving and errors."""

import pickle

import numpy as np
import pytest

import aisle
from aisle import accuracy


def ratings(seed=0, n_users=80, n_items=50, per_user=25):
    """Ratings `3 + user effect + item effect + noise` on a 1..5 scale, with text ids."""
    rng = np.random.default_rng(seed)
    bu, bi = rng.normal(0, 0.7, n_users), rng.normal(0, 0.7, n_items)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, size=per_user, replace=False):
            r = float(np.clip(np.round(3 + bu[u] + bi[i] + rng.normal(0, 0.3)), 1, 5))
            rows.append((f"u{u}", f"i{i}", r))
    return rows


@pytest.fixture(scope="module")
def split():
    rows = ratings()
    rng = np.random.default_rng(1)
    test = set(rng.choice(len(rows), size=len(rows) // 5, replace=False).tolist())
    return [r for k, r in enumerate(rows) if k not in test], [r for k, r in enumerate(rows) if k in test]


MODELS = [aisle.SVD, aisle.SVDpp, aisle.BaselineOnly, aisle.KNNBaseline]


@pytest.mark.parametrize("make", MODELS, ids=lambda m: m.__name__)
def test_each_model_predicts_held_out_ratings_better_than_the_mean(make, split):
    train, test = split
    model = make().fit(train)
    predictions = model.test(test)
    assert len(predictions) == len(test)
    assert [(p.uid, p.iid, p.r_ui) for p in predictions] == [tuple(r) for r in test]
    mean = np.mean([r for _, _, r in train])
    baseline = float(np.sqrt(np.mean([(r - mean) ** 2 for _, _, r in test])))
    got = accuracy.rmse(predictions, verbose=False)
    assert got < 0.8 * baseline, (got, baseline)
    assert got == pytest.approx(np.sqrt(np.mean([(p.r_ui - p.est) ** 2 for p in predictions])))
    assert accuracy.mae(predictions, verbose=False) == pytest.approx(
        np.mean([abs(p.r_ui - p.est) for p in predictions])
    )
    one = model.predict(test[0][0], test[0][1], r_ui=test[0][2])
    assert one == predictions[0]
    assert one.details == {"was_impossible": False}


def test_a_dataframe_and_triples_fit_the_same_model(split):
    import pandas as pd
    train, test = split
    frame = pd.DataFrame(train, columns=["user", "item", "rating"])
    a, b = aisle.SVD().fit(frame), aisle.SVD().fit(train)
    np.testing.assert_array_equal(a.predict_frame(pd.DataFrame(test)), b.predict_frame(test))


def test_unknown_ids_fall_back_as_surprise_does(split):
    train, _ = split
    svd = aisle.SVD().fit(train)
    mean = np.mean([r for _, _, r in train])
    both = svd.predict("nobody", "nothing")
    assert both.est == pytest.approx(mean, abs=1e-5) and not both.details["was_impossible"]
    item_only = svd.predict("nobody", "i3")
    assert item_only.est != pytest.approx(mean, abs=1e-3), "a known item's bias counts"
    knn = aisle.KNNBaseline().fit(train)
    p = knn.predict("nobody", "i3")
    assert p.est == pytest.approx(mean, abs=1e-5)
    assert p.details["was_impossible"] and "unknown" in p.details["reason"]
    assert knn.predict(7, "i3").details["was_impossible"], "an id of another kind is unknown too"


def test_a_pair_rated_twice_keeps_its_last_rating(split):
    train, test = split
    u, i, r = train[0]
    twice = [(u, i, 6 - r)] + train
    once = aisle.BaselineOnly().fit(train)
    both = aisle.BaselineOnly().fit(twice)
    np.testing.assert_array_equal(once.predict_frame(test), both.predict_frame(test))
    first = aisle.BaselineOnly().fit(train + [(u, i, 6 - r)])
    assert not np.array_equal(once.predict_frame(test), first.predict_frame(test))


def test_estimates_are_clipped_to_the_rating_scale(split):
    train, test = split
    model = aisle.SVD(rating_scale=(2.0, 4.0)).fit(train)
    est = model.predict_frame(test + [("nobody", "i1"), ("u1", "nothing")])
    assert est.min() >= 2.0 and est.max() <= 4.0
    assert (est == 2.0).any() or (est == 4.0).any(), "the clip is reached on this data"


def test_a_pickled_model_predicts_the_same(split):
    train, test = split
    model = aisle.SVDpp(n_factors=8, n_epochs=5).fit(train)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.predict_frame(test), again.predict_frame(test))


def test_bad_rows_and_parameters_raise_clear_errors(split):
    train, _ = split
    with pytest.raises(ValueError, match="not finite"):
        aisle.SVD().fit(train + [("u1", "i1", float("nan"))])
    with pytest.raises(ValueError, match="rating column"):
        aisle.SVD().fit([(u, i) for u, i, _ in train])
    with pytest.raises(ValueError, match="one kind"):
        aisle.SVD().fit(train + [(1, "i1", 3.0)])
    with pytest.raises(aisle.ParamError, match="factors"):
        aisle.SVD(n_factors=0).fit(train)
    with pytest.raises(aisle.ModelError, match="not fitted"):
        aisle.SVD().predict("u1", "i1")
    with pytest.raises(ValueError, match="no prediction with a true rating"):
        accuracy.rmse([aisle.Prediction("u", "i", None, 3.0, {})])
