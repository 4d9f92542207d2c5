//! The conformance suite every model passes (house style habit 7): one set of generic checks run
//! against each entry of [`cases`], on a hand-checkable dataset.
//!
//! The dataset is a checkerboard of two taste groups: users 0..20 love items 0..10, users 20..40
//! love items 10..20. Each user has every item of their group but one (held out), rated 5, and three
//! items of the other group, rated 1. A personalised model must rank the held-out item of each user
//! first among the items the user has not touched. Non-personalised models (popularity, biases) run
//! every other check. In time, each user touches the three items of the other group first and
//! then their own, around the group's cycle (item k, k + 1, …, mod 10) from the one after the
//! held-out item: a sequence ends in the user's own group just before the held-out item, so the
//! sequential models (SASRec) have the same item to find next.
//!
//! Items carry side information too (a category and a title word per group, plus a word of their
//! own), so the content and hybrid models run the same checks; the others ignore it.

use aisle_core::models::registry::{Model, ModelSpec};
use aisle_core::{
    DEFAULT_SESSION_GAP_S, Feedback, FitContext, Interaction, Interactions, ItemAttributes, ItemIdx,
    ListIndex, ModelError, Recommender, SeqEvent, Sequences, SideInfo, UserIdx,
};
use rand::Rng;

pub const USERS_PER_GROUP: u32 = 20;
pub const ITEMS_PER_GROUP: u32 = 10;

/// One model under test and what it claims to do.
pub struct Case {
    pub name: &'static str,
    pub spec: ModelSpec,
    /// Ranks differently per user.
    pub personalised: bool,
    /// Answers `predict`.
    pub predicts: bool,
    /// Answers `similar_items`.
    pub similar: bool,
    /// Answers `item_affinity`, on the scale of `similar_items`.
    pub affinity: bool,
    /// Ranks by order (the checkerboard has none: these are checked on [`cycles`] instead).
    pub sequential: bool,
}

/// Every model, with parameters sized for a 40 × 20 dataset where the defaults are for real data.
pub fn cases() -> Vec<Case> {
    use aisle_core::models::svd::SvdParams;
    use aisle_core::models::svdpp::SvdPpParams;
    let case = |name, spec, personalised, predicts, similar| Case {
        name,
        spec,
        personalised,
        predicts,
        similar,
        affinity: similar,
        sequential: false,
    };
    let parse = |s: &str| s.parse::<ModelSpec>().expect("known model");
    let with = |name: &str, params: serde_json::Value| {
        let mut spec = parse(name);
        spec.merge(&params).expect("valid parameters");
        spec
    };
    let svd = SvdParams { factors: 8, epochs: 200, learning_rate: 0.02, ..SvdParams::default() };
    let svdpp = SvdPpParams { factors: 8, epochs: 200, learning_rate: 0.02, ..SvdPpParams::default() };
    let ials = serde_json::json!({"factors": 8, "reg": 0.1});
    // WARP on binary data cannot tell the checkerboard's 1-ratings from its 5s (LightFM itself
    // ranks the held-out item first for only 34–38 of the 40 users here): positives are the 5s.
    let hybrid = serde_json::json!({"components": 8, "epochs": 50, "positive_threshold": 3.0});
    let hybrid_bpr =
        serde_json::json!({"components": 8, "epochs": 50, "positive_threshold": 3.0, "loss": "bpr"});
    let sasrec = serde_json::json!({
        "hidden": 16, "blocks": 1, "max_len": 16, "epochs": 120, "learning_rate": 0.01, "batch_size": 8,
        "dropout": 0.1, "validation": "none"
    });
    vec![
        case("pop", parse("pop"), false, false, false),
        case("trending", parse("trending"), false, false, false),
        case("baseline", parse("baseline"), false, true, false),
        case("user-knn", parse("user-knn"), true, true, true),
        case("item-knn", parse("item-knn"), true, true, true),
        case("knn-baseline", parse("knn-baseline"), true, true, true),
        case("svd", ModelSpec::Svd(svd), true, true, true),
        case("svdpp", ModelSpec::SvdPp(svdpp), true, true, true),
        case("ials", with("ials", ials.clone()), true, false, true),
        case(
            "ials-cholesky",
            with("ials", serde_json::json!({"factors": 8, "reg": 0.1, "solver": "cholesky"})),
            true,
            false,
            true,
        ),
        case(
            "ials-scaled-reg",
            with("ials", serde_json::json!({"factors": 8, "reg": 0.01, "reg_exponent": 0.5})),
            true,
            false,
            true,
        ),
        case("bpr", with("bpr", serde_json::json!({"factors": 8, "epochs": 100})), true, false, true),
        case("ease", with("ease", serde_json::json!({"reg": 1.0})), true, false, true),
        case("content", parse("content"), true, false, true),
        case("hybrid", with("hybrid", hybrid), true, false, true),
        case("hybrid-bpr", with("hybrid", hybrid_bpr), true, false, true),
        // The session models rank by order, which the checkerboard does not have; they are
        // personalised on `cycles` (`sequential_models_predict_the_next_step`). V-SKNN's similar
        // items are votes of a one-item session, with no pairwise measure on that scale.
        Case { sequential: true, affinity: false, ..case("sknn", parse("sknn"), false, false, true) },
        Case { sequential: true, ..case("sr", parse("sr"), false, false, true) },
        Case { sequential: true, ..case("markov", parse("markov"), false, false, true) },
        case("sasrec", with("sasrec", sasrec), true, false, true),
        // A blend's similar items are z-scores within each component's list: there is no
        // pairwise measure on that scale.
        Case {
            affinity: false,
            ..case("blend", with("blend", serde_json::json!({"params": {"ials": ials}})), true, false, true)
        },
    ]
}

/// The checkerboard's side information: every item has its group's category and title word
/// and a word of its own.
pub fn side_info() -> SideInfo {
    let items = (0..2 * ITEMS_PER_GROUP)
        .map(|i| {
            let g = group(i, ITEMS_PER_GROUP);
            Some(ItemAttributes {
                title: format!("{} thing{i}", ["woollen", "plastic"][g as usize]),
                categories: vec![["winter", "summer"][g as usize].to_owned()],
                ..ItemAttributes::default()
            })
        })
        .collect();
    SideInfo { items, users: Vec::new() }
}

/// The group (0 or 1) of a user or item index.
fn group(idx: u32, per_group: u32) -> u32 {
    idx / per_group
}

/// The held-out item of user `u`: one item of its own group, different across users.
pub fn held_out(u: u32) -> ItemIdx {
    let g = group(u, USERS_PER_GROUP);
    ItemIdx(g * ITEMS_PER_GROUP + u % ITEMS_PER_GROUP)
}

/// The checkerboard training data (see the module doc).
pub fn checkerboard() -> Interactions {
    let mut entries = Vec::new();
    for u in 0..2 * USERS_PER_GROUP {
        let g = group(u, USERS_PER_GROUP);
        for k in 0..ITEMS_PER_GROUP {
            let item = ItemIdx(g * ITEMS_PER_GROUP + k);
            if item != held_out(u) {
                entries.push(Interaction {
                    user: UserIdx(u),
                    item,
                    value: 5.0,
                    // Around the group's cycle, starting after the held-out item.
                    ts: i64::from(
                        u * 100 + 10 + (k + ITEMS_PER_GROUP - 1 - u % ITEMS_PER_GROUP) % ITEMS_PER_GROUP,
                    ),
                });
            }
        }
        for k in 0..3 {
            let other = (1 - g) * ITEMS_PER_GROUP + (u + 3 * k) % ITEMS_PER_GROUP;
            entries.push(Interaction {
                user: UserIdx(u),
                item: ItemIdx(other),
                value: 1.0,
                ts: i64::from(u * 100),
            });
        }
    }
    Interactions::new(
        (2 * USERS_PER_GROUP) as usize,
        (2 * ITEMS_PER_GROUP) as usize,
        Feedback::Explicit,
        entries,
    )
    .expect("valid")
}

/// `case`'s model fitted to `data` with the checkerboard's side information.
pub fn fit(case: &Case, data: &Interactions, seed: u64) -> Model {
    let side = side_info();
    case.spec
        .fit(data, &FitContext::seeded(seed).with_side(&side))
        .unwrap_or_else(|e| panic!("{}: fit failed: {e}", case.name))
}

fn seen(data: &Interactions, u: UserIdx) -> Vec<ItemIdx> {
    data.user(u).indices.iter().map(|&i| ItemIdx(i)).collect()
}

/// User `u`'s training history, oldest first (as histories are given), equal times by item.
fn history(data: &Interactions, u: UserIdx) -> Vec<(ItemIdx, f32)> {
    let row = data.user(u);
    let mut steps: Vec<(i64, u32, f32)> =
        (0..row.len()).map(|k| (row.ts_at(k), row.indices[k], row.values[k])).collect();
    steps.sort_by_key(|a| (a.0, a.1));
    steps.into_iter().map(|(_, i, v)| (ItemIdx(i), v)).collect()
}

/// Sequences with an order to learn: every user walks the ring of 20 items one step at a time
/// from their own start, 12 steps (users 0..40), so what follows item `i` is always `i + 1`.
pub fn cycles() -> (Interactions, Sequences) {
    let (n_users, n_items, len) = (40u32, 20u32, 12u32);
    let (mut entries, mut events) = (Vec::new(), Vec::new());
    for u in 0..n_users {
        for t in 0..len {
            let item = ItemIdx((u + t) % n_items);
            let ts = i64::from(u * 1_000 + t * 10);
            entries.push(Interaction { user: UserIdx(u), item, value: 1.0, ts });
            events.push(SeqEvent { user: UserIdx(u), item, ts, session: None });
        }
    }
    let data =
        Interactions::new(n_users as usize, n_items as usize, Feedback::Implicit, entries).expect("valid");
    let seqs =
        Sequences::new(n_users as usize, n_items as usize, events, DEFAULT_SESSION_GAP_S).expect("valid");
    (data, seqs)
}

#[test]
fn sequential_models_predict_the_next_step() {
    let (data, seqs) = cycles();
    for case in cases().iter().filter(|c| c.sequential) {
        let model = case
            .spec
            .fit(&data, &FitContext::seeded(1).with_sequences(&seqs))
            .unwrap_or_else(|e| panic!("{}: fit failed: {e}", case.name));
        for u in 0..data.n_users() as u32 {
            // The user's next step is the item after their last one.
            let next = ItemIdx((u + 12) % 20);
            let top = model.recommend(UserIdx(u), 1, &seen(&data, UserIdx(u))).unwrap();
            assert_eq!(top[0].item, next, "{}: user {u} got {top:?}", case.name);
            // The same from an unseen shopper's history, oldest first: three steps of the ring.
            let history: Vec<(ItemIdx, f32)> = (0..3).map(|t| (ItemIdx((u + t) % 20), 1.0)).collect();
            let touched: Vec<ItemIdx> = history.iter().map(|&(i, _)| i).collect();
            let top = model.recommend_history(&history, 1, &touched).unwrap();
            let after = ItemIdx((u + 3) % 20);
            assert_eq!(top[0].item, after, "{}: history of user {u} got {top:?}", case.name);
        }
    }
}

/// The models that read order keep each training user's newest steps, oldest first, ending
/// with their last one (what a server puts before a known user's new events); the others keep
/// none.
#[test]
fn order_models_keep_each_users_newest_steps() {
    let (data, seqs) = cycles();
    for case in cases() {
        let ctx = FitContext::seeded(1).with_sequences(&seqs);
        let orders = case.sequential || case.name == "sasrec";
        if !orders {
            // On the checkerboard, whose side information the content models need.
            let model = fit(&case, &checkerboard(), 1);
            assert_eq!(model.user_steps(UserIdx(0)), None, "{}", case.name);
            continue;
        }
        let model = case.spec.fit(&data, &ctx).unwrap_or_else(|e| panic!("{}: fit failed: {e}", case.name));
        for u in 0..data.n_users() as u32 {
            let steps = model
                .user_steps(UserIdx(u))
                .unwrap_or_else(|| panic!("{}: no steps for user {u}", case.name));
            assert_eq!(steps.last(), Some(&((u + 11) % 20)), "{}: user {u}: {steps:?}", case.name);
            for pair in steps.windows(2) {
                assert_eq!(pair[1], (pair[0] + 1) % 20, "{}: user {u}: {steps:?} out of order", case.name);
            }
        }
        assert_eq!(model.user_steps(UserIdx(data.n_users() as u32)), None, "{}", case.name);
    }
}

#[test]
fn personalised_models_rank_the_held_out_item_first() {
    let data = checkerboard();
    for case in cases().iter().filter(|c| c.personalised) {
        let model = fit(case, &data, 1);
        for u in 0..data.n_users() as u32 {
            let top = model.recommend(UserIdx(u), 1, &seen(&data, UserIdx(u))).unwrap();
            assert_eq!(top[0].item, held_out(u), "{}: user {u} got {top:?}", case.name);
        }
    }
}

#[test]
fn same_seed_gives_an_identical_model() {
    let data = checkerboard();
    for case in cases() {
        let (a, b) = (fit(&case, &data, 7), fit(&case, &data, 7));
        for u in 0..data.n_users() as u32 {
            let mut sa = vec![0f32; data.n_items()];
            let mut sb = vec![0f32; data.n_items()];
            a.score_user(UserIdx(u), &mut sa).unwrap();
            b.score_user(UserIdx(u), &mut sb).unwrap();
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&sa), bits(&sb), "{}: user {u}", case.name);
        }
    }
}

#[test]
fn models_do_not_depend_on_the_thread_count() {
    let data = checkerboard();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool");
    let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().expect("a pool");
    for case in cases() {
        let scores = |pool: &rayon::ThreadPool| {
            pool.install(|| {
                let model = fit(&case, &data, 11);
                let mut all = Vec::new();
                for u in 0..data.n_users() as u32 {
                    let mut s = vec![0f32; data.n_items()];
                    model.score_user(UserIdx(u), &mut s).unwrap();
                    all.extend(s.iter().map(|x| x.to_bits()));
                }
                all
            })
        };
        assert_eq!(scores(&one), scores(&three), "{}: 1 and 3 threads differ", case.name);
    }
}

#[test]
fn fold_in_of_a_training_history_nearly_reproduces_its_recommendations() {
    let data = checkerboard();
    for case in cases() {
        let model = fit(&case, &data, 3);
        let mut overlap = 0usize;
        for u in 0..data.n_users() as u32 {
            let u = UserIdx(u);
            let exclude = seen(&data, u);
            let own: Vec<ItemIdx> = model.recommend(u, 3, &exclude).unwrap().iter().map(|s| s.item).collect();
            let folded = model.recommend_history(&history(&data, u), 3, &exclude).unwrap();
            if case.personalised {
                assert_eq!(
                    folded[0].item,
                    held_out(u.0),
                    "{}: user {} fold-in top {folded:?}",
                    case.name,
                    u.0
                );
            }
            overlap += folded.iter().filter(|s| own.contains(&s.item)).count();
        }
        let share = overlap as f64 / (3 * data.n_users()) as f64;
        assert!(share >= 0.8, "{}: fold-in shares only {share:.2} of the top 3", case.name);
    }
}

#[test]
fn recommendations_are_sorted_unique_and_respect_exclusions() {
    let data = checkerboard();
    for case in cases() {
        let model = fit(&case, &data, 5);
        for u in 0..data.n_users() as u32 {
            let exclude = [ItemIdx(u % 20), ItemIdx((u + 7) % 20)];
            let top = model.recommend(UserIdx(u), 8, &exclude).unwrap();
            assert_eq!(top.len(), 8, "{}", case.name);
            assert!(top.windows(2).all(|w| w[0].score >= w[1].score), "{}: unsorted {top:?}", case.name);
            let mut items: Vec<u32> = top.iter().map(|s| s.item.0).collect();
            assert!(items.iter().all(|i| !exclude.contains(&ItemIdx(*i))), "{}", case.name);
            items.sort_unstable();
            items.dedup();
            assert_eq!(items.len(), 8, "{}: duplicates", case.name);
        }
    }
}

#[test]
fn bad_indexes_and_buffers_are_errors_not_panics() {
    let data = checkerboard();
    for case in cases() {
        let model = fit(&case, &data, 0);
        let mut out = vec![0f32; data.n_items()];
        let bad_user = UserIdx(data.n_users() as u32);
        assert!(
            matches!(model.score_user(bad_user, &mut out), Err(ModelError::UnknownUser { .. })),
            "{}",
            case.name
        );
        let mut short = vec![0f32; 3];
        assert!(
            matches!(model.score_user(UserIdx(0), &mut short), Err(ModelError::BufferLength { .. })),
            "{}",
            case.name
        );
        let bad_item = ItemIdx(data.n_items() as u32);
        assert!(
            matches!(model.score_history(&[(bad_item, 1.0)], &mut out), Err(ModelError::UnknownItem { .. })),
            "{}",
            case.name
        );
    }
}

#[test]
fn predictions_stay_on_the_rating_scale_and_similar_items_exclude() {
    let data = checkerboard();
    for case in cases() {
        let model = fit(&case, &data, 0);
        let prediction = model.predict(UserIdx(0), held_out(0));
        if case.predicts {
            let p = prediction.unwrap();
            assert!((1.0..=5.0).contains(&p), "{}: {p}", case.name);
            if case.personalised {
                // A group-A user's held-out group-A item is predicted above a group-B item.
                let low = model.predict(UserIdx(0), ItemIdx(ITEMS_PER_GROUP + 9)).unwrap();
                assert!(p > low, "{}: {p} <= {low}", case.name);
            }
        } else {
            assert!(matches!(prediction, Err(ModelError::Unsupported { .. })), "{}", case.name);
        }
        let similar = model.similar_items(ItemIdx(0), 5, &[ItemIdx(1)]);
        if case.similar {
            let similar = similar.unwrap();
            assert!(!similar.is_empty(), "{}", case.name);
            assert!(similar.iter().all(|s| s.item != ItemIdx(0) && s.item != ItemIdx(1)), "{}", case.name);
            // Item 0's nearest neighbours are in its own group.
            assert!(similar[0].item.0 < ITEMS_PER_GROUP, "{}: {similar:?}", case.name);
        } else {
            assert!(matches!(similar, Err(ModelError::Unsupported { .. })), "{}", case.name);
        }
    }
}

fn bits(scores: &[f32]) -> Vec<u32> {
    scores.iter().map(|x| x.to_bits()).collect()
}

fn user_scores(model: &Model, u: UserIdx) -> Vec<f32> {
    let mut s = vec![0f32; model.n_items()];
    model.score_user(u, &mut s).unwrap();
    s
}

fn history_scores(model: &Model, history: &[(ItemIdx, f32)]) -> Vec<f32> {
    let mut s = vec![0f32; model.n_items()];
    model.score_history(history, &mut s).unwrap();
    s
}

#[test]
fn fitted_models_round_trip_through_json_bit_for_bit() {
    let data = checkerboard();
    // A training history with a dislike of an item of the other group added.
    let mut folded = history(&data, UserIdx(3));
    folded.push((ItemIdx(ITEMS_PER_GROUP + 4), -2.0));
    for case in cases() {
        let model = fit(&case, &data, 2);
        let back = round_trip(&model, case.name);
        for u in 0..data.n_users() as u32 {
            let (a, b) = (user_scores(&model, UserIdx(u)), user_scores(&back, UserIdx(u)));
            assert_eq!(bits(&a), bits(&b), "{}: user {u}", case.name);
        }
        let (a, b) = (history_scores(&model, &folded), history_scores(&back, &folded));
        assert_eq!(bits(&a), bits(&b), "{}: fold-in", case.name);
        for item in 0..data.n_items() as u32 {
            let similar = |m: &Model| m.similar_items(ItemIdx(item), 5, &[]);
            assert_eq!(similar(&back), similar(&model), "{}: item {item}", case.name);
        }
        if case.predicts {
            let p = |m: &Model| m.predict(UserIdx(5), held_out(5)).unwrap().to_bits();
            assert_eq!(p(&back), p(&model), "{}", case.name);
        }
    }
}

/// `model` written as JSON and read back, checked field by field (the fields rebuilt on load
/// included, through `Debug`) and by writing it again.
fn round_trip(model: &Model, name: &str) -> Model {
    let json = serde_json::to_string(model).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back: Model = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(format!("{back:?}"), format!("{model:?}"), "{name}");
    assert_eq!(serde_json::to_string(&back).unwrap(), json, "{name}");
    assert_eq!(back.name(), model.name());
    back
}

#[test]
fn models_holding_nan_or_infinity_round_trip_through_json() {
    // An item and a user nobody rated, so that unregularised biases divide 0 by 0.
    let data = checkerboard();
    let data =
        Interactions::new(data.n_users() + 1, data.n_items() + 1, Feedback::Explicit, data.iter().collect())
            .expect("valid");
    let parse = |name: &str, params: serde_json::Value| {
        let mut spec: ModelSpec = name.parse().expect("known model");
        spec.merge(&params).expect("valid parameters");
        spec
    };
    let specs = [
        ("baseline", parse("baseline", serde_json::json!({"method": {"als": {"reg_u": 0.0, "reg_i": 0.0}}}))),
        // Events long after `now` weigh 2^(a very large number).
        ("trending", parse("trending", serde_json::json!({"now": -1_000_000_000_000_i64}))),
        // A learning rate this high makes SGD diverge.
        ("svd", parse("svd", serde_json::json!({"factors": 4, "epochs": 5, "learning_rate": 10.0}))),
    ];
    for (name, spec) in specs {
        let model = spec.fit(&data, &FitContext::seeded(0)).expect("fits");
        let scores = user_scores(&model, UserIdx(0));
        assert!(scores.iter().any(|s| !s.is_finite()), "{name}: every score is finite: {scores:?}");
        let back = round_trip(&model, name);
        for u in 0..data.n_users() as u32 {
            let u = UserIdx(u);
            assert_eq!(bits(&user_scores(&back, u)), bits(&user_scores(&model, u)), "{name}: user {}", u.0);
        }
    }
}

/// `n` random items, with repeats and in no order.
fn random_items(rng: &mut aisle_core::rng::SeededRng, n_items: usize, n: usize) -> Vec<ItemIdx> {
    (0..n).map(|_| ItemIdx(rng.random_range(0..n_items as u32))).collect()
}

#[test]
fn scoring_a_subset_gives_the_full_scores_of_those_items_bit_for_bit() {
    let data = checkerboard();
    let mut rng = aisle_core::rng::seeded(9);
    for case in cases() {
        let model = fit(&case, &data, 4);
        let n_items = data.n_items();
        for u in 0..data.n_users() as u32 {
            let u = UserIdx(u);
            let len = rng.random_range(0..=n_items + 5);
            let items = random_items(&mut rng, n_items, len);
            let gather = |all: &[f32]| items.iter().map(|i| all[i.index()]).collect::<Vec<f32>>();
            let mut out = vec![f32::NAN; items.len()];
            model.score_user_items(u, &items, &mut out).unwrap();
            assert_eq!(bits(&out), bits(&gather(&user_scores(&model, u))), "{}: user {}", case.name, u.0);
            let h = history(&data, u);
            out.fill(f32::NAN);
            model.score_history_items(&h, &items, &mut out).unwrap();
            assert_eq!(
                bits(&out),
                bits(&gather(&history_scores(&model, &h))),
                "{}: fold-in {}",
                case.name,
                u.0
            );
        }
        model.score_user_items(UserIdx(0), &[], &mut []).unwrap();
        model.score_history_items(&[], &[], &mut []).unwrap();
    }
}

#[test]
fn subset_scoring_checks_its_buffer_its_items_and_its_user() {
    let data = checkerboard();
    let n = data.n_items() as u32;
    for case in cases() {
        let model = fit(&case, &data, 0);
        let items = [ItemIdx(2), ItemIdx(0), ItemIdx(2)];
        let h = history(&data, UserIdx(1));
        let mut short = [0f32; 2];
        let buffer = Err(ModelError::BufferLength { expected: 3, got: 2 });
        assert_eq!(model.score_user_items(UserIdx(1), &items, &mut short), buffer, "{}", case.name);
        assert_eq!(model.score_history_items(&h, &items, &mut short), buffer, "{}", case.name);
        let mut out = [0f32; 3];
        let unknown = Err(ModelError::UnknownItem { index: n, n: n as usize });
        let bad = [ItemIdx(0), ItemIdx(n), ItemIdx(1)];
        assert_eq!(model.score_user_items(UserIdx(1), &bad, &mut out), unknown, "{}", case.name);
        assert_eq!(model.score_history_items(&h, &bad, &mut out), unknown, "{}", case.name);
        assert_eq!(
            model.score_history_items(&[(ItemIdx(n), 1.0)], &items, &mut out),
            unknown,
            "{}",
            case.name
        );
        let bad_user = UserIdx(data.n_users() as u32);
        assert!(
            matches!(model.score_user_items(bad_user, &items, &mut out), Err(ModelError::UnknownUser { .. })),
            "{}",
            case.name
        );
    }
}

#[test]
fn similar_lists_are_each_items_similar_items_bit_for_bit() {
    let data = checkerboard();
    let n = data.n_items() as u32;
    for case in cases() {
        let model = fit(&case, &data, 5);
        let lists = model.similar_lists(4);
        if !case.similar {
            assert!(matches!(lists, Err(ModelError::Unsupported { .. })), "{}", case.name);
            continue;
        }
        let lists = lists.unwrap();
        assert_eq!(lists.len(), n as usize, "{}", case.name);
        for (a, list) in (0..n).map(ItemIdx).zip(&lists) {
            let one = model.similar_items(a, 4, &[]).unwrap();
            let key =
                |l: &[aisle_core::Scored]| l.iter().map(|s| (s.item, s.score.to_bits())).collect::<Vec<_>>();
            assert_eq!(key(list), key(&one), "{}: item {}", case.name, a.0);
        }
    }
}

#[test]
fn indexed_similar_lists_hold_similar_items_scores_and_measure_their_recall() {
    // A small catalog with every item in the sample: the probe widens until the sample's (the
    // whole catalog's) recall is 1, so the indexed lists must be the exact lists, bit for bit.
    let data = checkerboard();
    let index = ListIndex { min_recall: 1.0, sample: 10_000, seed: 3 };
    let key = |l: &[aisle_core::Scored]| l.iter().map(|s| (s.item, s.score.to_bits())).collect::<Vec<_>>();
    let mut indexed = Vec::new();
    for case in cases() {
        let model = fit(&case, &data, 5);
        let Some(got) = model.similar_lists_indexed(4, &index).unwrap() else { continue };
        indexed.push(case.name);
        assert!(case.similar, "{}", case.name);
        assert_eq!(got.sampled, data.n_items(), "{}", case.name);
        assert_eq!((got.recall_at_10, got.recall_at_depth), (1.0, 1.0), "{}", case.name);
        assert_eq!(got.lists.len(), data.n_items(), "{}", case.name);
        for (a, list) in (0..data.n_items() as u32).map(ItemIdx).zip(&got.lists) {
            let one = model.similar_items(a, 4, &[]).unwrap();
            assert_eq!(key(list), key(&one), "{}: item {}", case.name, a.0);
        }
    }
    // Every model whose similar items are a cosine of vectors has an index.
    for name in ["ials", "bpr", "svd", "svdpp", "hybrid", "sasrec"] {
        assert!(indexed.iter().any(|n| n.starts_with(name)), "{name} in {indexed:?}");
    }
}

#[test]
fn item_affinity_is_the_score_similar_items_reports() {
    let data = checkerboard();
    let n = data.n_items() as u32;
    for case in cases() {
        let model = fit(&case, &data, 6);
        for a in (0..n).map(ItemIdx) {
            assert_eq!(model.item_affinity(a, ItemIdx(n)), None, "{}", case.name);
            assert_eq!(model.item_affinity(ItemIdx(n), a), None, "{}", case.name);
            if !case.affinity {
                assert!((0..n).all(|b| model.item_affinity(a, ItemIdx(b)).is_none()), "{}", case.name);
                continue;
            }
            let listed = model.similar_items(a, n as usize, &[]).unwrap();
            assert!(!listed.is_empty(), "{}: item {}", case.name, a.0);
            for s in listed {
                let affinity = model.item_affinity(a, s.item).map(f32::to_bits);
                assert_eq!(affinity, Some(s.score.to_bits()), "{}: {} → {}", case.name, a.0, s.item.0);
            }
        }
    }
}

/// A model's bounded scorer, where it has one (iALS, BPR and the hybrid), bounds every exact
/// score from above, gives the exact scores bit for bit, and the search by bounds gives the
/// full scan's list, for training users and histories, over the catalog or a part of it; the
/// others have none.
#[test]
fn bounded_scorers_bound_and_rank_exactly() {
    use aisle_core::{Query, top_bounded, top_k};
    let data = checkerboard();
    let n = data.n_items();
    let part: Vec<ItemIdx> = (0..n as u32).rev().step_by(2).map(ItemIdx).collect();
    for case in cases() {
        let model = fit(&case, &data, 8);
        let expected_bounded = matches!(model.name(), "ials" | "bpr" | "hybrid");
        assert_eq!(model.prepared_bytes(), 0, "{}: nothing built before the first call", case.name);
        for u in (0..data.n_users() as u32).step_by(3).map(UserIdx) {
            let h = history(&data, u);
            for query in [Query::User(u), Query::History(&h)] {
                let Some(scorer) = model.bounded(query).unwrap() else {
                    assert!(!expected_bounded, "{} has a bounded scorer", case.name);
                    continue;
                };
                assert!(expected_bounded, "{} has no bounded scorer", case.name);
                for items in [None, Some(part.as_slice())] {
                    let len = items.map_or(n, <[ItemIdx]>::len);
                    let all: Vec<ItemIdx> =
                        items.map_or_else(|| (0..n as u32).map(ItemIdx).collect(), <[_]>::to_vec);
                    let (mut upper, mut exact, mut reference) =
                        (vec![0f32; len], vec![0f32; len], vec![0f32; len]);
                    scorer.upper(items, &mut upper).unwrap();
                    scorer.exact(&all, &mut exact).unwrap();
                    match query {
                        Query::User(u) => model.score_user_items(u, &all, &mut reference).unwrap(),
                        Query::History(h) => model.score_history_items(h, &all, &mut reference).unwrap(),
                    }
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&exact), bits(&reference), "{}: exact scores", case.name);
                    assert!(upper.iter().zip(&exact).all(|(u, e)| u >= e), "{}: bounds", case.name);
                    for k in [1, 3, len] {
                        let (top, _) = top_bounded(
                            &upper,
                            k,
                            |at, out| {
                                scorer.exact(&at.iter().map(|p| all[p.index()]).collect::<Vec<_>>(), out)
                            },
                            |pos, s| Some((pos, s.to_bits())),
                        )
                        .unwrap();
                        let full: Vec<_> =
                            top_k(&exact, k).iter().map(|s| (s.item, s.score.to_bits())).collect();
                        assert_eq!(top, full, "{}: top {k}", case.name);
                    }
                }
                let mut short = vec![0f32; 1];
                assert!(scorer.upper(None, &mut short).is_err(), "{}: a wrong buffer is an error", case.name);
                assert!(
                    scorer.exact(&[ItemIdx(n as u32)], &mut short).is_err(),
                    "{}: an unknown item",
                    case.name
                );
            }
        }
        if expected_bounded {
            assert!(model.bounded(Query::User(UserIdx(data.n_users() as u32))).is_err(), "{}", case.name);
            assert!(model.bounded(Query::History(&[(ItemIdx(n as u32), 1.0)])).is_err(), "{}", case.name);
            let block = model.block(&part).unwrap().expect("a block");
            assert_eq!(block.items(), part.as_slice());
            let scorer = model.bounded(Query::User(UserIdx(1))).unwrap().unwrap();
            let (mut from_block, mut gathered) = (vec![0f32; part.len()], vec![0f32; part.len()]);
            scorer.upper_block(&block, &mut from_block).unwrap();
            scorer.upper(Some(&part), &mut gathered).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&from_block),
                bits(&gathered),
                "{}: a block's bounds are the gathered ones",
                case.name
            );
            assert!(model.block(&[ItemIdx(n as u32)]).is_err(), "{}: an unknown item", case.name);
        } else {
            assert!(model.block(&part).unwrap().is_none(), "{}", case.name);
        }
        assert_eq!(model.prepared_bytes() > 0, expected_bounded, "{}: the 8-bit rows are kept", case.name);
    }
}
