//! Engine integration tests over a real SQLite store file: artifacts, the publication gate,
//! restart, freshness; `kafka` is the Kafka source against a real broker, when one is given.

mod bounded;
mod hostile;
mod impact;
mod kafka;
mod state;

use std::sync::Arc;

use aisle_core::recommender::Recommender;
use aisle_engine::{
    Artifact, Engine, EngineConfig, ModelConfig, RecommendRequest, Subject, TrainRequest, shop_records,
};
use aisle_ingest::synth::{ShopParams, generate};
use aisle_store::{AnyStore, EventRecord};

/// A service URL from `var`, or `None` (and a note) when unset; under `CI` an unset URL fails
/// the test instead, for a green CI that skipped would be a lie.
#[expect(clippy::print_stderr, reason = "a skipped test says so")]
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "{var} is not set, and CI is: this test must run");
            eprintln!("skipped: {var} is not set (`.ci/run` sets it)");
            None
        }
    }
}

/// An engine over the SQLite file in `dir` (created when new), configured by `config`.
pub async fn open_engine(dir: &std::path::Path, config: EngineConfig) -> Arc<Engine> {
    let store = AnyStore::open(&format!("sqlite:{}", dir.join("aisle.db").display())).await.unwrap();
    Engine::open(store, config).await.unwrap()
}

/// Loads a generated shop of `users`, `items` and `events` (with `seed`) into `e`.
pub async fn load_shop(e: &Arc<Engine>, users: usize, items: usize, events: usize, seed: u64) {
    let shop = generate(&ShopParams { users, items, events, ..ShopParams::default() }, seed).unwrap();
    let (items, users, events) = shop_records(&shop, 0);
    e.load(items, users, events).await.unwrap();
}

async fn engine(dir: &std::path::Path, seeded: bool) -> Arc<Engine> {
    let mut config = EngineConfig::default();
    config.model.name = "ials".into();
    config.model.params.insert("factors".into(), 16.into());
    config.model.params.insert("iterations".into(), 6.into());
    let e = open_engine(dir, config).await;
    if seeded {
        load_shop(&e, 150, 200, 8_000, 3).await;
    }
    e
}

fn scores(p: &aisle_engine::Published) -> Vec<f32> {
    let m = p.model();
    let mut out = vec![0f32; m.n_items()];
    let mut all = Vec::new();
    for u in 0..m.n_users().min(20) {
        m.score_user(aisle_core::UserIdx(u as u32), &mut out).unwrap();
        all.extend_from_slice(&out);
    }
    all
}

#[tokio::test]
async fn artifacts_round_trip_through_postcard_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let out = e.train(&TrainRequest::default()).await.unwrap();
    assert!(out.published);
    let p = e.serving().unwrap();
    let bytes = p.artifact.encode().unwrap();
    let back = Artifact::decode(1, &bytes).unwrap();
    let mut a = vec![0f32; back.model.n_items()];
    let mut b = a.clone();
    back.model.score_user(aisle_core::UserIdx(3), &mut a).unwrap();
    p.model().score_user(aisle_core::UserIdx(3), &mut b).unwrap();
    assert_eq!(a, b, "bit-identical after encode/decode");
    assert!(
        Artifact::decode(1, &bytes[..bytes.len() / 2]).is_err(),
        "a truncated artifact is an error, not a panic"
    );
    let before = scores(&p);
    drop((p, e));
    let e = engine(dir.path(), false).await;
    let p = e.serving().expect("the active version is loaded at start-up");
    assert_eq!(p.version(), 1);
    assert_eq!(scores(&p), before);
}

/// A version's similar-item lists are computed when it is trained and stored in its artifact:
/// answers looked up from them are those ranked on demand (a version of format 1, which had
/// none), filtered or not, explained or not.
/// Past `training.similar_max_items` the lists come from a cluster index, whose recall against
/// exact lists on a sample is in the version's metrics; asked for a recall@10 of 1 on a catalog no
/// larger than the sample, every list's top 10 is `similar_items`' top 10, and every listed score
/// is `similar_items`' score of that pair, bit for bit (deeper down a list can miss a neighbour).
#[tokio::test]
async fn lists_past_the_exact_limit_come_from_an_index_that_reports_its_recall() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::default();
    config.model.name = "ials".into();
    config.model.params.insert("factors".into(), 16.into());
    config.training.similar_max_items = 10;
    config.training.similar_min_recall = 1.0;
    let e = open_engine(dir.path(), config).await;
    load_shop(&e, 150, 200, 8_000, 3).await;
    assert!(e.train(&TrainRequest::default()).await.unwrap().published);
    let p = e.serving().unwrap();
    let metrics = &p.record.model.metrics;
    let n_items = p.model().n_items();
    assert_eq!(metrics.get("similar_recall_at_10"), Some(&1.0), "{metrics:?}");
    let listed = (0..n_items as u32)
        .filter(|&i| !p.model().similar_items(aisle_core::ItemIdx(i), 1, &[]).unwrap().is_empty());
    assert_eq!(
        metrics.get("similar_recall_sample"),
        Some(&(listed.count() as f64)),
        "every item with a vector"
    );
    assert!(metrics.get("similar_clusters").is_some_and(|&c| c >= 2.0), "{metrics:?}");
    assert!(metrics.get("similar_probe").is_some_and(|&c| c >= 1.0), "{metrics:?}");
    assert!(metrics.get("similar_candidates").is_some_and(|&c| c > 0.0 && c < n_items as f64), "{metrics:?}");
    assert_eq!(p.artifact.similar.len(), n_items, "a list per item");
    let depth = metrics["similar_recall_at_depth"];
    assert!(depth > 0.5 && depth <= 1.0, "{depth}");
    for i in (0..n_items as u32).map(aisle_core::ItemIdx) {
        let exact = p.model().similar_items(i, n_items, &[]).unwrap();
        let listed = p.similar_list(i).expect("a list");
        let key =
            |l: &[aisle_core::Scored]| l.iter().map(|s| (s.item, s.score.to_bits())).collect::<Vec<_>>();
        let top = |l: &[aisle_core::Scored]| key(&l[..l.len().min(10)]);
        assert_eq!(top(&listed), top(&exact), "item {}", i.0);
        assert!(listed.len() == exact.len().min(50), "item {}: {} listed", i.0, listed.len());
        for s in &listed {
            let e = exact.iter().find(|e| e.item == s.item).expect("a listed item is similar");
            assert_eq!(e.score.to_bits(), s.score.to_bits(), "item {} → {}", i.0, s.item.0);
        }
    }
}

#[tokio::test]
async fn similar_items_are_looked_up_from_lists_computed_at_training() {
    use aisle_engine::{Filters, Published};
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    assert!(e.train(&TrainRequest::default()).await.unwrap().published);
    let p = e.serving().unwrap();
    let n_items = p.model().n_items();
    assert_eq!(p.artifact.similar.len(), n_items, "a list per item");
    assert_eq!(p.similar_depth(), 50, "training.similar_depth");
    assert!(p.record.model.metrics.contains_key("similar_seconds"));

    // The same version re-encoded as format 1 (no lists), decoded and served beside it.
    #[derive(serde::Serialize)]
    struct V1<'a, M, R> {
        format: u32,
        model: &'a M,
        users: &'a [String],
        items: &'a [String],
        history: &'a R,
        bought_together: &'a R,
    }
    let a = &p.artifact;
    let v1 = V1 {
        format: 1,
        model: &a.model,
        users: &a.users,
        items: &a.items,
        history: &a.history,
        bought_together: &a.bought_together,
    };
    let old = Artifact::decode(p.version(), &postcard::to_allocvec(&v1).unwrap()).unwrap();
    assert!(old.similar.is_empty(), "format 1 has no lists");
    let records = e.catalog().snapshot();
    let old = Arc::new(Published::new(p.record.clone(), old, records.iter().map(|r| r.as_ref())));
    assert_eq!(old.similar_list(aisle_core::ItemIdx(0)), None);

    let category = records.iter().find_map(|r| r.categories.first().cloned()).expect("categorised");
    let filtered = Filters { category: Some(category), ..Filters::default() };
    let mut differ = 0;
    for item in p.artifact.items.iter().step_by(7) {
        for (n, filters, explain) in
            [(10, &Filters::default(), false), (5, &filtered, true), (60, &Filters::default(), false)]
        {
            let looked_up = e.similar_with(Some(Arc::clone(&p)), item, n, filters, explain).await.unwrap();
            let ranked = e.similar_with(Some(Arc::clone(&old)), item, n, filters, explain).await.unwrap();
            let key = |r: &aisle_engine::Recommendations| {
                r.items
                    .iter()
                    .map(|i| (i.id.clone(), i.score.to_bits(), i.reasons.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&looked_up), key(&ranked), "item {item}, n {n}");
            differ += usize::from(
                key(&looked_up) != key(&e.similar(item, 10, &Filters::default(), false).await.unwrap()),
            );
        }
    }
    assert!(differ > 0, "the filtered and longer answers are not the plain one");
}

#[tokio::test]
async fn the_gate_keeps_a_worse_model_out_and_force_lets_it_in() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    e.train(&TrainRequest::default()).await.unwrap();
    // BPR stopped after one epoch at a vanishing learning rate: its random initial vectors rank.
    let mut bad = ModelConfig { name: "bpr".into(), ..ModelConfig::default() };
    bad.params.insert("epochs".into(), 1.into());
    bad.params.insert("learning_rate".into(), 1e-6.into());
    let out =
        e.train(&TrainRequest { model: Some(bad.clone()), force: false, candidate: false }).await.unwrap();
    assert!(!out.published, "{}", out.reason);
    assert!(out.serving_ndcg.unwrap() > out.model.model.metrics["ndcg@10"]);
    assert_eq!(e.serving().unwrap().version(), 1, "the serving model stays");
    assert_eq!(e.models().await.unwrap().len(), 2, "the rejected version is kept for inspection");
    let out = e.train(&TrainRequest { model: Some(bad), force: true, candidate: false }).await.unwrap();
    assert!(out.published);
    assert_eq!(e.serving().unwrap().version(), 3);
}

#[tokio::test]
async fn an_acknowledged_event_changes_the_next_list_and_the_delay_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    e.train(&TrainRequest::default()).await.unwrap();
    let req = RecommendRequest::new(Subject::User("u9".into()), 10);
    let before = e.recommend(&req).await.unwrap();
    let target = before.items[0].id.clone();
    let event = EventRecord {
        event_id: None,
        user_id: "u9".into(),
        item_id: target.clone(),
        kind: aisle_core::EventKind::Purchase,
        value: None,
        ts_ms: aisle_engine::now_ms(),
        session_id: None,
        recommendation_id: Some(before.recommendation_id.clone()),
    };
    let acked = std::time::Instant::now();
    e.ingest(vec![event]).await.unwrap();
    let after = e.recommend(&req).await.unwrap();
    let delay = acked.elapsed();
    assert!(after.items.iter().all(|i| i.id != target), "the purchase is reflected on the next request");
    assert_eq!(after.source, aisle_engine::Source::FoldIn);
    // Not a timing assert: the delay is ack + one request, printed for docs/benchmarks.md.
    #[expect(clippy::print_stdout, reason = "the measured delay is reported, never asserted")]
    {
        println!("freshness: acknowledged → reflected in {delay:?}");
    }
}

#[tokio::test]
async fn session_models_train_on_the_logs_sessions_and_answer_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    for name in ["sr", "sknn"] {
        let model = ModelConfig { name: name.into(), ..ModelConfig::default() };
        let out = e.train(&TrainRequest { model: Some(model), force: true, candidate: false }).await.unwrap();
        assert!(out.published, "{name}: {}", out.reason);
        let p = e.serving().unwrap();
        assert_eq!(p.model().name(), name);
        // The shop's sessions browse one category: what follows an item inside sessions is known
        // for most items (sequences cut at a seconds-sized gap on millisecond times would leave
        // almost none).
        let m = p.model();
        let with_followers = (0..m.n_items() as u32)
            .filter(|&i| !m.similar_items(aisle_core::ItemIdx(i), 5, &[]).unwrap().is_empty());
        assert!(with_followers.count() * 2 > m.n_items(), "{name}: too few items have neighbours");
        let session = Subject::Session(vec!["i1".into(), "i2".into()]);
        let recs = e.recommend(&RecommendRequest::new(session, 5)).await.unwrap();
        assert_eq!(recs.items.len(), 5, "{name}");
    }
}

/// `auto` fits every candidate without each shopper's last three steps (two validation steps by
/// default), scores the two before the last, trains the best and says so: the figures best first,
/// kept in the version's metrics.
#[tokio::test]
async fn auto_trains_the_best_candidate_by_validation_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let model = ModelConfig {
        candidates: ["pop", "item-knn", "sr"].map(String::from).to_vec(),
        slow_candidates: Vec::new(),
        trials: 2,
        ..ModelConfig::default()
    };
    let out = e.train(&TrainRequest { model: Some(model), force: false, candidate: false }).await.unwrap();
    assert!(out.published, "{}", out.reason);
    let sel = out.selection.expect("auto says what it compared");
    let names: Vec<&str> = sel.candidates.iter().map(|c| c.name.as_str()).collect();
    let figures: Vec<f64> = sel.candidates.iter().map(|c| c.ndcg.expect("every candidate scored")).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(figures.windows(2).all(|w| w[0] >= w[1]), "best first: {names:?} {figures:?}");
    assert_eq!(sel.chosen, names[0]);
    assert_ne!(sel.chosen, "pop", "a personalised model beats popularity on the shop: {figures:?}");
    assert_eq!(out.model.model.name, sel.chosen, "the version is the chosen model");
    let by = |n: &str| sel.candidates.iter().find(|c| c.name == n).unwrap();
    assert_eq!(by("pop").settings, 1, "popularity has no search space");
    assert_eq!(by("item-knn").settings, 2);
    for c in &sel.candidates {
        assert_eq!(out.model.model.metrics[&format!("selection:{}", c.name)], c.ndcg.unwrap());
    }
    assert_eq!(sel.shoppers, 150, "every shopper of the shop has three steps or more");
    assert!(sel.cases > 150 && sel.cases <= 300, "up to two validation steps each: {}", sel.cases);
    assert!(out.reason.contains(&format!("{} next steps of 150 shoppers", sel.cases)), "{}", out.reason);
    assert!(out.reason.contains("last 3 steps, asked for each of the 2 before the last"), "{}", out.reason);
    assert!(out.reason.starts_with("chosen by validation"), "{}", out.reason);
    assert!(out.reason.contains(&format!("{} NDCG@10", sel.chosen)), "{}", out.reason);
    // The stored name and parameters are the winning setting's.
    assert_eq!(out.model.model.params, sel.candidates[0].params);
    assert!(out.follow_up.is_empty(), "no slow candidates, no follow-up");
}

/// `auto`'s slow candidates do not hold up the training: a follow-up job fits them against the
/// chosen setting once it is published, and publishes one only if it scores higher.
#[tokio::test]
async fn slow_candidates_follow_the_chosen_setting_and_replace_it_only_if_better() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let auto = |quick: &[&str], slow: &[&str]| ModelConfig {
        candidates: quick.iter().map(|s| (*s).to_owned()).collect(),
        slow_candidates: slow.iter().map(|s| (*s).to_owned()).collect(),
        trials: 1,
        ..ModelConfig::default()
    };
    let train = |model: ModelConfig, candidate: bool| {
        let e = Arc::clone(&e);
        async move { e.train(&TrainRequest { model: Some(model), force: false, candidate }).await.unwrap() }
    };
    // Popularity wins alone and serves at once; the personalised models follow and replace it.
    let first = train(auto(&["pop"], &["sr", "item-knn"]), false).await;
    assert!(first.published && first.model.model.name == "pop", "{}", first.reason);
    assert_eq!(first.follow_up, ["sr", "item-knn"]);
    e.training_finished().await;
    let status = e.training_status();
    let f = status.follow_up.clone().expect("the follow-up ended");
    assert_eq!(f.after_version, first.model.version);
    let sel = f.selection.expect("it compared");
    let names: Vec<&str> = sel.candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_ne!(sel.chosen, "pop", "{sel:?}");
    assert!(sel.candidates.iter().all(|c| c.settings == 1), "slow candidates try their defaults: {sel:?}");
    let v = f.version.expect("a slow candidate scored higher and was stored");
    assert!(f.published && v > first.model.version, "{}", f.reason);
    assert!(f.reason.contains("validation NDCG@10"), "{}", f.reason);
    let serving = e.serving().expect("a model serves");
    assert_eq!((serving.version(), serving.record.model.name.as_str()), (v, sel.chosen.as_str()));
    let last = status.last.expect("the follow-up's version is the last job");
    assert_eq!(last.model.version, v);
    assert_eq!(last.comparison.kind(), "validation");
    for c in &sel.candidates {
        assert_eq!(last.model.model.metrics[&format!("selection:{}", c.name)], c.ndcg.unwrap());
    }
    assert!(status.running_since_ms.is_none());

    // A slow candidate that scores lower stores nothing; the chosen one is not tried again.
    let second = train(auto(&["sr"], &["pop", "sr"]), false).await;
    assert_eq!(second.follow_up, ["pop"], "sr was chosen, so only pop follows");
    e.training_finished().await;
    let f = e.training_status().follow_up.expect("the follow-up ended");
    assert_eq!(f.after_version, second.model.version);
    assert!(f.version.is_none() && !f.published, "{}", f.reason);
    assert!(f.reason.starts_with("no slow candidate scored higher"), "{}", f.reason);
    assert_eq!(e.training_status().last.unwrap().model.version, second.model.version);

    // A stored-only candidate has no follow-up.
    let stored = train(auto(&["pop"], &["sr"]), true).await;
    assert!(!stored.published && stored.follow_up.is_empty());
}

#[test]
fn auto_configuration_is_checked_field_by_field() {
    let err = |m: ModelConfig| m.choice().unwrap_err().to_string();
    let mut m = ModelConfig::default();
    assert!(m.choice().is_ok(), "the default is valid");
    m.candidates = vec!["ials".into(), "als2".into()];
    assert!(err(m.clone()).contains("model.candidates[1]"), "{}", err(m.clone()));
    m.candidates = Vec::new();
    assert!(err(m.clone()).contains("model.candidates"), "{}", err(m.clone()));
    let mut m =
        ModelConfig { slow_candidates: vec!["sasrec".into(), "gru".into()], ..ModelConfig::default() };
    assert!(err(m.clone()).contains("model.slow_candidates[1]"), "{}", err(m.clone()));
    m.slow_candidates = vec!["sr".into(); 13];
    assert!(err(m.clone()).contains("model.slow_candidates"), "{}", err(m.clone()));
    m.slow_candidates = Vec::new();
    assert!(m.choice().is_ok(), "no slow candidates is fine");
    let mut m = ModelConfig { trials: 0, ..ModelConfig::default() };
    assert!(err(m.clone()).contains("model.trials"), "{}", err(m.clone()));
    m.trials = 4;
    for steps in [0, 11] {
        m.validation_steps = steps;
        assert!(err(m.clone()).contains("model.validation_steps"), "{}", err(m.clone()));
    }
    m.validation_steps = 1;
    assert!(m.choice().is_ok(), "one validation step is tune's protocol");
    m.params.insert("factors".into(), 8.into());
    assert!(err(m.clone()).contains("model.params.factors"), "{}", err(m));
}

/// A session is read in the order of each item's last touch: going back to an item makes it
/// the newest step again, which is what the transition model follows.
#[tokio::test]
async fn a_session_is_scored_in_the_order_of_last_touch() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let model = ModelConfig { name: "markov".into(), ..ModelConfig::default() };
    let out = e.train(&TrainRequest { model: Some(model), force: true, candidate: false }).await.unwrap();
    assert!(out.published, "{}", out.reason);
    let list = |items: &[&str]| {
        let e = Arc::clone(&e);
        let session = Subject::Session(items.iter().map(|s| (*s).to_owned()).collect());
        async move {
            let recs = e.recommend(&RecommendRequest::new(session, 5)).await.unwrap();
            recs.items.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let back_to_first = list(&["i1", "i2", "i1"]).await;
    assert_eq!(back_to_first, list(&["i2", "i1"]).await);
    assert_ne!(back_to_first, list(&["i1", "i2"]).await, "the newest step decides");
}

/// Evaluations score at most `training.max_eval_users` shoppers, the same seeded sample for
/// every model compared: the gate's holdout and `auto`'s validation alike.
#[tokio::test]
async fn evaluations_score_a_bounded_sample_of_shoppers() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine(dir.path(), true).await;
    let all = e.train(&TrainRequest::default()).await.unwrap();
    let everyone = all.model.model.metrics["eval_users"];
    assert!(everyone > 12.0, "the shop's holdout has more users than the sample: {everyone}");
    drop(e);

    let mut config = EngineConfig::default();
    config.training.max_eval_users = 12;
    config.model.candidates = ["pop", "item-knn"].map(String::from).to_vec();
    config.model.slow_candidates = Vec::new();
    let e = open_engine(dir.path(), config).await;
    let req = TrainRequest { model: None, force: true, candidate: false };
    let (a, b) = (e.train(&req).await.unwrap(), e.train(&req).await.unwrap());
    for out in [&a, &b] {
        let users = out.model.model.metrics["eval_users"];
        assert!(users > 0.0 && users <= 12.0, "the holdout's users: {users}");
        let sel = out.selection.as_ref().expect("auto");
        assert!(sel.shoppers == 12 && sel.cases >= 12 && sel.cases <= 24, "{sel:?}");
        assert!(out.reason.contains("a sample of 12 of 150 shoppers"), "{}", out.reason);
    }
    let figures = |o: &aisle_engine::TrainOutcome| {
        o.model
            .model
            .metrics
            .iter()
            .filter(|(k, _)| !k.ends_with("seconds"))
            .map(|(k, v)| (k.clone(), *v))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&a), figures(&b), "the same sample, the same figures");
}
