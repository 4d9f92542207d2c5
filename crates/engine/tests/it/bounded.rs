//! Ranking by 8-bit bounds (`cache.quantized_min_items`) gives exactly the lists of the exact
//! scan, whatever the request's rules: one store, served first with the exact scan and then,
//! after a restart, with every request ranked by bounds.

use std::sync::Arc;

use aisle_core::recommender::Recommender;
use aisle_engine::{Boost, Engine, EngineConfig, Filters, RecommendRequest, Source, Subject, TrainRequest};

use crate::load_shop;

async fn open(dir: &std::path::Path, quantized_min_items: usize) -> Arc<Engine> {
    let mut config = EngineConfig::default();
    config.model.name = "ials".into();
    config.model.params.insert("factors".into(), 24.into());
    config.model.params.insert("iterations".into(), 6.into());
    config.cache.quantized_min_items = quantized_min_items;
    super::open_engine(dir, config).await
}

/// Requests of every kind of rule: users and sessions, categories, prices, stock, exclusions,
/// boosts up and down, seen and purchased items kept or not, short and long lists.
fn requests(engine: &Engine) -> Vec<RecommendRequest> {
    let mut records = engine.catalog().snapshot();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let category = |k: usize| records.iter().filter_map(|r| r.categories.first().cloned()).nth(k * 37);
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    let mut out = Vec::new();
    for (k, user) in ["u1", "u7", "u42", "u99", "u120", "nobody"].into_iter().enumerate() {
        let subject = Subject::User(user.into());
        out.push(RecommendRequest::new(subject.clone(), 10));
        out.push(RecommendRequest::new(subject.clone(), 1 + 37 * k));
        let mut r = RecommendRequest::new(subject.clone(), 8);
        r.filters = Filters { category: category(k), ..Filters::default() };
        r.exclude_seen = k % 2 == 0;
        r.include_purchased = k % 3 == 0;
        out.push(r);
        let mut r = RecommendRequest::new(subject.clone(), 12);
        r.filters = Filters {
            min_price: Some(10.0),
            max_price: Some(80.0),
            in_stock: Some(true),
            exclude: ids.iter().skip(k).step_by(5).cloned().collect(),
            ..Filters::default()
        };
        r.boosts = vec![
            Boost { category: category(k + 1), item_ids: Vec::new(), weight: 3.0 },
            Boost {
                category: None,
                item_ids: ids.iter().skip(2 * k).step_by(11).cloned().collect(),
                weight: 0.2,
            },
        ];
        out.push(r);
    }
    let session = Subject::Session(ids.iter().skip(3).step_by(17).take(6).cloned().collect());
    out.push(RecommendRequest::new(session.clone(), 20));
    let mut r = RecommendRequest::new(session, 5);
    r.filters = Filters { category: category(2), ..Filters::default() };
    out.push(r);
    out
}

#[tokio::test]
async fn lists_ranked_by_bounds_are_the_exact_scans_lists() {
    let dir = tempfile::tempdir().unwrap();
    let exact = open(dir.path(), usize::MAX >> 40).await;
    load_shop(&exact, 150, 300, 9_000, 5).await;
    assert!(exact.train(&TrainRequest::default()).await.unwrap().published);
    let key = |r: &aisle_engine::Recommendations| {
        (r.source, r.items.iter().map(|i| (i.id.clone(), i.score.to_bits())).collect::<Vec<_>>())
    };
    let mut expected = Vec::new();
    for req in requests(&exact) {
        expected.push(key(&exact.recommend(&req).await.unwrap()));
    }
    assert_eq!(exact.serving().unwrap().model().prepared_bytes(), 0, "never built below the bound");
    drop(exact);

    let bounded = open(dir.path(), 1).await;
    let p = bounded.serving().unwrap();
    assert!(p.model().prepared_bytes() > 0, "built when the version is loaded");
    let reqs = requests(&bounded);
    let mut personal = 0;
    for (req, want) in reqs.iter().zip(&expected) {
        let got = key(&bounded.recommend(req).await.unwrap());
        assert_eq!(&got, want, "{req:?}");
        personal += usize::from(!got.1.is_empty() && got.0 != Source::Popular);
    }
    assert!(personal >= reqs.len() / 2, "most requests are answered by the model: {personal}");
}

/// A category's block follows catalog edits: an item moved out of (or into) the category is
/// out of (or in) the block built next, so the block's items are always the category's.
#[tokio::test]
async fn a_category_block_follows_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path(), 1).await;
    load_shop(&e, 60, 120, 3_000, 9).await;
    assert!(e.train(&TrainRequest::default()).await.unwrap().published);
    let p = e.serving().unwrap();
    let before = p.prepared_bytes();
    let mut records = e.catalog().snapshot();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    let moved = records.iter().find(|r| !r.categories.is_empty() && p.item(&r.id).is_some()).unwrap();
    let cat = moved.categories[0].clone();
    let block = p.category_block(&cat, 1).expect("a factor model's category has a block");
    assert_eq!(block.items(), p.category_items(&cat).as_slice());
    assert!(p.prepared_bytes() > before, "the block's bytes are counted");
    assert!(p.category_block(&cat, block.items().len() + 1).is_none(), "below the size, no block");

    p.recategorise(&moved.id, &moved.categories, &["elsewhere".to_owned()]);
    let after = p.category_block(&cat, 1).unwrap();
    let idx = p.item(&moved.id).unwrap();
    assert!(block.items().contains(&idx) && !after.items().contains(&idx), "moved out");
    assert_eq!(after.items(), p.category_items(&cat).as_slice());
    assert_eq!(p.category_block("elsewhere", 1).unwrap().items(), &[idx], "moved in");
}

#[test]
fn the_new_settings_are_bounded() {
    let check = |f: &dyn Fn(&mut EngineConfig)| {
        let mut c = EngineConfig::default();
        f(&mut c);
        c.validate().err().map(|e| e.to_string())
    };
    assert_eq!(check(&|_| {}), None);
    let e = check(&|c| c.cache.quantized_min_items = 100_000_001).expect("too many");
    assert!(e.contains("cache.quantized_min_items"), "{e}");
    assert_eq!(check(&|c| c.cache.quantized_min_items = 0), None, "0: every request by bounds");
    for bad in [0, 10_000_001] {
        let e = check(&|c| c.training.max_eval_users = bad).expect("out of range");
        assert!(e.contains("training.max_eval_users"), "{e}");
    }
    for bad in [-0.01, 1.01, f64::NAN, f64::INFINITY] {
        let e = check(&|c| c.training.similar_min_recall = bad).expect("out of range");
        assert!(e.contains("training.similar_min_recall"), "{e}");
    }
    assert_eq!(check(&|c| c.training.similar_min_recall = 1.0), None);
}
