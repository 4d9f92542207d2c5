//! Catalog, users and events: happy paths, idempotency, paging.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{app, app_with, config};

#[tokio::test]
async fn items_put_get_patch_list_delete() {
    let a = app_with(config(), false).await;
    let r =
        a.put("/v1/items/sku-1", json!({"title": "Red mug", "categories": ["kitchen"], "price": 9.5})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["title"], "Red mug");
    assert_eq!(r.body["in_stock"], true);
    let r =
        a.call(Method::PATCH, "/v1/items/sku-1", Some(json!({"price": 7.0, "in_stock": false})), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["price"], 7.0);
    assert_eq!(r.body["title"], "Red mug", "a patch keeps the fields it does not name");
    let r = a.call(Method::PATCH, "/v1/items/sku-1", Some(json!({"price": null})), None).await;
    assert!(r.body["price"].is_null(), "null clears: {}", r.text);
    let r = a.get("/v1/items/sku-1").await;
    assert_eq!(r.body["in_stock"], false);
    let items: Vec<_> =
        (2..=5).map(|k| json!({"id": format!("sku-{k}"), "title": format!("item {k}")})).collect();
    let r = a.post("/v1/items/batch", json!({"items": items})).await;
    assert_eq!(r.body["upserted"], 4, "{}", r.text);
    let mut seen = Vec::new();
    let mut uri = "/v1/items?limit=2".to_owned();
    loop {
        let r = a.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(r.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => uri = format!("/v1/items?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["sku-1", "sku-2", "sku-3", "sku-4", "sku-5"]);
    assert_eq!(a.call(Method::DELETE, "/v1/items/sku-1", None, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(a.get("/v1/items/sku-1").await.status, StatusCode::NOT_FOUND);
    assert_eq!(a.call(Method::DELETE, "/v1/items/sku-1", None, None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_put_get_list_delete_with_their_events() {
    let a = app_with(config(), false).await;
    let r = a.put("/v1/users/alice", json!({"attributes": {"segment": "home"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    a.put("/v1/users/bob", json!({})).await;
    let r = a.get("/v1/users/alice").await;
    assert_eq!(r.body["attributes"]["segment"], "home");
    let r = a.get("/v1/users?limit=1").await;
    assert_eq!(r.body["users"][0]["id"], "alice");
    let c = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = a.get(&format!("/v1/users?limit=1&cursor={c}")).await;
    assert_eq!(r.body["users"][0]["id"], "bob");
    assert!(r.body["next_cursor"].is_null());
    a.post("/v1/events", json!([{"user_id": "alice", "item_id": "x", "type": "view"}, {"user_id": "bob", "item_id": "x", "type": "view"}])).await;
    let r = a.call(Method::DELETE, "/v1/users/alice", None, None).await;
    assert_eq!(r.body["events_deleted"], 1, "{}", r.text);
    assert_eq!(a.get("/v1/users/alice").await.status, StatusCode::NOT_FOUND);
    assert_eq!(a.engine.stats().events, 1, "bob's event stays");
}

#[tokio::test]
async fn events_are_idempotent_on_event_id_in_every_body_shape() {
    let a = app_with(config(), false).await;
    let one = json!({"event_id": "e-1", "user_id": "u", "item_id": "i", "type": "purchase", "value": 12.5,
        "timestamp": "2026-11-30T10:00:00Z", "session_id": "s", "recommendation_id": "rec_1"});
    let r = a.post("/v1/events", one.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["inserted"].as_u64(), r.body["duplicates"].as_u64()), (Some(1), Some(0)));
    let seq = r.body["results"][0]["seq"].clone();
    let r = a
        .post(
            "/v1/events",
            json!({"events": [one.clone(), {"user_id": "u", "item_id": "j", "type": "view"}]}),
        )
        .await;
    assert_eq!(r.body["results"][0], json!({"status": "duplicate", "seq": seq}), "{}", r.text);
    assert_eq!(r.body["inserted"], 1);
    let r = a.post("/v1/events", json!([one])).await;
    assert_eq!(r.body["duplicates"], 1);
    let counts = aisle_store::Store::counts(a.engine.store()).await.unwrap();
    assert_eq!(counts.events, 2, "the re-sent event is stored once");
}

#[tokio::test]
async fn models_train_list_and_activate_roll_back() {
    let a = app().await;
    let r = a.post("/v1/admin/train", json!({"wait": true, "force": true, "params": {"factors": 8}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["model"]["version"], 2);
    assert!(r.body["model"]["metrics"]["ndcg@10"].as_f64().unwrap() > 0.0);
    let r = a.get("/v1/models").await;
    assert_eq!(r.body["serving_version"], 2);
    assert_eq!(r.body["models"].as_array().unwrap().len(), 2);
    let r = a.post("/v1/admin/models/1/activate", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(a.get("/v1/models").await.body["serving_version"], 1);
    assert_eq!(a.get("/v1/users/u1/recommendations").await.body["model_version"], 1);
    let r = a.post("/v1/admin/models/99/activate", json!({})).await;
    crate::common::assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = a.post("/v1/admin/train", json!({"model": "nope"})).await;
    crate::common::assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

/// `auto` over the API: the answer names the slow candidates that follow, and `GET /v1/models`
/// then says what the follow-up did.
#[tokio::test]
async fn auto_answers_at_once_and_its_follow_up_shows_in_the_model_list() {
    let mut config = config();
    config.model = aisle_engine::ModelConfig {
        candidates: vec!["pop".into()],
        slow_candidates: vec!["sr".into()],
        trials: 1,
        ..aisle_engine::ModelConfig::default()
    };
    let a = app_with(config, false).await;
    let shop = aisle_ingest::synth::generate(
        &aisle_ingest::synth::ShopParams { users: 150, items: 200, events: 8_000, ..Default::default() },
        7,
    )
    .unwrap();
    let (items, users, events) = aisle_engine::shop_records(&shop, 0);
    a.engine.load(items, users, events).await.unwrap();
    let r = a.post("/v1/admin/train", json!({"wait": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["model"]["name"], "pop");
    assert_eq!(r.body["follow_up"], json!(["sr"]));
    a.engine.training_finished().await;
    let m = a.get("/v1/models").await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text);
    let f = &m.body["follow_up"];
    assert_eq!(f["after_version"], 1, "{f}");
    assert_eq!(f["version"], 2, "sr beats popularity on the shop's next steps: {f}");
    assert_eq!(f["published"], true);
    assert_eq!(f["selection"]["chosen"], "sr");
    assert_eq!(m.body["serving_version"], 2);
    assert!(m.body["training_since_ms"].is_null());
}

#[tokio::test]
async fn health_metrics_docs_and_dashboard_answer() {
    let a = app().await;
    assert_eq!(a.get("/health/live").await.body["status"], "ok");
    let r = a.get("/health/ready").await;
    assert_eq!(r.body["status"], "ready");
    assert_eq!(r.body["serving_version"], 1);
    a.get("/v1/items/i1").await;
    a.post("/v1/events", json!({"user_id": "u1", "item_id": "i1", "type": "view"})).await;
    // A training once the recorder is in place (`app` trained before the router installed it),
    // so the training metrics are there whatever test ran first.
    let request = aisle_engine::TrainRequest { model: None, force: true, candidate: false };
    let trained = a.engine.train(&request).await.expect("a training");
    let timed = |name: &str| trained.model.model.metrics.get(name).copied().unwrap_or(-1.0);
    assert!(
        timed("snapshot_seconds") >= 0.0 && timed("fit_seconds") >= 0.0,
        "{:?}",
        trained.model.model.metrics
    );
    let m = a.get("/metrics").await.text;
    assert!(
        m.contains("aisle_http_request_duration_seconds_bucket{route=\"/v1/items/{id}\""),
        "route templates, not ids"
    );
    assert!(!m.contains("route=\"/v1/items/i1\""));
    assert!(m.contains("aisle_events_ingested_total{type=\"view\"}"));
    assert!(m.contains("aisle_serving_model_version 2"), "the forced training published");
    assert!(m.contains("aisle_catalog_items 200"));
    assert!(m.contains("aisle_training_duration_seconds"));
    assert!(m.contains("aisle_training_snapshot_seconds"), "a training's read of the log is timed");
    let r = a.get("/docs/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("swagger"), "the vendored docs UI is served");
    let r = a.get("/").await;
    assert!(r.text.contains("aisle"));
}

#[tokio::test]
async fn dead_letters_page_oldest_first_with_their_reasons() {
    let app = app_with(config(), false).await;
    let letters = (0..3)
        .map(|k| aisle_store::DeadLetter {
            source: "kafka:events".into(),
            partition: 1,
            offset: k,
            payload: if k == 0 { vec![b'{', 0xff] } else { format!("{{\"n\":{k}}}").into_bytes() },
            reason: format!("reason {k}"),
            at_ms: 1_000 + k,
        })
        .collect();
    aisle_store::Store::put_dead_letters(app.engine.store(), letters).await.unwrap();
    let first = app.call(Method::GET, "/v1/admin/dead-letters?limit=2", None, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let page = first.body["dead_letters"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!((page[0]["offset"].as_i64(), page[0]["reason"].as_str()), (Some(0), Some("reason 0")));
    assert_eq!(page[0]["payload"], "{\u{fffd}", "bytes that are not UTF-8 are replaced");
    let cursor = first.body["next_cursor"].as_u64().expect("a next page");
    let rest = app.call(Method::GET, &format!("/v1/admin/dead-letters?cursor={cursor}"), None, None).await;
    let rest_page = rest.body["dead_letters"].as_array().unwrap();
    assert_eq!(rest_page.len(), 1);
    assert_eq!(rest_page[0]["payload"], "{\"n\":2}");
    assert!(rest.body["next_cursor"].is_null());
    let bad = app.call(Method::GET, "/v1/admin/dead-letters?limit=0", None, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
