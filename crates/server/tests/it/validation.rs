//! Every validation error: a 4xx JSON body with a stable code and the field at fault.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::common::{app, assert_error};

#[tokio::test]
async fn bad_queries_are_422_naming_the_field() {
    let a = app().await;
    let cases = [
        ("/v1/users/u1/recommendations?n=0", "n"),
        ("/v1/users/u1/recommendations?n=1001", "n"),
        ("/v1/users/u1/recommendations?n=abc", "query"),
        ("/v1/users/u1/recommendations?colour=red", "query"),
        ("/v1/users/u1/recommendations?min_price=10&max_price=5", "min_price"),
        ("/v1/users/u1/recommendations?window=7d", "window"),
        ("/v1/popular?window=2w", "window"),
        ("/v1/items/i1/similar?n=5000", "n"),
        ("/v1/items?limit=0", "limit"),
    ];
    for (uri, field) in cases {
        let r = a.get(uri).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["field"], field, "{uri}: {}", r.text);
    }
    let long = "x".repeat(257);
    let r = a.get(&format!("/v1/users/{long}/recommendations")).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(r.body["field"], "id");
}

#[tokio::test]
async fn bad_bodies_are_rejected_whole_and_named() {
    let a = app().await;
    let before = a.engine.stats().events;
    let r = a.post("/v1/events", json!([{"user_id": "u1", "item_id": "i1", "type": "view"}, {"user_id": "u1", "item_id": "i1", "type": "buy"}])).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_event_type");
    assert_eq!(r.body["field"], "events[1].type");
    assert!(r.body["message"].as_str().unwrap().contains("add_to_cart"), "names the allowed types");
    assert_eq!(a.engine.stats().events, before, "a bad batch stores nothing");
    let cases = [
        (json!({"item_id": "i1", "type": "view"}), "events[0]"),
        (json!({"user_id": "u1", "item_id": "i1", "type": "rating"}), "events[0].value"),
        (json!({"user_id": "", "item_id": "i1", "type": "view"}), "events[0].user_id"),
        (
            json!({"user_id": "u", "item_id": "i1", "type": "view", "timestamp": "yesterday"}),
            "events[0].timestamp",
        ),
        (json!({"user_id": "u", "item_id": "i1", "type": "view", "extra": 1}), "events[0]"),
        (json!([]), "events"),
    ];
    for (body, field) in cases {
        let r = a.post("/v1/events", body.clone()).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let r = a.put("/v1/items/x", json!({"price": -1})).await;
    assert_eq!(r.body["field"], "price", "{}", r.text);
    let r = a.put("/v1/items/x", json!({"id": "y"})).await;
    assert_eq!(r.body["field"], "id");
    let r = a.post("/v1/items/batch", json!({"items": [{"id": "a"}, {"title": "no id"}]})).await;
    assert_eq!(r.body["field"], "items[1].id", "{}", r.text);
    let r = a.call(Method::PATCH, "/v1/items/i1", Some(json!({"colour": "red"})), None).await;
    assert_eq!(r.body["field"], "colour");
    let r = a.call(Method::PATCH, "/v1/items/i1", Some(json!({"price": "cheap"})), None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = a
        .post("/v1/recommendations", json!({"user_id": "u1", "boosts": [{"category": "x", "weight": 0}]}))
        .await;
    assert_eq!(r.body["field"], "boosts[0].weight");
    let r = a.post("/v1/recommendations", json!({"n": 3})).await;
    assert_eq!(r.body["field"], "user_id");
}

#[tokio::test]
async fn malformed_oversized_and_misrouted_requests_get_json_errors() {
    let a = app().await;
    let raw = |body: &str, ctype: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/events")
            .header("content-type", ctype)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    assert_error(&a.send(raw("{not json", "application/json")).await, StatusCode::BAD_REQUEST, "bad_request");
    assert_error(
        &a.send(raw("{}", "text/plain")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = format!("[{}]", vec![r#"{"user_id":"u","item_id":"i","type":"view"}"#; 250_000].join(","));
    assert_error(
        &a.send(raw(&huge, "application/json")).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let many: Vec<_> = (0..10_001).map(|_| json!({"user_id": "u", "item_id": "i", "type": "view"})).collect();
    let r = a.post("/v1/events", json!(many)).await;
    assert_eq!(r.body["field"], "events");
    assert_error(&a.get("/v1/nothing").await, StatusCode::NOT_FOUND, "no_route");
    assert_error(
        &a.call(Method::DELETE, "/v1/popular", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_error(&a.get("/v1/items/nope").await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&a.get("/v1/items/nope/similar").await, StatusCode::NOT_FOUND, "not_found");
    let req = Request::builder()
        .uri("/v1/items/nope")
        .header("x-request-id", "trace-42")
        .body(Body::empty())
        .unwrap();
    assert_eq!(a.send(req).await.body["request_id"], "trace-42", "a client's request id is kept");
}
