//! API keys: each route group at each level, both headers, open health routes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::common::{app_with, assert_error, config};

#[tokio::test]
async fn every_level_opens_exactly_its_routes() {
    let mut c = config();
    c.auth.read_keys = vec!["r-key".into()];
    c.auth.write_keys = vec!["w-key".into()];
    c.auth.admin_keys = vec!["a-key".into()];
    let a = app_with(c, true).await;
    let event = json!({"user_id": "u1", "item_id": "i1", "type": "view"});
    let cases: [(Method, &str, Option<serde_json::Value>, [StatusCode; 4]); 7] = [
        // (no key, read, write, admin)
        (
            Method::GET,
            "/v1/users/u1/recommendations",
            None,
            [StatusCode::UNAUTHORIZED, StatusCode::OK, StatusCode::OK, StatusCode::OK],
        ),
        // Business figures and experiments (with their salts) are above a storefront's key.
        (
            Method::GET,
            "/v1/analytics/impact",
            None,
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::OK, StatusCode::OK],
        ),
        (
            Method::GET,
            "/v1/experiments",
            None,
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::OK, StatusCode::OK],
        ),
        (
            Method::PUT,
            "/v1/placements/home",
            Some(json!({"kind": "user"})),
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN, StatusCode::OK],
        ),
        (
            Method::POST,
            "/v1/events",
            Some(event),
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::OK, StatusCode::OK],
        ),
        (
            Method::PUT,
            "/v1/items/new",
            Some(json!({"title": "x"})),
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::OK, StatusCode::OK],
        ),
        (
            Method::POST,
            "/v1/admin/models/1/activate",
            Some(json!({})),
            [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN, StatusCode::FORBIDDEN, StatusCode::OK],
        ),
    ];
    for (method, uri, body, want) in cases {
        for (key, status) in [None, Some("r-key"), Some("w-key"), Some("a-key")].into_iter().zip(want) {
            let r = a.call(method.clone(), uri, body.clone(), key).await;
            assert_eq!(r.status, status, "{method} {uri} with {key:?}: {}", r.text);
            match status {
                StatusCode::UNAUTHORIZED => assert_error(&r, status, "unauthorized"),
                StatusCode::FORBIDDEN => assert_error(&r, status, "forbidden"),
                _ => {}
            }
        }
    }
    let r = a.call(Method::GET, "/v1/items/i1", None, Some("wrong")).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_api_key");
    let req = Request::builder()
        .uri("/v1/items/i1")
        .header("authorization", "Bearer r-key")
        .body(Body::empty())
        .unwrap();
    assert_eq!(a.send(req).await.status, StatusCode::OK, "Bearer works too");
    for open in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
        assert_eq!(a.get(open).await.status, StatusCode::OK, "{open} needs no key");
    }
}

#[test]
fn keys_never_appear_in_debug_output() {
    let mut c = config();
    c.auth.admin_keys = vec!["super-secret-key".into()];
    assert!(!format!("{c:?}").contains("super-secret-key"));
}
