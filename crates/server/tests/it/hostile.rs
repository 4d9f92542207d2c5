//! Hostile input, tried as a new user would (issue 11): each request here used to break one of
//! aisle's promises — a value that poisoned training, a timestamp that pinned an item for ever, a
//! deletion a restart undid, a boost that pushed an item out, a method name that grew the
//! metrics, a cross-site form that trained a model, a storefront key that listed the shoppers.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use aisle_engine::Engine;
use aisle_server::config::AisleConfig;
use aisle_store::{AnyStore, EventRecord, Store};

use crate::common::{App, app, app_with, assert_error, config, ids};

/// Stops `a`'s engine and opens a new one on the same store file (a process restart).
pub async fn restart(a: App, config: &AisleConfig) -> App {
    let App { router, engine, impact, _dir } = a;
    drop(router);
    impact.flush().await.unwrap();
    drop(impact);
    engine.flush().await.unwrap();
    drop(engine);
    let store = AnyStore::open(&format!("sqlite:{}", _dir.path().join("aisle.db").display())).await.unwrap();
    let engine = Engine::open(store, config.engine()).await.unwrap();
    let impact = aisle_engine::impact::Impact::start(engine.clone()).await.unwrap();
    App { router: aisle_server::router(engine.clone(), impact.clone(), config), engine, impact, _dir }
}

fn event(
    id: &str,
    user: &str,
    item: &str,
    kind: aisle_core::EventKind,
    value: Option<f32>,
    ts_ms: i64,
) -> EventRecord {
    EventRecord {
        event_id: Some(id.to_owned()),
        user_id: user.to_owned(),
        item_id: item.to_owned(),
        kind,
        value,
        ts_ms,
        session_id: None,
        recommendation_id: None,
    }
}

#[tokio::test]
async fn values_times_ids_and_text_are_bounded_at_the_door() {
    let a = app().await;
    let before = a.engine.stats().events;
    let soon = aisle_engine::now_ms() + 2 * 3_600_000;
    let cases = [
        (json!({"user_id": "u1", "item_id": "i1", "type": "rating", "value": 3e38}), "events[0].value"),
        (json!({"user_id": "u1", "item_id": "i1", "type": "rating", "value": 11}), "events[0].value"),
        (json!({"user_id": "u1", "item_id": "i1", "type": "purchase", "value": -5}), "events[0].value"),
        (json!({"user_id": "u1", "item_id": "i1", "type": "purchase", "value": 1e12}), "events[0].value"),
        (
            json!({"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": "2199-01-01T00:00:00Z"}),
            "events[0].timestamp",
        ),
        (json!({"user_id": "u1", "item_id": "i1", "type": "view", "timestamp": soon}), "events[0].timestamp"),
        (
            json!({"event_id": "kafka:t:0:1", "user_id": "u1", "item_id": "i1", "type": "view"}),
            "events[0].event_id",
        ),
        (json!({"user_id": "   ", "item_id": "i1", "type": "view"}), "events[0].user_id"),
        (json!({"user_id": "u1", "item_id": "i\u{0}1", "type": "view"}), "events[0].item_id"),
    ];
    for (body, field) in cases {
        let r = a.post("/v1/events", body.clone()).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    assert_eq!(a.engine.stats().events, before, "nothing refused was stored");
    for (body, field) in [
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"categories": ["ok", "\u{1}"]}), "categories[1]"),
        (json!({"tags": ["  "]}), "tags[0]"),
    ] {
        let r = a.put("/v1/items/x1", body.clone()).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let r = a.put("/v1/items/%20%20", json!({})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["field"], "id", "whitespace-only ids are refused: {}", r.text);
}

#[tokio::test]
async fn events_stored_out_of_bounds_never_poison_training_popularity_or_a_restart() {
    let mut c = config();
    c.popular.cache_ttl_ms = 0;
    let a = app_with(c.clone(), true).await;
    let now = aisle_engine::now_ms();
    // What an older aisle stored before these bounds existed: two 3e38 ratings of one pair (their
    // sum is +inf) and a view dated 2199. They went in under the API's validation, so they are
    // written to the store directly here.
    let rating = aisle_core::EventKind::Rating;
    let stored = vec![
        event("old-1", "u1", "i5", rating, Some(3e38), now - 1_000),
        event("old-2", "u1", "i5", rating, Some(3e38), now - 900),
        event("old-3", "u2", "i6", aisle_core::EventKind::View, None, 7_226_582_400_000),
    ];
    a.engine.store().append_events(stored).await.unwrap();
    let a = restart(a, &c).await;
    for window in ["1h", "all"] {
        let r = a.get(&format!("/v1/popular?window={window}&n=100")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for item in r.body["items"].as_array().unwrap() {
            assert!(item["score"].as_f64().is_some_and(f64::is_finite), "{window}: {item}");
        }
        if window == "1h" {
            assert!(
                !ids(&r).contains(&"i6".to_owned()),
                "a view dated 2199 does not pin i6 in the last hour"
            );
        }
    }
    let r = a.post("/v1/admin/train", json!({"wait": true, "force": true})).await;
    assert_eq!(r.status, StatusCode::OK, "training skips what it cannot use: {}", r.text);
    assert!(
        r.body["model"]["metrics"]["skipped_events"].as_f64().is_some_and(|n| n >= 3.0),
        "and says how many it skipped: {}",
        r.text
    );
    let r = a.get("/v1/users/u1/recommendations?n=5").await;
    assert_eq!(r.body["source"], "model", "{}", r.text);
    assert_eq!(ids(&r).len(), 5, "{}", r.text);
}

#[tokio::test]
async fn a_deleted_user_stays_deleted_after_a_restart_and_a_rollback() {
    let c = config();
    let a = app_with(c.clone(), true).await;
    let r = a.get("/v1/users/u1/recommendations?n=5&explain=true").await;
    assert_eq!(r.body["source"], "model", "u1 was trained on: {}", r.text);
    let r = a.call(Method::DELETE, "/v1/users/u1", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let gone = |r: &crate::common::Reply| {
        assert_eq!(r.body["source"], "popular", "{}", r.text);
        assert_eq!(r.body["fallback"], true, "{}", r.text);
        let reasons =
            r.body["items"].as_array().unwrap().iter().flat_map(|i| i["reasons"].as_array().unwrap().clone());
        assert!(
            reasons.into_iter().all(|x| x["kind"] == "popular"),
            "nothing of u1's history shows: {}",
            r.text
        );
    };
    gone(&a.get("/v1/users/u1/recommendations?n=5&explain=true").await);
    let a = restart(a, &c).await;
    gone(&a.get("/v1/users/u1/recommendations?n=5&explain=true").await);
    // A newer version trained without them, then a rollback to the version that holds them.
    let r = a.post("/v1/admin/train", json!({"wait": true, "force": true})).await;
    assert_eq!(r.body["model"]["version"], 2, "{}", r.text);
    let a = restart(a, &c).await;
    let r = a.post("/v1/admin/models/1/activate", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    gone(&a.get("/v1/users/u1/recommendations?n=5&explain=true").await);
}

#[tokio::test]
async fn boosts_are_bounded_in_number_and_in_effect() {
    let a = app().await;
    let many: Vec<_> = (0..101).map(|k| json!({"item_ids": [format!("i{k}")], "weight": 2})).collect();
    let r = a.post("/v1/recommendations", json!({"user_id": "u1", "boosts": many})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["field"], "boosts", "{}", r.text);
    let ids_many: Vec<String> = (0..1001).map(|k| format!("i{k}")).collect();
    let r = a
        .post(
            "/v1/recommendations",
            json!({"user_id": "u1", "boosts": [{"item_ids": ids_many, "weight": 2}]}),
        )
        .await;
    assert_eq!(r.body["field"], "boosts[0].item_ids", "{}", r.text);
    // Twenty boosts of the same item at the highest weight (100^20 overflows f32): it goes to the
    // top, not out of the list.
    let ranked = a.post("/v1/recommendations", json!({"user_id": "u1", "n": 30})).await;
    let target = ids(&ranked)[20].clone();
    let boosts: Vec<_> = (0..20).map(|_| json!({"item_ids": [target], "weight": 100})).collect();
    let r = a.post("/v1/recommendations", json!({"user_id": "u1", "n": 10, "boosts": boosts})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(ids(&r).first(), Some(&target), "{}", r.text);
    assert!(
        r.body["items"].as_array().unwrap().iter().all(|i| i["score"].as_f64().is_some_and(f64::is_finite))
    );
}

#[tokio::test]
async fn made_up_http_methods_never_become_metric_labels() {
    let a = app_with(config(), false).await;
    for k in 0..3 {
        let req = Request::builder()
            .method(Method::from_bytes(format!("MADEUP{k}").as_bytes()).unwrap())
            .uri("/v1/popular")
            .body(Body::empty())
            .unwrap();
        assert_eq!(a.send(req).await.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let m = a.get("/metrics").await.text;
    assert!(!m.contains("MADEUP"), "a client's method name is not a label");
    assert!(m.contains("method=\"other\""), "it is counted as `other`");
}

#[tokio::test]
async fn cross_site_form_posts_cannot_reach_state_changing_routes() {
    let a = app().await;
    for (uri, ctype) in [
        ("/v1/admin/train", Some("application/x-www-form-urlencoded")),
        ("/v1/admin/train", Some("text/plain")),
        ("/v1/admin/models/1/activate", Some("multipart/form-data; boundary=x")),
        ("/v1/admin/models/1/activate", None),
        ("/v1/events", Some("text/plain")),
    ] {
        let mut b = Request::builder().method(Method::POST).uri(uri);
        if let Some(t) = ctype {
            b = b.header("content-type", t);
        }
        let r = a.send(b.body(Body::empty()).unwrap()).await;
        assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    assert_eq!(a.engine.training_status().jobs, 1, "no training was started");
    let r = a.post("/v1/admin/models/1/activate", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "a JSON request still works: {}", r.text);
}

#[tokio::test]
async fn a_storefront_read_key_cannot_list_shoppers_or_see_their_history() {
    let mut c = config();
    c.auth.read_keys = vec!["storefront".into()];
    c.auth.admin_keys = vec!["admin".into()];
    let a = app_with(c, true).await;
    let as_read = |uri: &'static str| a.call(Method::GET, uri, None, Some("storefront"));
    assert_eq!(as_read("/v1/users/u1/recommendations?n=3").await.status, StatusCode::OK);
    assert_eq!(as_read("/v1/items/i1").await.status, StatusCode::OK);
    for uri in ["/v1/users", "/v1/users/u1", "/v1/users/u1/recommendations?n=3&explain=true"] {
        assert_error(&as_read(uri).await, StatusCode::FORBIDDEN, "forbidden");
    }
    let r = a.call(Method::GET, "/v1/users/u1/recommendations?explain=true", None, Some("admin")).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = a.call(Method::GET, "/v1/items/i1", None, Some("not-a-key")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_api_key");
    assert!(r.body["message"].as_str().unwrap().contains("invalid"), "{}", r.text);
}

#[test]
fn an_open_server_on_a_public_address_and_empty_keys_are_refused() {
    let load = |pairs: &[(&str, &str)]| {
        let flags: Vec<_> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned(), "test".to_owned())).collect();
        AisleConfig::load(None, [], &flags).map_err(|e| e.to_string())
    };
    let public = ("server.listen", "\"0.0.0.0:8080\"");
    let e = load(&[public]).unwrap_err();
    assert!(e.contains("auth.open"), "{e}");
    assert!(load(&[public, ("auth.open", "true")]).is_ok());
    assert!(load(&[public, ("auth.admin_keys", "[\"a-long-admin-key\"]")]).is_ok());
    assert!(load(&[]).is_ok(), "loopback without keys is the demo's default");
    let e = load(&[("auth.read_keys", "[\"\"]")]).unwrap_err();
    assert!(e.contains("auth.read_keys"), "{e}");
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aisle.toml");
    std::fs::write(
        &file,
        "[store]\nurl = \"postgres://shop:hunter2@db.internal/aisle\"\n\
         [kafka]\nbrokers = \"h:9092\"\n[kafka.settings]\n\"sasl.password\" = \"hunter3\"\n",
    )
    .unwrap();
    let c = AisleConfig::load(Some(&file), [], &[]).unwrap();
    let shown = format!("{c:?} {:?} {:?}", c.kafka.source(), c.store);
    assert!(!shown.contains("hunter2") && !shown.contains("hunter3"), "{shown}");
}

#[tokio::test]
async fn every_error_is_json_with_a_code() {
    let mut c = config();
    c.server.max_body_bytes = 1_024;
    let a = app_with(c, false).await;
    let big = json!({"params": {"x": "x".repeat(2_000)}});
    let r = a.post("/v1/admin/train", big).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let r = a.get("/docs/no-such-file").await;
    assert_error(&r, StatusCode::NOT_FOUND, "no_route");
}

async fn boom() -> &'static str {
    panic!("kaboom: a secret in a panic message")
}

#[tokio::test]
async fn a_handler_that_panics_answers_the_json_500_with_a_request_id() {
    let a = app_with(config(), false).await;
    let router =
        aisle_server::with_layers(axum::Router::new().route("/boom", axum::routing::get(boom)), &config());
    let a = App { router, engine: a.engine, impact: a.impact, _dir: a._dir };
    let r = a.get("/boom").await;
    assert_error(&r, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(!r.text.contains("kaboom"), "no internals in the body: {}", r.text);
}
