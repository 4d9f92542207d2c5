//! Placements, impressions, attribution, the impact report and experiments, through the API over
//! a real SQLite store file.

use aisle_store::ImpactStore;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{App, app, assert_error, config, ids};

async fn put_placement(a: &App, id: &str, body: Value) -> crate::common::Reply {
    a.call(Method::PUT, &format!("/v1/placements/{id}"), Some(body), None).await
}

async fn impact(a: &App, query: &str) -> Value {
    a.impact.flush().await.unwrap();
    let r = a.get(&format!("/v1/analytics/impact?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

#[tokio::test]
async fn placements_are_versioned_validated_and_deleted() {
    let a = app().await;
    let r = put_placement(&a, "home", json!({"kind": "user", "n": 5})).await;
    assert_eq!((r.status, r.body["version"].as_u64()), (StatusCode::OK, Some(1)), "{}", r.text);
    let r = put_placement(&a, "home", json!({"kind": "user", "n": 7, "diversity": {"lambda": 0.5}})).await;
    assert_eq!(r.body["version"], 2);
    assert_eq!(a.get("/v1/placements").await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(a.get("/v1/placements/home?version=1").await.body["config"]["n"], 5);
    assert_eq!(a.get("/v1/placements/home").await.body["config"]["n"], 7);
    let r = put_placement(&a, "bad", json!({"kind": "user", "diversity": {"lambda": 3}})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["field"], "diversity.lambda", "{}", r.text);
    let r = put_placement(&a, "bad", json!({"kind": "shelf"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(
        a.call(Method::DELETE, "/v1/placements/home", None, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(&a.get("/v1/placements/home").await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        a.get("/v1/placements/home?version=2").await.body["config"]["n"],
        7,
        "old versions stay readable"
    );
    assert_error(
        &a.call(Method::DELETE, "/v1/placements/home", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn placements_shape_lists_and_refuse_the_wrong_route() {
    let a = app().await;
    put_placement(
        &a,
        "home",
        json!({"kind": "user", "n": 4, "rules": {"exclude": []},
        "diversity": {"lambda": 0.5, "max_per_category": 2},
        "exploration": {"policy": "plackett_luce", "temperature": 0.5}}),
    )
    .await;
    put_placement(&a, "pdp", json!({"kind": "item_to_item", "n": 3})).await;
    let r = a.get("/v1/users/u1/recommendations?placement=home").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(ids(&r).len(), 4, "the placement's n");
    let items: Vec<String> = ids(&r);
    let cats: Vec<String> = items
        .iter()
        .map(|i| a.engine.item(i).and_then(|r| r.categories.first().cloned()).unwrap_or_default())
        .collect();
    for c in &cats {
        assert!(cats.iter().filter(|x| *x == c).count() <= 2, "at most 2 per category: {cats:?}");
    }
    let r = a.get("/v1/users/u1/recommendations?placement=pdp").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["field"], "placement");
    assert_error(
        &a.get("/v1/users/u1/recommendations?placement=nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let item = &items[0];
    let r = a.get(&format!("/v1/items/{item}/similar?placement=pdp&user_id=u1")).await;
    assert_eq!((r.status, ids(&r).len()), (StatusCode::OK, 3), "{}", r.text);
    // Exploration logs each slot's propensity.
    a.impact.flush().await.unwrap();
    let shown = a.engine.store().user_impressions("u1".into(), 0, 10).await.unwrap();
    let home = shown.iter().find(|i| i.placement == "home").expect("logged");
    assert!(home.items.iter().all(|s| s.propensity.is_some_and(|p| p > 0.0 && p <= 1.0)), "{home:?}");
    assert!(shown.iter().any(|i| i.placement == "pdp"), "the item list is logged for its shopper too");
}

#[tokio::test]
async fn events_are_attributed_by_id_and_by_last_touch() {
    let a = app().await;
    put_placement(&a, "home", json!({"kind": "user", "n": 5})).await;
    let r = a.get("/v1/users/buyer/recommendations?placement=home").await;
    let rid = r.body["recommendation_id"].as_str().unwrap().to_owned();
    let shown = ids(&r);
    let never = "definitely-never-shown";
    let now = aisle_engine::now_ms();
    let events = json!([
        {"user_id": "buyer", "item_id": shown[0], "type": "click", "recommendation_id": rid, "timestamp": now},
        {"user_id": "buyer", "item_id": shown[1], "type": "purchase", "value": 30.0, "timestamp": now},
        {"user_id": "buyer", "item_id": never, "type": "purchase", "value": 99.0, "timestamp": now},
        {"user_id": "someone-else", "item_id": shown[2], "type": "click", "recommendation_id": rid, "timestamp": now},
        {"user_id": "buyer", "item_id": shown[3], "type": "view", "timestamp": now},
    ]);
    assert_eq!(a.post("/v1/events", events).await.status, StatusCode::OK);
    let body = impact(&a, "placement=home&granularity=hour").await;
    let t = &body["totals"][0]["metrics"];
    assert_eq!(t["impressions"], 1, "{body}");
    assert_eq!(t["clicks"], 1, "another shopper's click on the list is not its click: {body}");
    assert_eq!(t["purchases"], 1, "the never-shown item's purchase is credited to nothing: {body}");
    assert_eq!(t["revenue"]["value"], 30.0);
    assert!(t["ctr"]["low"].as_f64().unwrap() < 1.0 && t["ctr"]["high"].as_f64().unwrap() <= 1.0);
    assert_eq!(body["series"].as_array().map(Vec::len), Some(1));
    // Lists served without a placement count under "".
    a.get("/v1/users/buyer/recommendations").await;
    let body = impact(&a, "placement=none").await;
    assert_eq!(body["totals"][0]["metrics"]["impressions"], 1, "{body}");
    // Bad ranges are refused, naming the field.
    assert_eq!(a.get("/v1/analytics/impact?from=10&to=5").await.body["field"], "from");
    assert_eq!(a.get("/v1/analytics/impact?granularity=week").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn experiments_assign_sticky_variants_and_report() {
    let a = app().await;
    put_placement(&a, "home", json!({"kind": "user", "n": 5})).await;
    let bad = a
        .post(
            "/v1/experiments",
            json!({"id": "e1", "placement": "home",
            "variants": [{"name": "control"}, {"name": "pop", "kind": "popular", "weight": -1}]}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(bad.body["field"], "variants[1].weight");
    let r = a
        .post(
            "/v1/experiments",
            json!({"id": "e1", "placement": "home",
            "variants": [{"name": "control"}, {"name": "pop", "kind": "popular"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body.get("salt").is_some());
    let again = a
        .post(
            "/v1/experiments",
            json!({"id": "e2", "placement": "home",
            "variants": [{"name": "a"}, {"name": "b"}]}),
        )
        .await;
    assert_eq!(again.body["field"], "placement", "one running experiment per placement: {}", again.text);
    for round in 0..2 {
        for u in 0..40 {
            let r = a.get(&format!("/v1/users/u{u}/recommendations?placement=home")).await;
            assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.text);
        }
    }
    a.impact.flush().await.unwrap();
    for u in 0..40 {
        let shown = a.engine.store().user_impressions(format!("u{u}"), 0, 10).await.unwrap();
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[0].variant, shown[1].variant, "u{u} saw one variant");
        assert_eq!(shown[0].experiment, "e1");
        if shown[0].variant == "pop" {
            assert_eq!(shown[0].model_version, shown[1].model_version);
        }
    }
    let report = a.get("/v1/experiments/e1/report").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let variants = report.body["variants"].as_array().unwrap();
    let units: u64 = variants.iter().map(|v| v["units"].as_u64().unwrap()).sum();
    assert_eq!(units, 40, "{}", report.text);
    assert_eq!(
        variants[0]["impressions"].as_u64().unwrap() + variants[1]["impressions"].as_u64().unwrap(),
        80
    );
    assert!(report.body["srm"]["p_value"].as_f64().is_some(), "{}", report.text);
    assert!(report.body["verdict"].as_str().is_some_and(|v| !v.is_empty()));
    let r = a.post("/v1/experiments/e1/ship", json!({"variant": "pop"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"]["state"], "shipped");
    assert_eq!(
        a.get("/v1/placements/home").await.body["config"]["kind"],
        "popular",
        "shipping wrote the variant"
    );
    let r = a.post("/v1/experiments/e1/stop", json!({})).await;
    assert_eq!(r.body["field"], "state", "a shipped experiment cannot stop: {}", r.text);
}

#[tokio::test]
async fn assignment_and_impressions_survive_a_restart() {
    let a = app().await;
    put_placement(&a, "home", json!({"kind": "user", "n": 3})).await;
    a.post(
        "/v1/experiments",
        json!({"id": "sticky", "placement": "home",
        "variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
    )
    .await;
    for u in 0..30 {
        a.get(&format!("/v1/users/s{u}/recommendations?placement=home")).await;
    }
    let before = a.impact.experiments().get("sticky").unwrap();
    let assigned: Vec<Option<usize>> = (0..30).map(|u| before.assign(&format!("s{u}"))).collect();
    let a = crate::hostile::restart(a, &config()).await;
    let after = a.impact.experiments().get("sticky").expect("the experiment is durable");
    assert_eq!(after.salt, before.salt);
    let again: Vec<Option<usize>> = (0..30).map(|u| after.assign(&format!("s{u}"))).collect();
    assert_eq!(assigned, again);
    let units = a.engine.store().experiment_units("sticky".into()).await.unwrap();
    assert_eq!(units.len(), 30, "impressions queued before the restart were written");
    for u in &units {
        let k = after.config.variants.iter().position(|v| v.name == u.variant);
        assert_eq!(k, after.assign(&u.unit), "the stored variant is the hashed one");
    }
}

#[tokio::test]
async fn the_shop_overview_counts_the_stored_log() {
    let a = app().await;
    let r = a.get("/v1/analytics/overview").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stored = aisle_store::Store::counts(a.engine.store()).await.unwrap().events;
    assert_eq!(r.body["events"].as_u64(), Some(stored));
    let per_day: u64 = r.body["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            ["view", "click", "add_to_cart", "purchase", "other"]
                .iter()
                .map(|k| d[k].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(per_day, stored, "every event is in a day");
    let f = &r.body["funnel"];
    assert!(f["views"].as_u64().unwrap() >= f["carts"].as_u64().unwrap(), "{f}");
    assert!(r.body["long_tail"]["gini"].as_f64().is_some_and(|g| (0.0..=1.0).contains(&g)));
}

#[tokio::test]
async fn a_candidate_version_is_stored_unpublished_and_served_only_where_pinned() {
    let a = app().await;
    let serving = a.engine.serving().unwrap().version();
    let r = a.post("/v1/admin/train", json!({"model": "item-knn", "candidate": true, "wait": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["published"], false, "{}", r.text);
    let candidate = r.body["model"]["version"].as_u64().unwrap();
    assert_eq!(a.engine.serving().unwrap().version(), serving, "a candidate does not serve");
    let r = put_placement(&a, "pinned", json!({"kind": "user", "model_version": candidate})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = a.get("/v1/users/u3/recommendations?placement=pinned").await;
    assert_eq!(r.body["model_version"].as_u64(), Some(candidate), "{}", r.text);
    let r = a.get("/v1/users/u3/recommendations").await;
    assert_eq!(r.body["model_version"].as_u64(), Some(serving));
    let r = put_placement(&a, "bad", json!({"kind": "user", "model_version": 999})).await;
    assert_eq!(r.body["field"], "model_version", "{}", r.text);
    // A variant pins it too; the other variant serves the serving version.
    put_placement(&a, "home", json!({"kind": "user"})).await;
    let r = a
        .post(
            "/v1/experiments",
            json!({"id": "cand", "placement": "home",
            "variants": [{"name": "live"}, {"name": "cand", "model_version": candidate}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let bad = a
        .post(
            "/v1/experiments",
            json!({"id": "nope", "placement": "pinned",
            "variants": [{"name": "a"}, {"name": "b", "model_version": 999}]}),
        )
        .await;
    assert_eq!(bad.body["field"], "variants[1].model_version", "{}", bad.text);
    for u in 0..30 {
        a.get(&format!("/v1/users/u{u}/recommendations?placement=home")).await;
    }
    a.impact.flush().await.unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for u in 0..30 {
        for i in a.engine.store().user_impressions(format!("u{u}"), 0, 10).await.unwrap() {
            if i.experiment == "cand" {
                let want = if i.variant == "cand" { candidate } else { serving };
                assert_eq!(i.model_version, Some(want), "{i:?}");
                seen.insert(i.variant);
            }
        }
    }
    assert_eq!(seen.len(), 2, "both variants served: {seen:?}");
}

#[tokio::test]
async fn a_preview_with_log_false_is_served_but_not_logged() {
    let a = app().await;
    put_placement(&a, "home", json!({"kind": "user", "n": 3})).await;
    let r = a.get("/v1/users/u1/recommendations?placement=home&log=false").await;
    assert_eq!((r.status, ids(&r).len()), (StatusCode::OK, 3), "{}", r.text);
    let r = a
        .post(
            "/v1/recommendations",
            json!({"session_items": [ids(&r)[0]], "log": false, "placement": "home"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    a.get("/v1/popular?log=false").await;
    a.get("/v1/users/u1/recommendations?placement=home").await;
    let body = impact(&a, "").await;
    let lists: u64 = body["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metrics"]["impressions"].as_u64().unwrap())
        .sum();
    assert_eq!(lists, 1, "only the logged list counts: {body}");
    assert_eq!(a.impact.log().queued(), 1);
}
